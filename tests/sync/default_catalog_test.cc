// The default catalog shipped in data/catalog.json (15 agencies, 90 services of the Kubu Raya
// MPP), and the import lines tools/workload makes for it: every line the generator calls valid
// must pass Catalog::ValidateNew, and every line it spoils on purpose must be refused.
#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/wait.h>

#include <cstddef>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "mpp/sync/catalog.h"
#include "support/test_util.h"

namespace mpp::sync {
namespace {

constexpr size_t kAgencies = 15;
constexpr size_t kServices = 90;
constexpr size_t kServicesPerAgency = 6;

// The citizen block every service's form starts with, in this order.
struct CitizenField {
  const char* name;
  FieldType type;
  bool required;
  bool personal;
};
constexpr CitizenField kCitizenFields[] = {
    {"nik", FieldType::kNik, true, true},
    {"name", FieldType::kText, true, true},
    {"birth_date", FieldType::kDate, true, true},
    {"address", FieldType::kText, true, true},
    {"village_code", FieldType::kVillageCode, true, false},
    {"phone", FieldType::kPhone, false, true},
};

// Runs a shell command and returns what it wrote to stdout; fails the test unless it exits 0.
std::string RunOrDie(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr) << "cannot start: " << command;
  if (pipe == nullptr) return "";
  std::string out;
  char buffer[1 << 16];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  const int status = pclose(pipe);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << command << " ended with status " << status;
  return out;
}

std::string WorkloadCommand(const std::string& args) {
  return "python3 '" + std::string(MPP_SOURCE_DIR) + "/tools/workload' " + args;
}

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// One import line: {"service_id": "...", "fields": {"name": "value", ...}}. Empty when the line
// is not JSON of that shape (every value a string).
struct ImportLine {
  std::string service_id;
  FieldMap fields;
};
std::optional<ImportLine> ParseImportLine(const std::string& text) {
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
  const auto service = doc.find("service_id");
  const auto fields = doc.find("fields");
  if (service == doc.end() || !service->is_string() || fields == doc.end() ||
      !fields->is_object()) {
    return std::nullopt;
  }
  ImportLine line{service->get<std::string>(), {}};
  for (const auto& [name, value] : fields->items()) {
    if (!value.is_string()) return std::nullopt;
    line.fields[name] = value.get<std::string>();
  }
  return line;
}

// The NIK's date part (digits 7-12: DDMMYY, day +40 for women) as "YY-MM-DD".
std::string NikDate(const std::string& nik) {
  int day = std::stoi(nik.substr(6, 2));
  if (day > 40) day -= 40;
  const std::string dd = (day < 10 ? "0" : "") + std::to_string(day);
  return nik.substr(10, 2) + "-" + nik.substr(8, 2) + "-" + dd;
}

class DefaultCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loaded = Catalog::FromJson(test::ReadFileOrDie(test::DefaultCatalogPath()));
    ASSERT_OK(loaded);
    catalog_.emplace(std::move(loaded).value());
  }

  const Catalog& catalog() const { return *catalog_; }

  std::optional<Catalog> catalog_;
};

TEST_F(DefaultCatalogTest, LoadsWithFifteenAgenciesAndNinetyServices) {
  EXPECT_EQ(catalog().version(), 1);
  EXPECT_EQ(catalog().name(), "Mal Pelayanan Publik Kabupaten Kubu Raya");
  EXPECT_EQ(catalog().agencies().size(), kAgencies);
  EXPECT_EQ(catalog().services().size(), kServices);
}

TEST_F(DefaultCatalogTest, IdsAreUniqueAndEveryServiceBelongsToAnAgency) {
  std::set<std::string> agency_ids;
  for (const Agency& agency : catalog().agencies()) {
    EXPECT_TRUE(agency_ids.insert(agency.id).second) << "duplicate agency " << agency.id;
    EXPECT_FALSE(agency.name.empty()) << agency.id;
    EXPECT_FALSE(agency.name_en.empty()) << agency.id;
    EXPECT_EQ(catalog().FindAgency(agency.id), &agency) << agency.id;
  }
  std::set<std::string> service_ids;
  std::map<std::string, size_t> services_per_agency;
  for (const Service& service : catalog().services()) {
    EXPECT_TRUE(service_ids.insert(service.id).second) << "duplicate service " << service.id;
    EXPECT_NE(catalog().FindAgency(service.agency), nullptr)
        << service.id << " names unknown agency " << service.agency;
    EXPECT_EQ(service.id.rfind(service.agency + ".", 0), 0u)
        << service.id << " does not start with its agency id";
    EXPECT_FALSE(service.name.empty()) << service.id;
    EXPECT_FALSE(service.name_en.empty()) << service.id;
    EXPECT_EQ(catalog().FindService(service.id), &service) << service.id;
    ++services_per_agency[service.agency];
  }
  for (const Agency& agency : catalog().agencies()) {
    EXPECT_EQ(services_per_agency[agency.id], kServicesPerAgency) << agency.id;
  }
}

