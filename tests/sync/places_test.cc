// The catalog's places (the regency's districts and villages, Kemendagri codes): how they parse,
// round-trip, and what they add to validation: a village_code must be one of the villages, and
// a NIK issued in the regency must name one of its districts. A catalog without places checks
// the formats only. The default catalog's places must be exactly data/kubu-raya-villages.csv.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "mpp/sync/catalog.h"
#include "support/test_util.h"

namespace mpp::sync {
namespace {

// Two districts of Kubu Raya and three of their villages.
constexpr const char* kPlaces = R"("places": {
    "regency": {"code": "61.12", "name": "Kubu Raya"},
    "districts": [{"code": "61.12.05", "name": "Batu Ampar"},
                  {"code": "61.12.07", "name": "Rasau Jaya"}],
    "villages": [{"code": "61.12.05.2001", "name": "Tanjung Beringin", "district": "61.12.05"},
                 {"code": "61.12.07.2001", "name": "Rasau Jaya Umum", "district": "61.12.07"},
                 {"code": "61.12.07.2006", "name": "Pematang Tujuh", "district": "61.12.07"}]})";

// One service with the citizen's village and NIK, a destination village and a second NIK.
std::string CatalogJson(const std::string& places) {
  return R"({"version": 1, "agencies": [{"id": "a", "name": "A"}],
    "services": [{"id": "a.s", "agency": "a", "name": "S", "fields": [
      {"name": "nik", "type": "nik"}, {"name": "nik_anak", "type": "nik"},
      {"name": "village_code", "type": "village_code"},
      {"name": "kode_desa_tujuan", "type": "village_code"},
      {"name": "catatan", "type": "text"}]}])" +
         (places.empty() ? "" : ", " + places) + "}";
}

Catalog Load(const std::string& places = kPlaces) {
  auto c = Catalog::FromJson(CatalogJson(places));
  EXPECT_TRUE(c.ok()) << c.error().message();
  return c.ok() ? std::move(c).value() : Catalog{};
}

void ExpectRefused(const std::string& places, const std::string& fragment) {
  auto c = Catalog::FromJson(CatalogJson(places));
  ASSERT_FALSE(c.ok()) << places;
  EXPECT_NE(c.error().message().find(fragment), std::string::npos) << c.error().message();
}

// The message of a refused form, or "" when it was accepted.
std::string Refusal(const Result<void>& r) { return r.ok() ? "" : r.error().message(); }

TEST(Places, ParseWithTheirLookups) {
  const Catalog c = Load();
  ASSERT_EQ(c.districts().size(), 2u);
  ASSERT_EQ(c.villages().size(), 3u);
  EXPECT_EQ(c.districts()[1].code, "61.12.07");
  EXPECT_EQ(c.districts()[1].name, "Rasau Jaya");
  EXPECT_EQ(c.villages()[2].code, "61.12.07.2006");
  EXPECT_EQ(c.villages()[2].district_code, "61.12.07");
  EXPECT_EQ(c.regency_code(), "61.12");
  EXPECT_EQ(c.regency_name(), "Kubu Raya");
  const District* batu_ampar = c.FindDistrict("61.12.05");
  ASSERT_NE(batu_ampar, nullptr);
  EXPECT_EQ(batu_ampar->name, "Batu Ampar");
  const Village* village = c.FindVillage("61.12.05.2001");
  ASSERT_NE(village, nullptr);
  EXPECT_EQ(village->name, "Tanjung Beringin");
  EXPECT_EQ(village->district_code, "61.12.05");
  EXPECT_EQ(c.FindDistrict("61.12.06"), nullptr);
  EXPECT_EQ(c.FindVillage("61.12.05.2002"), nullptr);
  EXPECT_EQ(c.FindVillage("61.12.05"), nullptr);
}

TEST(Places, AreOptional) {
  const Catalog c = Load("");
  EXPECT_TRUE(c.districts().empty());
  EXPECT_TRUE(c.villages().empty());
  EXPECT_EQ(c.FindVillage("61.12.05.2001"), nullptr);
  // The text of a catalog without places is what it was before places existed.
  EXPECT_EQ(nlohmann::json::parse(c.ToJson()).count("places"), 0u);
}

