// The service catalog: agencies (instansi) and their services (jenis layanan), each service with
// its form. Server-authoritative and versioned; a van holds a read-only copy.
//
// File format (JSON, see data/catalog.json):
//   {"version": 1, "name": "...",
//    "agencies": [{"id": "dukcapil", "name": "Dinas ...", "name_en": "..."}],
//    "services": [{"id": "dukcapil.ktp-el", "agency": "dukcapil", "name": "...", "name_en": "...",
//                  "fields": [{"name": "nik", "type": "nik", "required": true,
//                              "label": "NIK", "personal": true,
//                              "options": [...], "max_length": 200}]}]}
// Field types: text, nik, date (YYYY-MM-DD), phone (08..., 10-15 digits), number (digits),
// enum (value must be one of "options"), email, village_code (PP.KK.CC.DDDD).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mpp/sync/result.h"

namespace mpp::sync {

enum class FieldType { kText, kNik, kDate, kPhone, kNumber, kEnum, kEmail, kVillageCode };

std::optional<FieldType> ParseFieldType(std::string_view name);
const char* FieldTypeName(FieldType type);

struct FieldSpec {
  std::string name;
  FieldType type = FieldType::kText;
  bool required = false;
  bool personal = false;  // personal data under UU PDP: encrypted at rest, never logged
  std::string label;
  std::vector<std::string> options;  // enum only
  uint32_t max_length = 200;
};

struct Agency {
  std::string id;
  std::string name;
  std::string name_en;
};

struct Service {
  std::string id;
  std::string agency;
  std::string name;
  std::string name_en;
  std::vector<FieldSpec> fields;

  const FieldSpec* FindField(std::string_view field_name) const;
};

using FieldMap = std::map<std::string, std::string>;

// A catalog document nests 6 levels (catalog, services, service, fields, field, options).
inline constexpr size_t kMaxCatalogDepth = 32;

class Catalog {
 public:
  // Parses and checks a catalog document: strict JSON (ParseJsonObjectStrict: no repeated key,
  // at most kMaxCatalogDepth levels), unique ids, every service's agency exists, field specs
  // well formed (known type, enum has options, names are [a-z0-9_]+), and names, labels and
  // options that pass CheckText (TextRules::Line). The error names the entry.
  static Result<Catalog> FromJson(std::string_view json_text);
  std::string ToJson() const;

  int64_t version() const { return version_; }
  const std::string& name() const { return name_; }
  const std::vector<Agency>& agencies() const { return agencies_; }
  const std::vector<Service>& services() const { return services_; }
  const Agency* FindAgency(std::string_view id) const;
  const Service* FindService(std::string_view id) const;

  // Checks a complete set of form values for a new request: unknown service, missing required
  // field, unknown field, and each value against its type. The message names the field.
  Result<void> ValidateNew(std::string_view service_id, const FieldMap& fields) const;
  // Checks a partial update (only the given fields; required fields may not be emptied).
  Result<void> ValidateUpdate(std::string_view service_id, const FieldMap& fields) const;

 private:
  int64_t version_ = 0;
  std::string name_;
  std::vector<Agency> agencies_;
  std::vector<Service> services_;
  std::map<std::string, size_t, std::less<>> agency_index_;
  std::map<std::string, size_t, std::less<>> service_index_;
};

// Parses "key=value" arguments (the --set of both command-line programs); the message names
// the bad argument.
Result<FieldMap> ParseAssignments(const std::vector<std::string>& assignments);

// Checks one value against a field spec; the message names the field and says what is wrong.
// Every value, whatever its type, must pass CheckText (text.h): well-formed UTF-8, no control
// characters (a text field other than a name may hold newlines), no bidi overrides, NFC; values
// of name fields ("name", "nama_*") and of the non-text types may hold no invisible formatting
// characters either. A NIK is 16 ASCII digits: Unicode digits of other scripts are refused.
Result<void> ValidateFieldValue(const FieldSpec& spec, std::string_view value);

}  // namespace mpp::sync
