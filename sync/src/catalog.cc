#include "mpp/sync/catalog.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "mpp/sync/json_format.h"
#include "mpp/sync/local_time.h"
#include "mpp/sync/nik.h"
#include "mpp/sync/text.h"

namespace mpp::sync {
namespace {

using nlohmann::json;

constexpr std::array<std::pair<FieldType, const char*>, 8> kFieldTypeNames = {{
    {FieldType::kText, "text"},
    {FieldType::kNik, "nik"},
    {FieldType::kDate, "date"},
    {FieldType::kPhone, "phone"},
    {FieldType::kNumber, "number"},
    {FieldType::kEnum, "enum"},
    {FieldType::kEmail, "email"},
    {FieldType::kVillageCode, "village_code"},
}};

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool IsFieldName(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool IsId(std::string_view s) {
  return !s.empty() && s.size() <= 80 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
  });
}

// Counts code points; the caller has already checked the bytes are UTF-8.
size_t Utf8Length(std::string_view s) {
  return static_cast<size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

// The code point of the UTF-8 sequence at s[i]; the caller has already checked the bytes.
uint32_t CodePointAt(std::string_view s, size_t i) {
  const auto lead = static_cast<unsigned char>(s[i]);
  if (lead < 0x80) return lead;
  const size_t length = lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
  uint32_t cp = lead & (length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07);
  for (size_t k = 1; k < length && i + k < s.size(); ++k) {
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  }
  return cp;
}

// A NIK is 16 ASCII digits: Arabic-Indic, fullwidth and other Unicode digits are refused here,
// with the character's position, before ValidateNik (which reads bytes) looks at the parts.
Result<void> CheckNikIsAscii(std::string_view value) {
  size_t position = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    const auto b = static_cast<unsigned char>(value[i]);
    if ((b & 0xC0) == 0x80) continue;
    ++position;
    if (b >= 0x80) {
      char hex[16];
      std::snprintf(hex, sizeof hex, "U+%04X", static_cast<unsigned>(CodePointAt(value, i)));
      return Error::InvalidInput("NIK must be 16 ASCII digits 0-9: character " +
                                 std::to_string(position) + " is " + hex);
    }
  }
  return Ok();
}

// Text-typed fields holding a person's or a body's name ("name", "nama_ibu", ...) get the
// rules of a name: one line, nothing invisible. Other text fields (addresses, "catatan") may
// span lines, as they always could.
TextRules RulesFor(const FieldSpec& spec) {
  if (spec.type != FieldType::kText) return TextRules::Name();
  if (spec.name == "name" || spec.name.rfind("nama_", 0) == 0) return TextRules::Name();
  return TextRules::Note();
}

bool IsValidDate(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  if (!IsDigits(s.substr(0, 4)) || !IsDigits(s.substr(5, 2)) || !IsDigits(s.substr(8, 2))) {
    return false;
  }
  const auto number = [](std::string_view digits) {
    int n = 0;
    for (const char c : digits) n = n * 10 + (c - '0');
    return n;
  };
  const int year = number(s.substr(0, 4));
  const int month = number(s.substr(5, 2));
  const int day = number(s.substr(8, 2));
  if (year < 1800 || year > 2200 || month < 1 || month > 12 || day < 1) return false;
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return day <= (month == 2 && leap ? 29 : kDays[month - 1]);
}

bool IsValidVillageCode(std::string_view s) {
  // PP.KK.CC.DDDD, e.g. 61.12.05.2003
  return s.size() == 13 && s[2] == '.' && s[5] == '.' && s[8] == '.' && IsDigits(s.substr(0, 2)) &&
         IsDigits(s.substr(3, 2)) && IsDigits(s.substr(6, 2)) && IsDigits(s.substr(9, 4));
}

// A part of a place code that is all zeros names no place (NIK digits 5-6 "00" neither).
bool IsZeros(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '0'; });
}

// PP.KK, e.g. 61.12 (Kubu Raya).
bool IsRegencyCode(std::string_view s) {
  return s.size() == 5 && s[2] == '.' && IsDigits(s.substr(0, 2)) && IsDigits(s.substr(3, 2)) &&
         !IsZeros(s.substr(0, 2)) && !IsZeros(s.substr(3, 2));
}

// PP.KK.DD, e.g. 61.12.01 (Sungai Raya).
bool IsDistrictCode(std::string_view s) {
  return s.size() == 8 && s[5] == '.' && IsRegencyCode(s.substr(0, 5)) &&
         IsDigits(s.substr(6, 2)) && !IsZeros(s.substr(6, 2));
}

