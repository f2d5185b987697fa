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

Result<void> CheckTransition(RequestStatus from, RequestStatus to, Role role) {
  if (Allowed(from, to, role)) return Ok();
  const std::string what =
      std::string("status ") + StatusName(from) + " -> " + StatusName(to) + " is not allowed";
  if (IsFinal(from)) {
    return Error::Conflict(what + ": " + StatusName(from) + " is final");
  }
  if (to == RequestStatus::kCancelled) {
    return Error::Conflict(what + ": only an open request can be cancelled, and this one is " +
                           "already " + StatusName(from));
  }
  if (role == Role::kVan && to != RequestStatus::kDelivered && to != RequestStatus::kInReview) {
    return Error::InvalidInput(what + " for a van (a van may cancel an open request, deliver a " +
                               "completed one, or answer needs_info)");
  }
  if (role == Role::kStaff &&
      (to == RequestStatus::kDelivered || to == RequestStatus::kSubmitted)) {
    return Error::InvalidInput(what + " for staff (delivery and submission are done by the van)");
  }
  if (to == RequestStatus::kDelivered) {
    return Error::Conflict(what + ": only a completed request can be delivered");
  }
  if (from == RequestStatus::kCompleted) {
    return Error::Conflict(what + ": the request is already completed");
  }
  return Error::Conflict(what);
}

}  // namespace mpp::sync
