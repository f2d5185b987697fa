// The C boundary's plumbing (LiteCore c4ExceptionUtils.hh in spirit): mpp_error, the mapping of
// mpp::ErrorCode to mpp_error_code, and Guard, which every entry point runs its body in, so that
// no exception crosses the C API and every failure becomes an out-error.
#pragma once

#include <cstdlib>
#include <cstring>
#include <new>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mpp/sync/result.h"
#include "mpp_field.h"

// Defined at global scope: the C header declares `struct mpp_error`.
struct mpp_error {
  mpp_error_code code = MPP_ERR_INTERNAL;
  std::string message;
  std::vector<std::string> details;
};

namespace mpp::capi {

mpp_error_code ToCode(ErrorCode code);
ErrorCode FromCode(mpp_error_code code);

// Sets *out (when out is not NULL) to a new mpp_error and returns its code. Never throws: when
// the error itself cannot be allocated, *out is a shared "out of memory" error that
// mpp_error_free knows not to free.
mpp_error_code SetError(mpp_error** out, mpp_error_code code, const std::string& message,
                        const std::vector<std::string>& details = {}) noexcept;
inline mpp_error_code SetError(mpp_error** out, const Error& error) noexcept {
  return SetError(out, ToCode(error.code()), error.message(), error.details());
}
bool IsOutOfMemoryError(const mpp_error* error);

// A copy the caller frees with mpp_string_free (free), or nullptr when out of memory.
char* CopyOut(const std::string& text) noexcept;

// JSON text out: never throws on invalid UTF-8 (replaced), which no input should carry anyway.
inline std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Runs body (returning Result<void>) and turns its failure, or any exception, into the return
// code and *error. *error is NULL on success.
template <typename Body>
mpp_error_code Guard(mpp_error** error, Body&& body) noexcept {
  if (error != nullptr) *error = nullptr;
  try {
    Result<void> done = body();
    if (done.ok()) return MPP_OK;
    return SetError(error, done.error());
  } catch (const std::bad_alloc&) {
    return SetError(error, MPP_ERR_INTERNAL, "out of memory");
  } catch (const std::exception& e) {
    return SetError(error, MPP_ERR_INTERNAL, std::string("unexpected failure: ") + e.what());
  } catch (...) {
    return SetError(error, MPP_ERR_INTERNAL, "unexpected failure");
  }
}

// Guard for a call whose result is a string: *out is set only on success (NULL otherwise).
template <typename Body>
mpp_error_code GuardString(char** out, mpp_error** error, Body&& body) noexcept {
  if (out != nullptr) *out = nullptr;
  return Guard(error, [&]() -> Result<void> {
    if (out == nullptr) return Error::InvalidInput("no place for the result (a NULL pointer)");
    Result<std::string> text = body();
    if (!text.ok()) return text.error();
    char* copy = CopyOut(*text);
    if (copy == nullptr) return Error::Internal("out of memory");
    *out = copy;
    return Ok();
  });
}

}  // namespace mpp::capi