bool IsValidEmail(std::string_view s) {
  const size_t at = s.find('@');
  if (at == std::string_view::npos || at == 0 || s.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  const std::string_view domain = s.substr(at + 1);
  const size_t dot = domain.find('.');
  return dot != std::string_view::npos && dot > 0 && dot + 1 < domain.size() &&
         s.find(' ') == std::string_view::npos;
}

// An integer member within [min, max], or `fallback` when absent. Floats, booleans and values
// out of range are refused before any narrowing conversion.
Result<int64_t> IntegerMember(const json& j, const char* name, int64_t min, int64_t max,
                              int64_t fallback, const std::string& where) {
  auto it = j.find(name);
  if (it == j.end()) return fallback;
  if (!it->is_number_integer()) {
    return Error::InvalidInput(where + ": \"" + name + "\" must be an integer");
  }
  // nlohmann keeps non-negative integers as unsigned: compare those as unsigned, so a value past
  // INT64_MAX is refused instead of wrapping.
  const bool in_range = it->is_number_unsigned()
                            ? it->get<uint64_t>() <= static_cast<uint64_t>(max) &&
                                  static_cast<int64_t>(it->get<uint64_t>()) >= min
                            : it->get<int64_t>() >= min && it->get<int64_t>() <= max;
  if (!in_range) {
    return Error::InvalidInput(where + ": \"" + name + "\" must be " + std::to_string(min) + "-" +
                               std::to_string(max));
  }
  return it->get<int64_t>();
}

Result<FieldSpec> ParseField(const json& j, const std::string& where) {
  FieldSpec spec;
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string()) {
    return Error::InvalidInput(where + ": field needs a string \"name\"");
  }
  spec.name = j["name"].get<std::string>();
  const std::string at = where + " field " + spec.name;
  if (!IsFieldName(spec.name)) {
    return Error::InvalidInput(at + ": name must match [a-z0-9_]+");
  }
  const std::string type_name = j.value("type", std::string("text"));
  auto type = ParseFieldType(type_name);
  if (!type) return Error::InvalidInput(at + ": unknown type \"" + type_name + "\"");
  spec.type = *type;
  spec.required = j.value("required", false);
  spec.personal = j.value("personal", false);
  spec.label = j.value("label", spec.name);
  MPP_RETURN_IF_ERROR(CheckText(spec.label, at + " label", TextRules::Line()));
  MPP_ASSIGN_OR_RETURN(const int64_t max_length, IntegerMember(j, "max_length", 1, 4000, 200, at));
  spec.max_length = static_cast<uint32_t>(max_length);
  if (j.contains("options")) {
    for (const auto& o : j["options"]) {
      spec.options.push_back(o.get<std::string>());
      MPP_RETURN_IF_ERROR(CheckText(spec.options.back(), at + " option", TextRules::Line()));
    }
  }
  if (spec.type == FieldType::kEnum && spec.options.empty()) {
    return Error::InvalidInput(at + ": an enum field needs \"options\"");
  }
  return spec;
}

// A string member that must be there, or an error naming the entry.
Result<std::string> StringMember(const json& j, const char* name, const std::string& where) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) {
    return Error::InvalidInput(where + ": needs a string \"" + name + "\"");
  }
  return it->get<std::string>();
}

// A place's name: one line of text, not empty.
Result<void> CheckPlaceName(const std::string& name, const std::string& where) {
  if (name.empty()) return Error::InvalidInput(where + ": \"name\" is empty");
  return CheckText(name, where + " name", TextRules::Line());
}

// What the "places" section of a catalog document holds, checked (catalog.h).
struct Places {
  std::string regency_code;
  std::string regency_name;
  std::vector<District> districts;
  std::vector<Village> villages;
  std::map<std::string, size_t, std::less<>> district_index;
  std::map<std::string, size_t, std::less<>> village_index;
};