TEST(Places, RoundTripThroughToJson) {
  const Catalog c = Load();
  const std::string text = c.ToJson();
  auto again = Catalog::FromJson(text);
  ASSERT_OK(again);
  EXPECT_EQ(again->ToJson(), text);
  ASSERT_EQ(again->villages().size(), 3u);
  EXPECT_EQ(again->villages()[1].name, "Rasau Jaya Umum");
  EXPECT_EQ(again->districts()[0].code, "61.12.05");
  EXPECT_EQ(again->regency_name(), "Kubu Raya");
  // Without "regency", its code comes from the districts and no name is made up.
  auto unnamed = Catalog::FromJson(CatalogJson(R"("places": {
      "districts": [{"code": "61.12.05", "name": "Batu Ampar"}],
      "villages": [{"code": "61.12.05.2001", "name": "Tanjung Beringin", "district": "61.12.05"}]})"));
  ASSERT_OK(unnamed);
  EXPECT_EQ(unnamed->regency_code(), "61.12");
  EXPECT_EQ(unnamed->regency_name(), "");
  auto unnamed_again = Catalog::FromJson(unnamed->ToJson());
  ASSERT_OK(unnamed_again);
  EXPECT_EQ(unnamed_again->ToJson(), unnamed->ToJson());
}

TEST(Places, BadPlacesAreRefusedNamingTheEntry) {
  const std::string village =
      R"({"code": "61.12.05.2001", "name": "Tanjung Beringin", "district": "61.12.05"})";
  const auto places = [](const std::string& districts, const std::string& villages) {
    return R"("places": {"districts": [)" + districts + R"(], "villages": [)" + villages + "]}";
  };
  const std::string batu_ampar = R"({"code": "61.12.05", "name": "Batu Ampar"})";
  ExpectRefused(R"("places": [])", "need \"districts\" and \"villages\" arrays");
  ExpectRefused(R"("places": {"districts": []})", "need \"districts\" and \"villages\"");
  ExpectRefused(places("", village), "at least one district and one village");
  ExpectRefused(places(batu_ampar, ""), "at least one district and one village");
  ExpectRefused(places(R"({"code": "61.12.5", "name": "Batu Ampar"})", village),
                "district \"61.12.5\": code must look like 61.12.01");
  ExpectRefused(places(R"({"code": "61.12.00", "name": "Nowhere"})", village),
                "code must look like 61.12.01");
  ExpectRefused(places(R"({"code": "00.12.05", "name": "Nowhere"})", village),
                "code must look like 61.12.01");
  ExpectRefused(places(R"({"code": 611205, "name": "Batu Ampar"})", village),
                "needs a string \"code\"");
  ExpectRefused(places(R"({"code": "61.12.05", "name": ""})", village),
                "district 61.12.05: \"name\" is empty");
  ExpectRefused(places(R"({"code": "61.12.05", "name": "Batu\nAmpar"})", village),
                "district 61.12.05 name");
  ExpectRefused(places(batu_ampar + "," + batu_ampar, village), "district 61.12.05 appears twice");
  ExpectRefused(
      places(batu_ampar + R"(, {"code": "61.71.01", "name": "Pontianak Selatan"})", village),
      "district 61.71.01: not in regency 61.12");
  ExpectRefused(places(batu_ampar, village + "," + village), "village 61.12.05.2001 appears twice");
  ExpectRefused(
      places(batu_ampar, R"({"code": "61.12.05.201", "name": "X", "district": "61.12.05"})"),
      "village \"61.12.05.201\": code must look like 61.12.05.2001");
  ExpectRefused(
      places(batu_ampar, R"({"code": "61.12.05.0000", "name": "X", "district": "61.12.05"})"),
      "code must look like 61.12.05.2001");
  ExpectRefused(
      places(batu_ampar, R"({"code": "61.12.06.2001", "name": "Kubu", "district": "61.12.06"})"),
      "village 61.12.06.2001: district \"61.12.06\" is not listed");
  ExpectRefused(places(batu_ampar + R"(, {"code": "61.12.06", "name": "Kubu"})",
                       R"({"code": "61.12.06.2001", "name": "Kubu", "district": "61.12.05"})"),
                "village 61.12.06.2001: its code does not start with its district's, 61.12.05");
  ExpectRefused(places(batu_ampar, R"({"code": "61.12.05.2001", "name": "Tanjung Beringin"})"),
                "village 61.12.05.2001: needs a string \"district\"");
  ExpectRefused(R"("places": {"regency": {"code": "61.13", "name": "Kubu Raya"},
      "districts": [)" +
                    batu_ampar + R"(], "villages": [)" + village + "]}",
                "district 61.12.05: not in regency 61.13");
  ExpectRefused(R"("places": {"regency": {"code": "6112", "name": "Kubu Raya"},
      "districts": [)" +
                    batu_ampar + R"(], "villages": [)" + village + "]}",
                "code must look like 61.12 (PP.KK");
  ExpectRefused(R"("places": {"regency": "Kubu Raya",
      "districts": [)" +
                    batu_ampar + R"(], "villages": [)" + village + "]}",
                "\"regency\" must be an object");
}

