#include "capi_error.h"

namespace mpp::capi {
namespace {

// Handed out when even an error cannot be allocated; never freed (mpp_error_free skips it).
// Built when the library loads, so that reporting an out-of-memory needs no memory.
mpp_error out_of_memory{MPP_ERR_INTERNAL, "out of memory", {}};
mpp_error& OutOfMemoryError() { return out_of_memory; }

}  // namespace

mpp_error_code ToCode(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidInput:
      return MPP_ERR_INVALID_INPUT;
    case ErrorCode::kNotFound:
      return MPP_ERR_NOT_FOUND;
    case ErrorCode::kConflict:
      return MPP_ERR_CONFLICT;
    case ErrorCode::kCorrupt:
      return MPP_ERR_CORRUPT;
    case ErrorCode::kUnauthenticated:
      return MPP_ERR_UNAUTHENTICATED;
    case ErrorCode::kPermissionDenied:
      return MPP_ERR_PERMISSION_DENIED;
    case ErrorCode::kTooLarge:
      return MPP_ERR_TOO_LARGE;
    case ErrorCode::kUnavailable:
      return MPP_ERR_UNAVAILABLE;
    case ErrorCode::kTimeout:
      return MPP_ERR_TIMEOUT;
    case ErrorCode::kStorageFull:
      return MPP_ERR_STORAGE_FULL;
    case ErrorCode::kAborted:
      return MPP_ERR_ABORTED;
    case ErrorCode::kInternal:
      return MPP_ERR_INTERNAL;
  }
  return MPP_ERR_INTERNAL;
}

ErrorCode FromCode(mpp_error_code code) {
  switch (code) {
    case MPP_ERR_INVALID_INPUT:
      return ErrorCode::kInvalidInput;
    case MPP_ERR_NOT_FOUND:
      return ErrorCode::kNotFound;
    case MPP_ERR_CONFLICT:
      return ErrorCode::kConflict;
    case MPP_ERR_CORRUPT:
      return ErrorCode::kCorrupt;
    case MPP_ERR_UNAUTHENTICATED:
      return ErrorCode::kUnauthenticated;
    case MPP_ERR_PERMISSION_DENIED:
      return ErrorCode::kPermissionDenied;
    case MPP_ERR_TOO_LARGE:
      return ErrorCode::kTooLarge;
    case MPP_ERR_UNAVAILABLE:
    case MPP_ERR_CANCELLED:  // a host transport that stopped for a cancel: the sync ends anyway
      return ErrorCode::kUnavailable;
    case MPP_ERR_TIMEOUT:
      return ErrorCode::kTimeout;
    case MPP_ERR_STORAGE_FULL:
      return ErrorCode::kStorageFull;
    case MPP_ERR_ABORTED:
      return ErrorCode::kAborted;
    case MPP_OK:
    case MPP_ERR_INTERNAL:
      break;
  }
  return ErrorCode::kInternal;
}

mpp_error_code SetError(mpp_error** out, mpp_error_code code, const std::string& message,
                        const std::vector<std::string>& details) noexcept {
  if (out == nullptr) return code;
  try {
    *out = new mpp_error{code, message, details};
  } catch (...) {  // std::bad_alloc: the shared error still says what happened
    *out = &OutOfMemoryError();
    return MPP_ERR_INTERNAL;
  }
  return code;
}

bool IsOutOfMemoryError(const mpp_error* error) { return error == &OutOfMemoryError(); }

char* CopyOut(const std::string& text) noexcept {
  auto* copy = static_cast<char*>(std::malloc(text.size() + 1));
  if (copy == nullptr) return nullptr;
  std::memcpy(copy, text.data(), text.size());
  copy[text.size()] = '\0';
  return copy;
}

}  // namespace mpp::capi