TEST_F(DefaultCatalogTest, EveryFormStartsWithTheCitizenFieldsAndEndsWithTheOfficersNote) {
  for (const Service& service : catalog().services()) {
    SCOPED_TRACE(service.id);
    const size_t citizen = std::size(kCitizenFields);
    // Citizen block, 2-5 form fields, then catatan.
    ASSERT_GE(service.fields.size(), citizen + 3);
    ASSERT_LE(service.fields.size(), citizen + 6);
    for (size_t i = 0; i < citizen; ++i) {
      const FieldSpec& field = service.fields[i];
      EXPECT_EQ(field.name, kCitizenFields[i].name) << "field " << i;
      EXPECT_EQ(field.type, kCitizenFields[i].type) << field.name;
      EXPECT_EQ(field.required, kCitizenFields[i].required) << field.name;
      EXPECT_EQ(field.personal, kCitizenFields[i].personal) << field.name;
      EXPECT_FALSE(field.label.empty()) << field.name;
    }
    bool any_required = false;
    for (size_t i = citizen; i + 1 < service.fields.size(); ++i) {
      any_required = any_required || service.fields[i].required;
    }
    EXPECT_TRUE(any_required) << "no required form field of its own";
    const FieldSpec& last = service.fields.back();
    EXPECT_EQ(last.name, "catatan");
    EXPECT_EQ(last.type, FieldType::kText);
    EXPECT_FALSE(last.required);
    EXPECT_EQ(last.max_length, 300u);
  }
}

TEST_F(DefaultCatalogTest, EveryEnumFieldHasOptions) {
  for (const Service& service : catalog().services()) {
    for (const FieldSpec& field : service.fields) {
      if (field.type != FieldType::kEnum) continue;
      EXPECT_FALSE(field.options.empty()) << service.id << " field " << field.name;
      EXPECT_EQ(std::set<std::string>(field.options.begin(), field.options.end()).size(),
                field.options.size())
          << service.id << " field " << field.name << " repeats an option";
    }
  }
}

TEST_F(DefaultCatalogTest, WorkloadLinesAreAcceptedByValidateNew) {
  const std::vector<std::string> lines = SplitLines(RunOrDie(WorkloadCommand("--n 300 --seed 7")));
  ASSERT_EQ(lines.size(), 300u);
  for (size_t i = 0; i < lines.size(); ++i) {
    SCOPED_TRACE("workload --seed 7, line " + std::to_string(i + 1));
    // The line itself is not printed: it has the shape of personal data.
    EXPECT_GE(lines[i].size(), 500u);
    EXPECT_LE(lines[i].size(), 700u);
    const std::optional<ImportLine> line = ParseImportLine(lines[i]);
    ASSERT_TRUE(line.has_value()) << "not an import line";
    ASSERT_NE(catalog().FindService(line->service_id), nullptr)
        << "unknown service " << line->service_id;
    EXPECT_OK(catalog().ValidateNew(line->service_id, line->fields));
    const auto nik = line->fields.find("nik");
    const auto birth = line->fields.find("birth_date");
    ASSERT_TRUE(nik != line->fields.end() && birth != line->fields.end());
    ASSERT_EQ(nik->second.size(), 16u);
    EXPECT_EQ(NikDate(nik->second), birth->second.substr(2)) << "NIK date is not birth_date";
    // The citizen's village is one of Kubu Raya's (Kemendagri codes, data/README.md), and a NIK
    // issued there carries the village's district in digits 5-6.
    const auto village = line->fields.find("village_code");
    ASSERT_NE(village, line->fields.end());
    const Village* known = catalog().FindVillage(village->second);
    ASSERT_NE(known, nullptr) << village->second << " is not a village of the catalog";
    if (nik->second.rfind("6112", 0) == 0) {
      EXPECT_EQ("61.12." + nik->second.substr(4, 2), known->district_code)
          << "NIK district is not the village's";
    }
  }
}

TEST_F(DefaultCatalogTest, WorkloadBadLinesAreAllRefused) {
  // --bad-rate spoils exactly round(n * rate) lines: bad NIK part, missing required field,
  // unknown service or malformed JSON. Every other line must still be accepted.
  const std::vector<std::string> lines =
      SplitLines(RunOrDie(WorkloadCommand("--n 200 --seed 11 --bad-rate 0.25")));
  ASSERT_EQ(lines.size(), 200u);
  size_t refused = 0;
  for (const std::string& text : lines) {
    const std::optional<ImportLine> line = ParseImportLine(text);
    if (!line.has_value() || catalog().FindService(line->service_id) == nullptr ||
        !catalog().ValidateNew(line->service_id, line->fields).ok()) {
      ++refused;
    }
  }
  EXPECT_EQ(refused, 50u);
}

}  // namespace
}  // namespace mpp::sync
