// The nlohmann::json DOM parse that field::ParseImportLine replaced (issue 5), kept verbatim as
// the reference for what is accepted and why not: tests/field/import_line_test.cc and the
// import_line fuzz target check that both accept the same lines with the same values and refuse
// the others with the same reason.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "mpp/field/use_cases.h"

namespace mpp::fuzz {

inline Result<field::ImportLine> ReferenceImportLine(std::string_view line) {
  if (line.size() > field::kMaxImportLineBytes) {
    return Error::TooLarge("line is longer than " + std::to_string(field::kMaxImportLineBytes) +
                           " bytes");
  }
  auto doc = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Error::InvalidInput("not valid JSON");
  if (!doc.is_object()) return Error::InvalidInput("a line must be a JSON object");
  auto service = doc.find("service_id");
  if (service == doc.end() || !service->is_string()) {
    return Error::InvalidInput("\"service_id\" must be a string");
  }
  auto fields = doc.find("fields");
  if (fields == doc.end() || !fields->is_object()) {
    return Error::InvalidInput("\"fields\" must be an object");
  }
  field::ImportLine out;
  out.service_id = service->get<std::string>();
  for (const auto& [name, value] : fields->items()) {
    if (!value.is_string()) {
      return Error::InvalidInput("field \"" + name + "\" must be a string");
    }
    out.fields[name] = value.get<std::string>();
  }
  return out;
}

}  // namespace mpp::fuzz