Result<Places> ParsePlaces(const json& j) {
  if (!j.is_object() || !j.contains("districts") || !j["districts"].is_array() ||
      !j.contains("villages") || !j["villages"].is_array()) {
    return Error::InvalidInput("catalog places: need \"districts\" and \"villages\" arrays");
  }
  if (j["districts"].empty() || j["villages"].empty()) {
    return Error::InvalidInput("catalog places: need at least one district and one village");
  }
  Places places;
  if (auto regency = j.find("regency"); regency != j.end()) {
    if (!regency->is_object()) {
      return Error::InvalidInput("catalog places: \"regency\" must be an object");
    }
    MPP_ASSIGN_OR_RETURN(places.regency_code, StringMember(*regency, "code", "places regency"));
    MPP_ASSIGN_OR_RETURN(places.regency_name, StringMember(*regency, "name", "places regency"));
    if (!IsRegencyCode(places.regency_code)) {
      return Error::InvalidInput("places regency \"" + places.regency_code +
                                 "\": code must look like 61.12 (PP.KK, Kemendagri)");
    }
    MPP_RETURN_IF_ERROR(CheckPlaceName(places.regency_name, "places regency"));
  }
  for (const auto& d : j["districts"]) {
    if (!d.is_object()) return Error::InvalidInput("places: a district must be an object");
    MPP_ASSIGN_OR_RETURN(std::string code, StringMember(d, "code", "places district"));
    const std::string where = "district " + code;
    if (!IsDistrictCode(code)) {
      return Error::InvalidInput("district \"" + code +
                                 "\": code must look like 61.12.01 (PP.KK.DD, Kemendagri)");
    }
    MPP_ASSIGN_OR_RETURN(std::string name, StringMember(d, "name", where));
    MPP_RETURN_IF_ERROR(CheckPlaceName(name, where));
    // The regency is what decides which NIKs and village codes the places speak for: one.
    if (places.regency_code.empty()) places.regency_code = code.substr(0, 5);
    if (code.compare(0, 5, places.regency_code) != 0) {
      return Error::InvalidInput(where + ": not in regency " + places.regency_code +
                                 " (the places are those of one regency)");
    }
    if (!places.district_index.emplace(code, places.districts.size()).second) {
      return Error::InvalidInput(where + " appears twice");
    }
    places.districts.push_back({std::move(code), std::move(name)});
  }
  for (const auto& v : j["villages"]) {
    if (!v.is_object()) return Error::InvalidInput("places: a village must be an object");
    MPP_ASSIGN_OR_RETURN(std::string code, StringMember(v, "code", "places village"));
    const std::string where = "village " + code;
    if (!IsValidVillageCode(code) || !IsDistrictCode(std::string_view(code).substr(0, 8)) ||
        IsZeros(std::string_view(code).substr(9, 4))) {
      return Error::InvalidInput("village \"" + code +
                                 "\": code must look like 61.12.05.2001 (PP.KK.DD.VVVV, "
                                 "Kemendagri)");
    }
    MPP_ASSIGN_OR_RETURN(std::string name, StringMember(v, "name", where));
    MPP_RETURN_IF_ERROR(CheckPlaceName(name, where));
    MPP_ASSIGN_OR_RETURN(std::string district, StringMember(v, "district", where));
    if (!places.district_index.count(district)) {
      return Error::InvalidInput(where + ": district \"" + district + "\" is not listed");
    }
    if (code.compare(0, 8, district) != 0) {
      return Error::InvalidInput(where + ": its code does not start with its district's, " +
                                 district);
    }
    if (!places.village_index.emplace(code, places.villages.size()).second) {
      return Error::InvalidInput(where + " appears twice");
    }
    places.villages.push_back({std::move(code), std::move(name), std::move(district)});
  }
  return places;
}

}  // namespace

std::optional<FieldType> ParseFieldType(std::string_view name) {
  for (const auto& [type, text] : kFieldTypeNames) {
    if (name == text) return type;
  }
  return std::nullopt;
}

const char* FieldTypeName(FieldType type) {
  for (const auto& [value, text] : kFieldTypeNames) {
    if (value == type) return text;
  }
  return "unknown";
}

const FieldSpec* Service::FindField(std::string_view field_name) const {
  for (const auto& f : fields) {
    if (f.name == field_name) return &f;
  }
  return nullptr;
}

Result<FieldMap> ParseAssignments(const std::vector<std::string>& assignments) {
  FieldMap fields;
  for (const auto& a : assignments) {
    const size_t eq = a.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Error::InvalidInput("--set \"" + a + "\" must look like key=value");
    }
    fields[a.substr(0, eq)] = a.substr(eq + 1);
  }
  return fields;
}

