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
#include <set>
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

  // Checks a complete set of form values for a new request: unknown service, then every
  // problem at once (error details(), one per field; message() joins them): unknown fields,
  // values against their types, missing required fields, and the form's rules between fields
  // (CheckFormRules) as of `as_of_ms` (the write's own time: every replica decides alike).
  Result<void> ValidateNew(std::string_view service_id, const FieldMap& fields,
                           int64_t as_of_ms = 0) const;
  // Checks a partial update (only the given fields; required fields may not be emptied), every
  // problem at once. The rules between fields need the request's other values: CheckFormRules.
  Result<void> ValidateUpdate(std::string_view service_id, const FieldMap& fields) const;
  // A form as stored before the rules between fields existed: types and required fields only
  // (a van re-sending its copy after a server restore).
  Result<void> ValidateStored(std::string_view service_id, const FieldMap& fields) const;
  // The rules between the fields of one person on a form, for the rules that involve a name in
  // `changed` (all of them when it is null): the NIK's date part agrees with the birth date (NIK
  // digits 7-8 the day, +40 for a woman, 9-10 the month, 11-12 the year's last two digits), and
  // with the sex where the form has one (jenis_kelamin); a birth date is not after the day of
  // `as_of_ms` (in WIB) nor more than kMaxAgeYears before it (unchecked when as_of_ms is before
  // 2024, a clock that was reset).
  // Pairs: nik with birth_date, nik_X with tanggal_lahir_X. Every problem is reported.
  Result<void> CheckFormRules(std::string_view service_id, const FieldMap& values,
                              const std::set<std::string>* changed, int64_t as_of_ms) const;

  // Puts what people type into the form's stored spelling, before validation and signing
  // (NormaliseFieldValue for each field the service has; others are left for validation).
  void NormaliseForm(std::string_view service_id, FieldMap& fields) const;

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

// A person's age a birth date may give, at most.
inline constexpr int kMaxAgeYears = 130;

// What people type, in the spelling the form stores: a date DD-MM-YYYY or DD/MM/YYYY becomes
// YYYY-MM-DD; a phone number "+62 812-3456-7890" becomes "081234567890" (spaces, dashes, dots
// and brackets dropped, +62 becomes 0); an enum value matched case-insensitively takes the
// catalog's spelling; every value becomes Unicode NFC (text.h). A value that fits no pattern is
// returned as it is, for validation to refuse with its reason.
std::string NormaliseFieldValue(const FieldSpec& spec, std::string value);

// Checks one value against a field spec; the message names the field and says what is wrong.
// Every value, whatever its type, must pass CheckText (text.h): well-formed UTF-8, no control
// characters (a text field other than a name may hold newlines), no bidi overrides, NFC; values
// of name fields ("name", "nama_*") and of the non-text types may hold no invisible formatting
// characters either. A NIK is 16 ASCII digits: Unicode digits of other scripts are refused.
Result<void> ValidateFieldValue(const FieldSpec& spec, std::string_view value);

}  // namespace mpp::sync
