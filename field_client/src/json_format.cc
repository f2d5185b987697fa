#include "mpp/field/json_format.h"

namespace mpp::field {

nlohmann::json RequestChangeToJson(const RequestChange& change) {
  using Kind = RequestChange::Kind;
  const char* kind = change.kind == Kind::kStatus  ? "status"
                     : change.kind == Kind::kField ? "field"
                                                   : "conflict";
  return {{"kind", kind},
          {"request_id", change.request_id},
          {"receipt", change.receipt},
          {"field", change.field},
          {"old_value", change.old_value},
          {"new_value", change.new_value},
          {"note", change.note},
          {"by", change.by},
          {"text", DescribeChange(change)}};
}

}  // namespace mpp::field