Result<void> ValidateFieldValue(const FieldSpec& spec, std::string_view value) {
  // The message prefix is built only on failure: this runs for every field of every imported
  // request.
  const auto refuse = [&spec](std::string_view what) {
    return Error::InvalidInput("field " + spec.name + ": " + std::string(what));
  };
  // Every value, whatever its type, is text a person reads: well-formed UTF-8, no control
  // characters or bidi overrides, NFC (text.h). The type's own rules follow.
  if (auto text = CheckText(value, spec.name, RulesFor(spec)); !text) {
    return Error(text.error().code(), "field " + text.error().message());
  }
  if (Utf8Length(value) > spec.max_length) {
    return refuse("longer than " + std::to_string(spec.max_length) + " characters");
  }
  switch (spec.type) {
    case FieldType::kText:
      return Ok();
    case FieldType::kNik: {
      auto ok = CheckNikIsAscii(value);
      if (ok) ok = ValidateNik(value);
      if (!ok) return ok.error().WithContext("field " + spec.name);
      return Ok();
    }
    case FieldType::kDate:
      if (!IsValidDate(value)) {
        return refuse("\"" + std::string(value) + "\" is not a date (YYYY-MM-DD)");
      }
      return Ok();
    case FieldType::kPhone:
      if (value.size() < 10 || value.size() > 15 || value.substr(0, 2) != "08" ||
          !IsDigits(value)) {
        return refuse("phone number must be 10-15 digits starting with 08");
      }
      return Ok();
    case FieldType::kNumber:
      if (!IsDigits(value)) return refuse("must contain digits only");
      return Ok();
    case FieldType::kEnum:
      if (std::find(spec.options.begin(), spec.options.end(), value) == spec.options.end()) {
        std::string options;
        for (const auto& o : spec.options) options += (options.empty() ? "" : ", ") + o;
        return refuse("\"" + std::string(value) + "\" is not one of: " + options);
      }
      return Ok();
    case FieldType::kEmail:
      if (!IsValidEmail(value)) return refuse("not an e-mail address");
      return Ok();
    case FieldType::kVillageCode:
      if (!IsValidVillageCode(value)) {
        return refuse("village code must look like 61.12.05.2003");
      }
      return Ok();
  }
  return Ok();
}

Result<Catalog> Catalog::FromJson(std::string_view json_text) {
  // Strict: a repeated key would make two readers of one catalog see two forms.
  auto parsed = ParseJsonObjectStrict(json_text, kMaxCatalogDepth);
  if (!parsed) return parsed.error().WithContext("catalog");
  json doc = std::move(*parsed);
  Catalog catalog;
  try {
    if (!doc.contains("version")) return Error::InvalidInput("catalog needs a \"version\"");
    MPP_ASSIGN_OR_RETURN(catalog.version_,
                         IntegerMember(doc, "version", 1, INT64_MAX, 0, "catalog"));
    catalog.name_ = doc.value("name", std::string());
    MPP_RETURN_IF_ERROR(CheckText(catalog.name_, "catalog name", TextRules::Line()));
    if (!doc.contains("agencies") || !doc["agencies"].is_array() || !doc.contains("services") ||
        !doc["services"].is_array()) {
      return Error::InvalidInput("catalog needs \"agencies\" and \"services\" arrays");
    }
    for (const auto& a : doc["agencies"]) {
      Agency agency{a.at("id").get<std::string>(), a.at("name").get<std::string>(),
                    a.value("name_en", std::string())};
      if (!IsId(agency.id))
        return Error::InvalidInput("agency id \"" + agency.id + "\" is invalid");
      MPP_RETURN_IF_ERROR(
          CheckText(agency.name, "agency " + agency.id + " name", TextRules::Line()));
      MPP_RETURN_IF_ERROR(
          CheckText(agency.name_en, "agency " + agency.id + " name_en", TextRules::Line()));
      if (catalog.agency_index_.count(agency.id)) {
        return Error::InvalidInput("agency id \"" + agency.id + "\" appears twice");
      }
      catalog.agency_index_[agency.id] = catalog.agencies_.size();
      catalog.agencies_.push_back(std::move(agency));
    }
    for (const auto& s : doc["services"]) {
      Service service;
      service.id = s.at("id").get<std::string>();
      service.agency = s.at("agency").get<std::string>();
      service.name = s.at("name").get<std::string>();
      service.name_en = s.value("name_en", std::string());
      const std::string where = "service " + service.id;
      if (!IsId(service.id)) return Error::InvalidInput(where + ": invalid id");
      MPP_RETURN_IF_ERROR(CheckText(service.name, where + " name", TextRules::Line()));
      MPP_RETURN_IF_ERROR(CheckText(service.name_en, where + " name_en", TextRules::Line()));
      if (catalog.service_index_.count(service.id)) {
        return Error::InvalidInput(where + ": id appears twice");
      }
      if (!catalog.agency_index_.count(service.agency)) {
        return Error::InvalidInput(where + ": unknown agency \"" + service.agency + "\"");
      }
      std::set<std::string> names;
      for (const auto& f : s.at("fields")) {
        MPP_ASSIGN_OR_RETURN(FieldSpec spec, ParseField(f, where));
        if (!names.insert(spec.name).second) {
          return Error::InvalidInput(where + ": field " + spec.name + " appears twice");
        }
        service.fields.push_back(std::move(spec));
      }
      if (service.fields.empty()) return Error::InvalidInput(where + ": has no fields");
      catalog.service_index_[service.id] = catalog.services_.size();
      catalog.services_.push_back(std::move(service));
    }
    if (auto places = doc.find("places"); places != doc.end()) {
      MPP_ASSIGN_OR_RETURN(Places parsed, ParsePlaces(*places));
      catalog.regency_code_ = std::move(parsed.regency_code);
      catalog.regency_name_ = std::move(parsed.regency_name);
      catalog.districts_ = std::move(parsed.districts);
      catalog.villages_ = std::move(parsed.villages);
      catalog.district_index_ = std::move(parsed.district_index);
      catalog.village_index_ = std::move(parsed.village_index);
    }
  } catch (const json::exception& e) {
    return Error::InvalidInput(std::string("catalog: ") + e.what());
  }
  return catalog;
}