TEST(Places, TheCitizensVillageMustBeOneOfThem) {
  const Catalog c = Load();
  EXPECT_OK(c.ValidateNew("a.s", {{"village_code", "61.12.05.2001"}}));
  EXPECT_OK(c.ValidateUpdate("a.s", {{"village_code", "61.12.07.2006"}}));

  // A district it has: the district's villages, first to last.
  const std::string in_district =
      Refusal(c.ValidateNew("a.s", {{"village_code", "61.12.07.2009"}}));
  EXPECT_NE(in_district.find("field village_code: 61.12.07.2009 is not a village of Kubu Raya: "
                             "district 61.12.07 Rasau Jaya has 2 villages, 61.12.07.2001 Rasau "
                             "Jaya Umum to 61.12.07.2006 Pematang Tujuh; see the catalog's list "
                             "of villages"),
            std::string::npos)
      << in_district;
  // A district it lacks: its districts.
  const std::string no_district =
      Refusal(c.ValidateUpdate("a.s", {{"village_code", "61.12.10.2001"}}));
  EXPECT_NE(no_district.find("it has no district 61.12.10; its districts are 61.12.05 Batu Ampar, "
                             "61.12.07 Rasau Jaya"),
            std::string::npos)
      << no_district;
  // Another regency: what a code of this one looks like, by example.
  const std::string elsewhere = Refusal(c.ValidateNew("a.s", {{"village_code", "61.71.01.1001"}}));
  EXPECT_NE(elsewhere.find("61.71.01.1001 is not a village of Kubu Raya: its village codes start "
                           "with 61.12 (for example 61.12.05.2001 is Tanjung Beringin, Batu "
                           "Ampar)"),
            std::string::npos)
      << elsewhere;
  // The format is still checked first, with its own words.
  EXPECT_NE(Refusal(c.ValidateNew("a.s", {{"village_code", "61.12.5.2001"}}))
                .find("village code must look like"),
            std::string::npos);
}

TEST(Places, ADestinationMayLieInAnotherRegencyButNotInAVillageThisOneLacks) {
  const Catalog c = Load();
  EXPECT_OK(c.ValidateNew("a.s", {{"kode_desa_tujuan", "61.71.01.1001"}}));  // Kota Pontianak
  EXPECT_OK(c.ValidateNew("a.s", {{"kode_desa_tujuan", "61.12.07.2001"}}));
  const std::string missing =
      Refusal(c.ValidateUpdate("a.s", {{"kode_desa_tujuan", "61.12.05.2099"}}));
  EXPECT_NE(missing.find("field kode_desa_tujuan: 61.12.05.2099 is not a village of Kubu Raya"),
            std::string::npos)
      << missing;
}

TEST(Places, ANikIssuedInTheRegencyNamesOneOfItsDistricts) {
  const Catalog c = Load();
  EXPECT_OK(c.ValidateNew("a.s", {{"nik", "6112054101900001"}}));
  EXPECT_OK(c.ValidateNew("a.s", {{"nik", "6112071503900001"}}));
  // Issued elsewhere: a NIK does not change when its holder moves; only its structure counts.
  EXPECT_OK(c.ValidateNew("a.s", {{"nik", "6171101503900001"}}));
  EXPECT_OK(c.ValidateNew("a.s", {{"nik", "3527101503900001"}}));

  const std::string district_10 = Refusal(c.ValidateNew("a.s", {{"nik", "6112104101900001"}}));
  EXPECT_NE(district_10.find("field nik: NIK digits 5-6: 10 is not a district of Kubu Raya (a NIK "
                             "starting 6112 is issued there; its districts are 05 Batu Ampar, 07 "
                             "Rasau Jaya)"),
            std::string::npos)
      << district_10;
  // Every NIK-typed field, by its own name; a district the regency lacks though 01..09 exist.
  const std::string child = Refusal(c.ValidateUpdate("a.s", {{"nik_anak", "6112061503100001"}}));
  EXPECT_NE(child.find("field nik_anak: NIK digits 5-6: 06 is not a district of Kubu Raya"),
            std::string::npos)
      << child;
  // The structure is still checked first, with its own words.
  EXPECT_NE(Refusal(c.ValidateNew("a.s", {{"nik", "6112004101900001"}})).find("district code 00"),
            std::string::npos);
}

TEST(Places, EveryProblemOfAFormIsReported) {
  const Catalog c = Load();
  auto r = c.ValidateNew("a.s", {{"nik", "6112104101900001"}, {"village_code", "61.12.07.2009"}});
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.error().details().size(), 2u) << r.error().message();
  EXPECT_NE(r.error().details()[0].find("field nik:"), std::string::npos);
  EXPECT_NE(r.error().details()[1].find("field village_code:"), std::string::npos);
}

TEST(Places, ACatalogWithoutThemChecksTheFormatsOnly) {
  const Catalog c = Load("");
  EXPECT_OK(c.ValidateNew("a.s", {{"nik", "6112104101900001"},
                                  {"village_code", "61.12.07.2009"},
                                  {"kode_desa_tujuan", "61.12.05.2099"}}));
  EXPECT_FALSE(c.ValidateNew("a.s", {{"village_code", "61.12.7.2009"}}).ok());
}

