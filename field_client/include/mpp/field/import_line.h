// The reader of one line of an import file (ImportFile in use_cases.h reads a file of them).
// The lines come from outside the van (a spreadsheet export, another office), so the reader is
// bounded: line length, nesting depth and repeated keys (THREATS.md row 38).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "mpp/sync/catalog.h"  // sync::FieldMap
#include "mpp/sync/result.h"

namespace mpp::field {

// One line of an import file: {"service_id": "...", "fields": {"name": "value", ...}}, every
// value a string. Bounded: lines over kMaxImportLineBytes are refused before parsing, and so
// are lines with a key repeated in any object or nested deeper than kMaxImportDepth (the line
// itself is depth 1; THREATS.md row 38).
struct ImportLine {
  std::string service_id;
  sync::FieldMap fields;
};
inline constexpr size_t kMaxImportLineBytes = 64 * 1024;
inline constexpr size_t kMaxImportDepth = 32;
Result<ImportLine> ParseImportLine(std::string_view line);

}  // namespace mpp::field