std::string Catalog::ToJson() const { return CatalogToJson(*this, "").dump(); }

const Agency* Catalog::FindAgency(std::string_view id) const {
  auto it = agency_index_.find(id);
  return it == agency_index_.end() ? nullptr : &agencies_[it->second];
}

const Service* Catalog::FindService(std::string_view id) const {
  auto it = service_index_.find(id);
  return it == service_index_.end() ? nullptr : &services_[it->second];
}

const District* Catalog::FindDistrict(std::string_view code) const {
  auto it = district_index_.find(code);
  return it == district_index_.end() ? nullptr : &districts_[it->second];
}

const Village* Catalog::FindVillage(std::string_view code) const {
  auto it = village_index_.find(code);
  return it == village_index_.end() ? nullptr : &villages_[it->second];
}

namespace {

// The field named so holds the village the citizen lives in, where the van serves: it must be
// one of the regency's. Other village_code fields (kode_desa_tujuan: where someone moves to)
// may name a village of any regency.
constexpr std::string_view kHomeVillageField = "village_code";

// "Kubu Raya", or "regency 61.12" when the catalog does not name it.
std::string RegencyWords(const Catalog& catalog) {
  return catalog.regency_name().empty() ? "regency " + catalog.regency_code()
                                        : catalog.regency_name();
}

// "61.12.05.2001 is Tanjung Beringin, Batu Ampar".
std::string VillageWords(const Catalog& catalog, const Village& village) {
  const District* district = catalog.FindDistrict(village.district_code);
  return village.code + " is " + village.name + (district ? ", " + district->name : "");
}

// A village code the places do not hold: what is wrong with it, and what would be right.
Error NotAVillage(const Catalog& catalog, const FieldSpec& spec, std::string_view value) {
  std::string why = "field " + spec.name + ": " + std::string(value) + " is not a village of " +
                    RegencyWords(catalog);
  const std::string_view district_code = value.substr(0, 8);
  if (value.substr(0, 5) != catalog.regency_code()) {
    why += ": its village codes start with " + catalog.regency_code() + " (for example " +
           VillageWords(catalog, catalog.villages().front()) + ")";
  } else if (const District* district = catalog.FindDistrict(district_code)) {
    const Village* first = nullptr;
    const Village* last = nullptr;
    size_t count = 0;
    for (const Village& v : catalog.villages()) {
      if (v.district_code != district->code) continue;
      if (first == nullptr) first = &v;
      last = &v;
      ++count;
    }
    why += ": district " + district->code + " " + district->name + " has " + std::to_string(count) +
           (count == 1 ? " village" : " villages");
    if (first != nullptr) {
      why += ", " + first->code + " " + first->name;
      if (last != first) why += " to " + last->code + " " + last->name;
    }
  } else {
    why += ": it has no district " + std::string(district_code) + "; its districts are ";
    for (size_t i = 0; i < catalog.districts().size(); ++i) {
      const District& d = catalog.districts()[i];
      why += (i == 0 ? "" : ", ") + d.code + " " + d.name;
    }
  }
  return Error::InvalidInput(why + "; see the catalog's list of villages");
}

// A NIK whose digits 1-4 are the regency's and whose digits 5-6 are none of its districts.
Error NotADistrict(const Catalog& catalog, const FieldSpec& spec, std::string_view nik,
                   const std::string& regency_digits) {
  std::string why = "field " + spec.name + ": NIK digits 5-6: " + std::string(nik.substr(4, 2)) +
                    " is not a district of " + RegencyWords(catalog) + " (a NIK starting " +
                    regency_digits + " is issued there; its districts are ";
  for (size_t i = 0; i < catalog.districts().size(); ++i) {
    const District& d = catalog.districts()[i];
    why += (i == 0 ? "" : ", ") + d.code.substr(6, 2) + " " + d.name;
  }
  return Error::InvalidInput(why + ")");
}

}  // namespace