TEST(Places, AStoredFormIsNotCheckedAgainstThem) {
  // A request accepted before the catalog had places, re-sent after a server restore, is kept.
  const Catalog c = Load();
  EXPECT_OK(
      c.ValidateStored("a.s", {{"nik", "6112104101900001"}, {"village_code", "61.12.07.2009"}}));
  EXPECT_FALSE(c.ValidateStored("a.s", {{"village_code", "61.12.7.2009"}}).ok());
  // One value at a time, as a caller checking stored requests against a new catalog would.
  const FieldSpec* village = c.FindService("a.s")->FindField("village_code");
  ASSERT_NE(village, nullptr);
  EXPECT_OK(ValidateFieldValue(*village, "61.12.07.2009"));
  EXPECT_FALSE(c.ValidateValue(*village, "61.12.07.2009").ok());
  EXPECT_OK(c.ValidateValue(*village, "61.12.07.2006"));
}

// data/kubu-raya-villages.csv: code,kind,name,district_code,district_name (data/README.md).
struct CsvRow {
  std::string code, kind, name, district_code, district_name;
};

std::vector<CsvRow> ReadCsv(const std::string& path) {
  std::istringstream in(test::ReadFileOrDie(path));
  std::vector<CsvRow> rows;
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "code,kind,name,district_code,district_name");
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    // No name of Kubu Raya's places holds a comma or a quote: the simple split is exact, and a
    // row that would need more is a failure here.
    std::vector<std::string> cells;
    std::stringstream cells_in(line);
    for (std::string cell; std::getline(cells_in, cell, ',');) cells.push_back(cell);
    EXPECT_EQ(cells.size(), 5u) << line;
    EXPECT_EQ(line.find('"'), std::string::npos) << line;
    if (cells.size() != 5) continue;
    rows.push_back({cells[0], cells[1], cells[2], cells[3], cells[4]});
  }
  return rows;
}

TEST(Places, TheDefaultCatalogHasExactlyTheVillagesOfTheCsv) {
  auto loaded = Catalog::FromJson(test::ReadFileOrDie(test::DefaultCatalogPath()));
  ASSERT_OK(loaded);
  const Catalog& catalog = *loaded;
  const std::vector<CsvRow> rows =
      ReadCsv(std::string(MPP_SOURCE_DIR) + "/data/kubu-raya-villages.csv");
  std::vector<District> districts;
  std::vector<Village> villages;
  for (const CsvRow& row : rows) {
    if (row.kind == "district") {
      EXPECT_EQ(row.district_code, row.code);
      EXPECT_EQ(row.district_name, row.name);
      districts.push_back({row.code, row.name});
    } else {
      EXPECT_EQ(row.kind, "desa") << row.code << ": Kubu Raya has no kelurahan";
      villages.push_back({row.code, row.name, row.district_code});
      const District* district = catalog.FindDistrict(row.district_code);
      ASSERT_NE(district, nullptr) << row.code;
      EXPECT_EQ(district->name, row.district_name) << row.code;
    }
  }
  EXPECT_EQ(districts.size(), 9u);
  EXPECT_EQ(villages.size(), 123u);
  EXPECT_EQ(catalog.regency_code(), "61.12");
  EXPECT_EQ(catalog.regency_name(), "Kubu Raya");
  ASSERT_EQ(catalog.districts().size(), districts.size());
  for (size_t i = 0; i < districts.size(); ++i) {
    EXPECT_EQ(catalog.districts()[i].code, districts[i].code) << "district " << i;
    EXPECT_EQ(catalog.districts()[i].name, districts[i].name) << districts[i].code;
  }
  ASSERT_EQ(catalog.villages().size(), villages.size());
  for (size_t i = 0; i < villages.size(); ++i) {
    EXPECT_EQ(catalog.villages()[i].code, villages[i].code) << "village " << i;
    EXPECT_EQ(catalog.villages()[i].name, villages[i].name) << villages[i].code;
    EXPECT_EQ(catalog.villages()[i].district_code, villages[i].district_code) << villages[i].code;
  }
  // Kemendagri's numbering, not BPS's: Sungai Raya is 01, Sungai Kakap 09.
  ASSERT_NE(catalog.FindDistrict("61.12.01"), nullptr);
  EXPECT_EQ(catalog.FindDistrict("61.12.01")->name, "Sungai Raya");
  ASSERT_NE(catalog.FindVillage("61.12.05.2001"), nullptr);
  EXPECT_EQ(catalog.FindVillage("61.12.05.2001")->name, "Tanjung Beringin");
}

}  // namespace
}  // namespace mpp::sync
