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
//    "places": {"regency": {"code": "61.12", "name": "Kubu Raya"},
//               "districts": [{"code": "61.12.01", "name": "Sungai Raya"}],
//               "villages": [{"code": "61.12.01.2001", "name": "Sungai Raya",
//                             "district": "61.12.01"}]}}
// Field types: text, nik, date (YYYY-MM-DD), phone (08..., 10-15 digits), number (digits),
// enum (value must be one of "options"), email, village_code (PP.KK.CC.DDDD).
//
// "places" is optional: the regency's districts (kecamatan, PP.KK.DD) and villages (desa or
// kelurahan, PP.KK.DD.VVVV), by their Kemendagri codes (the ones a NIK's first six digits carry,
// not BPS's; data/README.md). Every district lies in one regency (PP.KK, "regency"'s code when it
// is given; its name then words the messages); every village's district is listed and is its
// code's prefix. With places, the values are checked against them (Catalog::ValidateValue); a
// catalog without places checks the formats only. As elsewhere in the format, keys a reader does
// not know are ignored, so an older van still reads a newer server's catalog.
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

// A district (kecamatan) of the regency: code PP.KK.DD (Kemendagri), e.g. 61.12.01 Sungai Raya.
struct District {
  std::string code, name;
};

// A village (desa, or kelurahan in a city) of the regency: code PP.KK.DD.VVVV (Kemendagri),
// e.g. 61.12.05.2001 Tanjung Beringin, whose district_code 61.12.05 (Batu Ampar) is listed.
struct Village {
  std::string code, name, district_code;
};

using FieldMap = std::map<std::string, std::string>;

// A catalog document nests 6 levels (catalog, services, service, fields, field, options).
inline constexpr size_t kMaxCatalogDepth = 32;

class Catalog {
 public:
  // Parses and checks a catalog document: strict JSON (ParseJsonObjectStrict: no repeated key,
  // at most kMaxCatalogDepth levels), unique ids, every service's agency exists, field specs
  // well formed (known type, enum has options, names are [a-z0-9_]+), and names, labels and
  // options that pass CheckText (TextRules::Line). Places, when present: codes well formed and
  // unique, all districts in one regency, each village's district listed and its code's prefix,
  // names not empty. The error names the entry.
  static Result<Catalog> FromJson(std::string_view json_text);
  std::string ToJson() const;

  int64_t version() const { return version_; }
  const std::string& name() const { return name_; }
  const std::vector<Agency>& agencies() const { return agencies_; }
  const std::vector<Service>& services() const { return services_; }
  const Agency* FindAgency(std::string_view id) const;
  const Service* FindService(std::string_view id) const;

  // The regency's places, in the document's order; both empty when the catalog has none.
  // Constant after FromJson; the pointers Find* return live as long as the catalog.
  const std::vector<District>& districts() const { return districts_; }
  const std::vector<Village>& villages() const { return villages_; }
  // The regency they lie in: its code PP.KK ("61.12") and name ("Kubu Raya"; empty when the
  // document does not name it). Both empty without places.
  const std::string& regency_code() const { return regency_code_; }
  const std::string& regency_name() const { return regency_name_; }
  // nullptr when the code is not one of the catalog's (or the catalog has no places).
  const District* FindDistrict(std::string_view code) const;
  const Village* FindVillage(std::string_view code) const;

  // Checks one value against a field spec (ValidateFieldValue) and, when the catalog has
  // places, against them:
  //   - the field named "village_code" (the village the citizen lives in, which the van serves)
  //     holds one of the villages; any other village_code field (a destination, which may lie
  //     in another regency) does whenever its code is in the regency;
  //   - a NIK issued in the regency (digits 1-4 are its code, 6112 for Kubu Raya) has one of its
  //     districts in digits 5-6.
  // The message names the field and says what would be right ("61.12.05.2001 is Tanjung
  // Beringin, Batu Ampar"). ValidateNew and ValidateUpdate check every value with it;
  // ValidateStored does not (a request accepted once stays accepted).
  Result<void> ValidateValue(const FieldSpec& spec, std::string_view value) const;

  // Checks a complete set of form values for a new request: unknown service, then every
  // problem at once (error details(), one per field; message() joins them): unknown fields,
  // values against their types and the places (ValidateValue), missing required fields, and
  // the form's rules between fields
  // (CheckFormRules) as of `as_of_ms` (the write's own time: every replica decides alike).
  Result<void> ValidateNew(std::string_view service_id, const FieldMap& fields,
                           int64_t as_of_ms = 0) const;
  // Checks a partial update (only the given fields, by ValidateValue; required fields may not
  // be emptied), every problem at once. The rules between fields need the request's other
  // values: CheckFormRules.
  Result<void> ValidateUpdate(std::string_view service_id, const FieldMap& fields) const;
  // A form as stored before the rules between fields and the places existed: types and required
  // fields only (a van re-sending its copy after a server restore).
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
  // The places (all empty without them). regency_code_ is PP.KK, every district's prefix;
  // regency_name_ is empty when the document does not name the regency.
  std::string regency_code_;
  std::string regency_name_;
  std::vector<District> districts_;
  std::vector<Village> villages_;
  std::map<std::string, size_t, std::less<>> district_index_;
  std::map<std::string, size_t, std::less<>> village_index_;
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