Result<void> Catalog::ValidateValue(const FieldSpec& spec, std::string_view value) const {
  MPP_RETURN_IF_ERROR(ValidateFieldValue(spec, value));
  if (districts_.empty()) return Ok();  // no places: formats only, as before places existed
  if (spec.type == FieldType::kVillageCode) {
    if (FindVillage(value) != nullptr) return Ok();
    if (spec.name != kHomeVillageField && value.substr(0, 5) != regency_code_) return Ok();
    return NotAVillage(*this, spec, value);
  }
  if (spec.type == FieldType::kNik) {
    // A valid NIK is 16 ASCII digits: digits 1-4 province and regency, 5-6 the district.
    const std::string regency_digits = regency_code_.substr(0, 2) + regency_code_.substr(3, 2);
    if (value.substr(0, 4) != regency_digits) return Ok();
    if (FindDistrict(regency_code_ + "." + std::string(value.substr(4, 2))) != nullptr) {
      return Ok();
    }
    return NotADistrict(*this, spec, value, regency_digits);
  }
  return Ok();
}

namespace {

// One error for a form's problems: the problem itself when there is one (its code and words
// unchanged), otherwise "N problems: a; b" with each problem in details().
Result<void> FormProblems(std::vector<Error> problems) {
  if (problems.empty()) return Ok();
  if (problems.size() == 1) return std::move(problems.front());
  std::string joined = std::to_string(problems.size()) + " problems: ";
  std::vector<std::string> lines;
  for (const auto& p : problems) {
    joined += (lines.empty() ? "" : "; ") + p.message();
    lines.push_back(p.message());
  }
  return Error::InvalidInput(std::move(joined)).WithDetails(std::move(lines));
}

Error UnknownService(std::string_view service_id) {
  return Error::InvalidInput("unknown service \"" + std::string(service_id) + "\"");
}

// Field problems of `fields` (types, and the places of `with_places` when not null; required
// fields not emptied), in field-name order.
void CollectFieldProblems(const Service& service, const Catalog* with_places,
                          const FieldMap& fields, std::vector<Error>& problems) {
  for (const auto& [name, value] : fields) {
    const FieldSpec* spec = service.FindField(name);
    if (spec == nullptr) {
      problems.push_back(
          Error::InvalidInput("unknown field \"" + name + "\" for service " + service.id));
      continue;
    }
    if (value.empty()) {
      if (spec->required) {
        problems.push_back(
            Error::InvalidInput("field " + name + " (" + spec->label + ") is required"));
      }
      continue;
    }
    auto ok = with_places != nullptr ? with_places->ValidateValue(*spec, value)
                                     : ValidateFieldValue(*spec, value);
    if (!ok) problems.push_back(ok.error());
  }
}

void CollectMissing(const Service& service, const FieldMap& fields, std::vector<Error>& problems) {
  for (const auto& spec : service.fields) {
    auto it = fields.find(spec.name);
    if (spec.required && it == fields.end()) {
      problems.push_back(Error::InvalidInput("field " + spec.name + " (" + spec.label +
                                             ") is required for " + service.id));
    }
  }
}

int Number(std::string_view digits) {
  int n = 0;
  for (const char c : digits) n = n * 10 + (c - '0');
  return n;
}

// 2024-01-01 00:00 UTC. A write stamped before it comes from a clock that was reset (a tablet's
// dead RTC battery boots it in 1970 or 2000): "after today" would refuse every birth date, so
// the range is not checked against such a time.
constexpr int64_t kEarliestTrustedClockMs = 1704067200000;

bool IsBirthDateField(std::string_view name) {
  return name == "birth_date" || name.rfind("tanggal_lahir", 0) == 0;
}

// The birth-date field whose date a NIK-typed field's digits 7-12 encode: nik with birth_date,
// nik_X with tanggal_lahir_X.
std::string BirthDateFieldOf(const std::string& nik_field) {
  if (nik_field == "nik") return "birth_date";
  if (nik_field.rfind("nik_", 0) == 0) return "tanggal_lahir_" + nik_field.substr(4);
  return {};
}

std::string SexFieldOf(const std::string& nik_field) {
  if (nik_field == "nik") return "jenis_kelamin";
  if (nik_field.rfind("nik_", 0) == 0) return "jenis_kelamin_" + nik_field.substr(4);
  return {};
}

// true for a woman, false for a man, nullopt for a value that names neither.
std::optional<bool> IsWoman(std::string_view sex) {
  const auto lower = [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  };
  if (sex.empty()) return std::nullopt;
  const char first = lower(sex.front());
  if (first == 'p' || first == 'w' || first == 'f') return true;  // perempuan, wanita, female
  if (first == 'l' || first == 'm') return false;                 // laki-laki, male
  return std::nullopt;
}

bool Involves(const std::set<std::string>* changed, const std::string& a, const std::string& b) {
  return changed == nullptr || changed->count(a) > 0 || changed->count(b) > 0;
}

}  // namespace

