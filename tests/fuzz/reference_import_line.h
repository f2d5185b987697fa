// The nlohmann::json DOM parse that field::ParseImportLine replaced (issue 5), kept as the
// reference for what is accepted and why not: tests/field/import_line_test.cc and the
// import_line fuzz target check that both accept the same lines with the same values and refuse
// the others with the same reason. Since issue 9 it also refuses a key repeated in any object
// and nesting deeper than field::kMaxImportDepth, found with nlohmann's parser callback: the
// first of those in the text is the reason, unless the line is not JSON at all.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "mpp/field/use_cases.h"

namespace mpp::fuzz {

inline Result<field::ImportLine> ReferenceImportLine(std::string_view line) {
  if (line.size() > field::kMaxImportLineBytes) {
    return Error::TooLarge("line is longer than " + std::to_string(field::kMaxImportLineBytes) +
                           " bytes");
  }
  using Event = nlohmann::json::parse_event_t;
  std::optional<Error> problem;  // the first repeated key or too deep container
  // keys[d]: the names seen so far in the object open at depth d + 1. An object's end is not
  // reported for discarded objects, so each object clears its slot when it starts instead.
  std::vector<std::set<std::string>> keys;
  const nlohmann::json::parser_callback_t callback = [&](int depth, Event event,
                                                         nlohmann::json& parsed) {
    // `depth` counts the containers open before this event.
    const auto d = static_cast<size_t>(depth);
    if (event == Event::object_start || event == Event::array_start) {
      if (d + 1 > field::kMaxImportDepth) {
        if (!problem) {
          problem = Error::InvalidInput("nested deeper than " +
                                        std::to_string(field::kMaxImportDepth) + " levels");
        }
        return false;  // not built
      }
      if (event == Event::object_start) {
        keys.resize(d + 1);
        keys[d].clear();
      }
    } else if (event == Event::key && !problem) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!keys[d - 1].insert(key).second) {
        problem = Error::InvalidInput("duplicate key " +
                                      nlohmann::json(key).dump(-1, ' ', /*ensure_ascii=*/true));
      }
    }
    return true;
  };
  // The callback never discards the top level, so a discarded result means "not JSON".
  auto doc = nlohmann::json::parse(line, callback, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Error::InvalidInput("not valid JSON");
  if (problem) return *problem;
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
