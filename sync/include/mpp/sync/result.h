// Error and Result: the one error type every fallible call in the project returns.
//
// An Error is a code the caller can branch on plus a message a person can act on
// ("NIK digit 7-12: day 45 is not a valid date", not "bad NIK"). Exceptions never cross a
// public header: third-party errors are converted where the third-party call is made.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace mpp {

enum class ErrorCode {
  kInvalidInput,      // the caller's input is wrong; retrying the same input cannot help
  kNotFound,          // the thing asked for does not exist
  kConflict,          // the state changed under the caller (seq gap, already used, ...)
  kCorrupt,           // stored or received bytes do not decode
  kUnauthenticated,   // bad signature, unknown device, wrong passphrase
  kPermissionDenied,  // authenticated but not allowed: revoked device, another van's request
  kTooLarge,          // input over a size bound
  kUnavailable,       // network or peer down; may succeed later
  kTimeout,           // an operation ran out of time; may succeed later
  kStorageFull,       // disk full
  kAborted,           // the database aborted a transaction (serialization failure, deadlock)
                      // to keep concurrent ones consistent: run the whole transaction again
  kInternal,          // a bug or an unexpected failure of a dependency
};

const char* ErrorCodeName(ErrorCode code);

class [[nodiscard]] Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Error InvalidInput(std::string m) { return {ErrorCode::kInvalidInput, std::move(m)}; }
  static Error NotFound(std::string m) { return {ErrorCode::kNotFound, std::move(m)}; }
  static Error Conflict(std::string m) { return {ErrorCode::kConflict, std::move(m)}; }
  static Error Corrupt(std::string m) { return {ErrorCode::kCorrupt, std::move(m)}; }
  static Error Unauthenticated(std::string m) {
    return {ErrorCode::kUnauthenticated, std::move(m)};
  }
  static Error PermissionDenied(std::string m) {
    return {ErrorCode::kPermissionDenied, std::move(m)};
  }
  static Error TooLarge(std::string m) { return {ErrorCode::kTooLarge, std::move(m)}; }
  static Error Unavailable(std::string m) { return {ErrorCode::kUnavailable, std::move(m)}; }
  static Error Timeout(std::string m) { return {ErrorCode::kTimeout, std::move(m)}; }
  static Error StorageFull(std::string m) { return {ErrorCode::kStorageFull, std::move(m)}; }
  static Error Aborted(std::string m) { return {ErrorCode::kAborted, std::move(m)}; }
  static Error Internal(std::string m) { return {ErrorCode::kInternal, std::move(m)}; }

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // True when the same operation may succeed if tried again later (drives retry loops).
  bool transient() const {
    return code_ == ErrorCode::kUnavailable || code_ == ErrorCode::kTimeout ||
           code_ == ErrorCode::kAborted;
  }
  // Returns a copy whose message is prefixed with where the error happened (details kept).
  Error WithContext(const std::string& context) const {
    Error e{code_, context + ": " + message_};
    e.details_ = details_;
    return e;
  }

  // The separate problems an error is made of, when there are several (every invalid field of
  // a form): one line each for a person, a list in JSON. message() still reads as one line.
  const std::vector<std::string>& details() const { return details_; }
  Error WithDetails(std::vector<std::string> details) && {
    details_ = std::move(details);
    return std::move(*this);
  }

 private:
  ErrorCode code_;
  std::string message_;
  std::vector<std::string> details_;
};

// A value or an Error. Accessing the value of a failed Result is a bug (asserted).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : state_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }

  const Error& error() const {
    assert(!ok());
    return std::get<Error>(state_);
  }
  T& value() & {
    assert(ok());
    return std::get<T>(state_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<T>(state_);
  }
  T&& value() && {
    assert(ok());
    return std::get<T>(std::move(state_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    assert(!ok_);
    return error_;
  }

 private:
  Error error_{ErrorCode::kInternal, ""};
  bool ok_ = true;
};

inline Result<void> Ok() { return {}; }

}  // namespace mpp

// Propagates a failed Result<...> to the caller, which must itself return a Result or Error.
#define MPP_RETURN_IF_ERROR(expr)                      \
  do {                                                 \
    auto mpp_result_ = (expr);                         \
    if (!mpp_result_.ok()) return mpp_result_.error(); \
  } while (0)

#define MPP_CONCAT_INNER_(a, b) a##b
#define MPP_CONCAT_(a, b) MPP_CONCAT_INNER_(a, b)
// `MPP_ASSIGN_OR_RETURN(auto x, Fallible())` binds x to the value or returns the error.
#define MPP_ASSIGN_OR_RETURN(lhs, expr) \
  MPP_ASSIGN_OR_RETURN_IMPL_(MPP_CONCAT_(mpp_r_, __LINE__), lhs, expr)
#define MPP_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.error();               \
  lhs = std::move(tmp).value()