std::string NormaliseFieldValue(const FieldSpec& spec, std::string value) {
  if (std::any_of(value.begin(), value.end(),
                  [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) {
    value = ToNfc(value);  // ASCII is already NFC
  }
  switch (spec.type) {
    case FieldType::kDate: {
      // DD-MM-YYYY or DD/MM/YYYY, as Indonesians write a date.
      if (value.size() == 10 && (value[2] == '-' || value[2] == '/') && value[5] == value[2] &&
          IsDigits(value.substr(0, 2)) && IsDigits(value.substr(3, 2)) &&
          IsDigits(value.substr(6, 4))) {
        return value.substr(6, 4) + "-" + value.substr(3, 2) + "-" + value.substr(0, 2);
      }
      return value;
    }
    case FieldType::kPhone: {
      std::string digits;
      for (size_t i = 0; i < value.size(); ++i) {
        const char c = value[i];
        if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')') continue;
        if (c == '+' && i == 0) {
          digits += c;
          continue;
        }
        if (c < '0' || c > '9') return value;  // not a phone number: validation says why
        digits += c;
      }
      if (digits.rfind("+62", 0) == 0) return "0" + digits.substr(3);
      return digits.empty() || digits[0] == '+' ? value : digits;
    }
    case FieldType::kEnum: {
      const auto same = [&value](const std::string& option) {
        return option.size() == value.size() &&
               std::equal(option.begin(), option.end(), value.begin(), [](char a, char b) {
                 return std::tolower(static_cast<unsigned char>(a)) ==
                        std::tolower(static_cast<unsigned char>(b));
               });
      };
      auto match = std::find_if(spec.options.begin(), spec.options.end(), same);
      return match == spec.options.end() ? value : *match;
    }
    default:
      return value;
  }
}

void Catalog::NormaliseForm(std::string_view service_id, FieldMap& fields) const {
  const Service* service = FindService(service_id);
  if (service == nullptr) return;
  for (auto& [name, value] : fields) {
    if (const FieldSpec* spec = service->FindField(name)) {
      value = NormaliseFieldValue(*spec, std::move(value));
    }
  }
}

Result<void> Catalog::ValidateNew(std::string_view service_id, const FieldMap& fields,
                                  int64_t as_of_ms) const {
  const Service* service = FindService(service_id);
  if (service == nullptr) return UnknownService(service_id);
  // What the officer typed is reported first: a malformed NIK is the more useful message.
  std::vector<Error> problems;
  CollectFieldProblems(*service, this, fields, problems);
  CollectMissing(*service, fields, problems);
  // The rules between fields only make sense between values that are each valid.
  if (problems.empty()) {
    if (auto rules = CheckFormRules(service_id, fields, nullptr, as_of_ms); !rules) {
      return rules;
    }
  }
  return FormProblems(std::move(problems));
}

Result<void> Catalog::ValidateUpdate(std::string_view service_id, const FieldMap& fields) const {
  const Service* service = FindService(service_id);
  if (service == nullptr) return UnknownService(service_id);
  std::vector<Error> problems;
  CollectFieldProblems(*service, this, fields, problems);
  return FormProblems(std::move(problems));
}

Result<void> Catalog::ValidateStored(std::string_view service_id, const FieldMap& fields) const {
  const Service* service = FindService(service_id);
  if (service == nullptr) return UnknownService(service_id);
  std::vector<Error> problems;
  // Not the places: a request stored once was accepted under the catalog of its day.
  CollectFieldProblems(*service, nullptr, fields, problems);
  CollectMissing(*service, fields, problems);
  return FormProblems(std::move(problems));
}

Result<void> Catalog::CheckFormRules(std::string_view service_id, const FieldMap& values,
                                     const std::set<std::string>* changed, int64_t as_of_ms) const {
  const Service* service = FindService(service_id);
  if (service == nullptr) return UnknownService(service_id);
  std::vector<Error> problems;
  const auto value_of = [&values](const std::string& name) -> const std::string* {
    auto it = values.find(name);
    return it == values.end() || it->second.empty() ? nullptr : &it->second;
  };
  for (const auto& spec : service->fields) {
    if (spec.type == FieldType::kNik) {
      const std::string* nik = value_of(spec.name);
      if (nik == nullptr || nik->size() != 16 || !IsDigits(*nik)) continue;
      const int nik_day = Number(nik->substr(6, 2));
      const std::string birth_field = BirthDateFieldOf(spec.name);
      const std::string* birth = value_of(birth_field);
      if (birth != nullptr && IsValidDate(*birth) && Involves(changed, spec.name, birth_field)) {
        const int day = Number(birth->substr(8, 2));
        const int month = Number(birth->substr(5, 2));
        const int year2 = Number(birth->substr(2, 2));
        if (nik_day % 40 != day || Number(nik->substr(8, 2)) != month ||
            Number(nik->substr(10, 2)) != year2) {
          problems.push_back(Error::InvalidInput(
              "field " + birth_field + ": " + *birth + " does not agree with " + spec.name +
              ": NIK digits 7-12 are " + nik->substr(6, 6) + " (day " + nik->substr(6, 2) +
              (nik_day > 40 ? " = 40 + " + std::to_string(nik_day - 40) + " for a woman" : "") +
              ", month " + nik->substr(8, 2) + ", year .." + nik->substr(10, 2) +
              "), the birth date is day " + birth->substr(8, 2) + ", month " + birth->substr(5, 2) +
              ", year .." + birth->substr(2, 2)));
        }
      }
      const std::string sex_field = SexFieldOf(spec.name);
      const std::string* sex = value_of(sex_field);
      if (sex != nullptr && Involves(changed, spec.name, sex_field)) {
        const auto woman = IsWoman(*sex);
        if (woman && *woman != (nik_day > 40)) {
          problems.push_back(Error::InvalidInput(
              "field " + sex_field + ": \"" + *sex + "\" does not agree with " + spec.name +
              ": NIK digits 7-8 are " + nik->substr(6, 2) +
              (nik_day > 40 ? ", a woman's day of birth (40 + day)"
                            : ", a man's day of birth (a woman's is 40 + day)")));
        }
      }
    }
    if (spec.type == FieldType::kDate && IsBirthDateField(spec.name) &&
        as_of_ms >= kEarliestTrustedClockMs &&
        (changed == nullptr || changed->count(spec.name) > 0)) {
      const std::string* birth = value_of(spec.name);
      if (birth == nullptr || !IsValidDate(*birth)) continue;
      const CivilDate today = LocalDate(as_of_ms, TimeZone{});
      const CivilDate born{Number(birth->substr(0, 4)), Number(birth->substr(5, 2)),
                           Number(birth->substr(8, 2))};
      if (born > today) {
        problems.push_back(
            Error::InvalidInput("field " + spec.name + ": " + *birth + " is in the future"));
      } else if (CivilDate{today.year - kMaxAgeYears, today.month, today.day} > born) {
        problems.push_back(Error::InvalidInput("field " + spec.name + ": " + *birth +
                                               " is more than " + std::to_string(kMaxAgeYears) +
                                               " years ago"));
      }
    }
  }
  return FormProblems(std::move(problems));
}

}  // namespace mpp::sync
