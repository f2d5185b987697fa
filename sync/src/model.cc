#include "mpp/sync/model.h"

#include <array>

namespace mpp::sync {
namespace {

constexpr std::array<std::pair<RequestStatus, const char*>, 8> kStatusNames = {{
    {RequestStatus::kSubmitted, "submitted"},
    {RequestStatus::kReceived, "received"},
    {RequestStatus::kInReview, "in_review"},
    {RequestStatus::kNeedsInfo, "needs_info"},
    {RequestStatus::kCompleted, "completed"},
    {RequestStatus::kDelivered, "delivered"},
    {RequestStatus::kRejected, "rejected"},
    {RequestStatus::kCancelled, "cancelled"},
}};

bool IsOpen(RequestStatus s) {
  return s == RequestStatus::kSubmitted || s == RequestStatus::kReceived ||
         s == RequestStatus::kInReview || s == RequestStatus::kNeedsInfo;
}

// The edges of the state machine, by role. Cancellation is allowed to both sides while the
// request is open (before completion).
bool Allowed(RequestStatus from, RequestStatus to, Role role) {
  using S = RequestStatus;
  if (to == S::kCancelled) return IsOpen(from);
  if (role == Role::kVan) {
    return (from == S::kCompleted && to == S::kDelivered) ||
           (from == S::kNeedsInfo && to == S::kInReview);  // the van answers with missing data
  }
  switch (to) {
    case S::kReceived:
      return from == S::kSubmitted;
    case S::kInReview:
      return from == S::kSubmitted || from == S::kReceived || from == S::kNeedsInfo;
    case S::kNeedsInfo:
      return from == S::kInReview;
    case S::kCompleted:
      return from == S::kInReview;
    case S::kRejected:
      return IsOpen(from);
    default:
      return false;
  }
}

}  // namespace

const char* StatusName(RequestStatus status) {
  for (const auto& [value, name] : kStatusNames) {
    if (value == status) return name;
  }
  return "unknown";
}

std::optional<RequestStatus> ParseStatus(std::string_view name) {
  for (const auto& [value, text] : kStatusNames) {
    if (name == text) return value;
  }
  return std::nullopt;
}

bool IsFinal(RequestStatus status) {
  return status == RequestStatus::kRejected || status == RequestStatus::kCancelled ||
         status == RequestStatus::kDelivered;
}

std::vector<RequestStatus> AllowedTransitions(RequestStatus from, Role role) {
  std::vector<RequestStatus> allowed;
  for (const auto& [to, name] : kStatusNames) {
    if (Allowed(from, to, role)) allowed.push_back(to);
  }
  return allowed;
}

const char* StatusWords(RequestStatus status) {
  switch (status) {
    case RequestStatus::kSubmitted:
      return "submitted";
    case RequestStatus::kReceived:
      return "received";
    case RequestStatus::kInReview:
      return "in review";
    case RequestStatus::kNeedsInfo:
      return "waiting for information";
    case RequestStatus::kCompleted:
      return "completed";
    case RequestStatus::kDelivered:
      return "delivered";
    case RequestStatus::kRejected:
      return "rejected";
    case RequestStatus::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

Result<void> CheckTransition(RequestStatus from, RequestStatus to, Role role) {
  if (Allowed(from, to, role)) return Ok();
  const std::string now_is = std::string("this one is ") + StatusWords(from);
  if (IsFinal(from)) {
    return Error::Conflict(std::string("the request is ") + StatusWords(from) +
                           ", which is final: its status cannot change any more");
  }
  if (role == Role::kVan) {
    // The officer's words: what they tried, and what the request is now.
    switch (to) {
      case RequestStatus::kInReview:
        return Error::Conflict("only a request that needs information can be answered; " + now_is);
      case RequestStatus::kDelivered:
        return Error::Conflict("only a completed request can be delivered; " + now_is);
      case RequestStatus::kCancelled:
        return Error::Conflict("only an open request can be cancelled; this one is already " +
                               std::string(StatusWords(from)));
      default:
        return Error::InvalidInput(std::string("a van cannot set a request ") + StatusWords(to) +
                                   ": the agency's staff do; a van may cancel an open request, " +
                                   "deliver a completed one, or answer one that needs " +
                                   "information");
    }
  }
  // Staff type status names: list those allowed from here.
  std::string allowed;
  for (const RequestStatus next : AllowedTransitions(from, role)) {
    allowed += (allowed.empty() ? "" : ", ") + std::string(StatusName(next));
  }
  std::string what =
      std::string("status ") + StatusName(from) + " -> " + StatusName(to) +
      " is not allowed; from " + StatusName(from) + " staff may set: " +
      (allowed.empty() ? "nothing (the request is already " + std::string(StatusWords(from)) + ")"
                       : allowed);
  if (to == RequestStatus::kDelivered || to == RequestStatus::kSubmitted) {
    return Error::InvalidInput(what + " (submission and delivery are done by the van)");
  }
  return Error::Conflict(what);
}

}  // namespace mpp::sync
