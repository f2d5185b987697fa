// Runs the real `mpp-field` binary as a child process, the way an officer (or a script on the van)
// does: a controlled environment, stdin not a terminal, stdout, stderr and the exit code checked.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/process_util.h"
#include "support/test_util.h"

namespace mpp::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr const char* kPassphrase = "sungai-raya-2024";
constexpr const char* kKtp = "dukcapil.ktp-el";
constexpr const char* kPath = "PATH=/usr/local/bin:/usr/bin:/bin";  // python3 and sqlite3

// Refused: non-zero exit, exactly one line "mpp-field: ..." on stderr naming the problem.
void ExpectOneLineError(const ProcessResult& r, const std::string& names_problem) {
  EXPECT_FALSE(r.timed_out) << r;
  EXPECT_NE(r.exit_code, 0) << r;
  EXPECT_THAT(r.err, StartsWith("mpp-field: ")) << r;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r;
  EXPECT_TRUE(!r.err.empty() && r.err.back() == '\n') << r;
  EXPECT_THAT(r.err, HasSubstr(names_problem)) << r;
}

// Every file under `dir` (recursively) with its raw bytes.
std::map<std::string, std::string> FilesIn(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) {
      files[fs::relative(entry.path(), dir).string()] = ReadFileOrDie(entry.path());
    }
  }
  return files;
}

// Names each file that was added, removed or changed (with the first differing byte), so a
// failure does not print whole database files.
std::string FileChanges(const std::map<std::string, std::string>& before,
                        const std::map<std::string, std::string>& after) {
  std::string changes;
  for (const auto& [name, bytes] : before) {
    auto it = after.find(name);
    if (it == after.end()) {
      changes += name + " removed; ";
    } else if (it->second != bytes) {
      const auto diff =
          std::mismatch(bytes.begin(), bytes.end(), it->second.begin(), it->second.end());
      changes += name + " changed at byte " + std::to_string(diff.first - bytes.begin()) + "; ";
    }
  }
  for (const auto& [name, bytes] : after) {
    if (!before.count(name)) changes += name + " added; ";
  }
  return changes;
}

void WriteFile(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

// A NIK that passes validation: Kubu Raya (61.12.07), man born 1990-03-15, the given serial.
std::string Nik(int serial) {
  char serial_digits[5];
  std::snprintf(serial_digits, sizeof serial_digits, "%04d", serial);
  return std::string("611207150390") + serial_digits;
}

using Form = std::map<std::string, std::string>;

// A complete, valid KTP-el form; tests drop or replace fields of it.
Form KtpForm(const std::string& nik) {
  return {{"nik", nik},
          {"name", "Hendra Saputra"},
          {"birth_date", "1990-03-15"},
          {"address", "Jl. Adisucipto No. 12, RT 003/RW 002, Desa Arang Limbung"},
          {"village_code", "61.12.07.2001"},
          {"alasan", "baru"},
          {"agama", "islam"},
          {"status_kawin", "kawin tercatat"},
          {"pekerjaan", "petani/pekebun"}};
}

// `request new --service SERVICE --set key=value ...`
std::vector<std::string> NewRequest(const std::string& service, const Form& form) {
  std::vector<std::string> args = {"request", "new", "--service", service};
  for (const auto& [key, value] : form) {
    args.push_back("--set");
    args.push_back(key + "=" + value);
  }
  return args;
}

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

class MppFieldCli : public ::testing::Test {
 protected:
  // Runs mpp-field with MPP_FIELD_DATA at this test's data dir and the passphrase of the test.
  ProcessResult Field(const std::vector<std::string>& args) {
    std::vector<std::string> env = {kPath, "LANG=C.UTF-8", "MPP_FIELD_DATA=" + data_dir_};
    if (passphrase_) env.push_back("MPP_PASSPHRASE=" + *passphrase_);
    return RunProcess(Concat({MPP_FIELD_BIN}, args), env);
  }

  // Runs a command that must succeed quietly and parses its JSON output.
  json FieldJson(const std::vector<std::string>& args) {
    const ProcessResult r = Field(args);
    EXPECT_EQ(r.exit_code, 0) << r;
    EXPECT_EQ(r.err, "") << r;
    json j = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r;
    return j;
  }

  void Init() {
    const ProcessResult r = Field(
        {"init", "--van-code", "KR01", "--officer", "Siti Rahmawati", "--kdf-memory-kib", "64"});
    ASSERT_EQ(r.exit_code, 0) << r;
  }

  json NewKtp(int serial) {
    return FieldJson(Concat(NewRequest(kKtp, KtpForm(Nik(serial))), {"--json"}));
  }

  // What an officer can observe of the store: its requests and its pending mutations.
  struct Observed {
    json list;
    int64_t pending = -1;
  };
  Observed Observe() {
    const auto saved = passphrase_;
    passphrase_ = kPassphrase;
    Observed o{FieldJson({"request", "list", "--json"}),
               FieldJson({"status", "--json"}).value("pending", int64_t{-1})};
    passphrase_ = saved;
    return o;
  }

  // A store holding one registered request, the state a bad-input test starts from.
  json InitWithOneRequest() {
    Init();
    return NewKtp(1);
  }

  // The command is refused with one line naming the problem, and the store is as before.
  void ExpectRefusedWithoutChange(const std::vector<std::string>& args,
                                  const std::string& names_problem) {
    const Observed before = Observe();
    ExpectOneLineError(Field(args), names_problem);
    const Observed after = Observe();
    EXPECT_EQ(after.list, before.list);
    EXPECT_EQ(after.pending, before.pending);
  }

  TempDir temp_;
  std::string data_dir_ = temp_.Sub("van");
  std::optional<std::string> passphrase_ = kPassphrase;
};

// --- init ------------------------------------------------------------------------------------

TEST_F(MppFieldCli, InitPrintsTheDeviceFingerprint) {
  const ProcessResult r = Field(
      {"init", "--van-code", "KR01", "--officer", "Siti Rahmawati", "--kdf-memory-kib", "64"});
  ASSERT_EQ(r.exit_code, 0) << r;
  std::smatch printed;
  ASSERT_TRUE(std::regex_search(r.out, printed, std::regex(R"(SHA256:\S+)"))) << r;
  EXPECT_EQ(FieldJson({"status", "--json"})["fingerprint"], printed[0].str());
}

TEST_F(MppFieldCli, SecondInitInTheSameDirectoryFailsWithOneLine) {
  Init();
  const auto files_before = FilesIn(data_dir_);
  ExpectOneLineError(
      Field({"init", "--van-code", "KR02", "--officer", "Budi", "--kdf-memory-kib", "64"}),
      "already exists");
  EXPECT_EQ(FileChanges(files_before, FilesIn(data_dir_)), "");
  EXPECT_EQ(FieldJson({"status", "--json"})["van_code"], "KR01");
}

// --- catalog ---------------------------------------------------------------------------------

TEST_F(MppFieldCli, CatalogJsonListsFifteenAgenciesAndNinetyServices) {
  Init();
  const json catalog = FieldJson({"catalog", "--json"});
  ASSERT_TRUE(catalog["agencies"].is_array());
  ASSERT_TRUE(catalog["services"].is_array());
  EXPECT_EQ(catalog["agencies"].size(), 15u);
  EXPECT_EQ(catalog["services"].size(), 90u);
  for (const auto& a : catalog["agencies"]) {
    EXPECT_TRUE(a.contains("id") && a.contains("name")) << a;
  }
  for (const auto& s : catalog["services"]) {
    for (const char* key : {"id", "agency", "name", "fields"}) {
      EXPECT_TRUE(s.contains(key)) << key << " missing in " << s;
    }
    EXPECT_TRUE(s["fields"].is_array()) << s;
  }
}

TEST_F(MppFieldCli, CatalogAgencyFilterKeepsOnlyThatAgency) {
  Init();
  const json catalog = FieldJson({"catalog", "--agency", "dukcapil", "--json"});
  ASSERT_EQ(catalog["agencies"].size(), 1u);
  EXPECT_EQ(catalog["agencies"][0]["id"], "dukcapil");
  ASSERT_FALSE(catalog["services"].empty());
  std::set<std::string> ids;
  for (const auto& s : catalog["services"]) {
    EXPECT_EQ(s["agency"], "dukcapil") << s;
    ids.insert(s["id"].get<std::string>());
  }
  EXPECT_TRUE(ids.count(kKtp));
}

TEST_F(MppFieldCli, CatalogRefusesAnUnknownAgency) {
  Init();
  ExpectOneLineError(Field({"catalog", "--agency", "dinas-pariwisata", "--json"}),
                     "unknown agency \"dinas-pariwisata\"");
}

// --- registering and reading requests --------------------------------------------------------

TEST_F(MppFieldCli, NewRequestPrintsIdAndReceiptAsJson) {
  Init();
  const json first = NewKtp(1);
  const json second = NewKtp(2);
  ASSERT_TRUE(first.is_object());
  ASSERT_TRUE(first["id"].is_string() && first["receipt"].is_string()) << first;
  // Timings beside the result: the command's own work, and the passphrase derivation apart.
  EXPECT_TRUE(first["duration_ms"].is_number_integer()) << first;
  EXPECT_TRUE(first["unlock_ms"].is_number_integer()) << first;
  EXPECT_FALSE(first["id"].get<std::string>().empty());
  const std::regex receipt(R"(KR01-(\d{8})-(\d{4}))");
  std::smatch m1, m2;
  const std::string r1 = first["receipt"], r2 = second["receipt"];
  ASSERT_TRUE(std::regex_match(r1, m1, receipt)) << r1;
  ASSERT_TRUE(std::regex_match(r2, m2, receipt)) << r2;
  EXPECT_EQ(m1[2], "0001");
  EXPECT_EQ(m2[2], "0002");
  EXPECT_NE(first["id"], second["id"]);
}

TEST_F(MppFieldCli, ListJsonShowsEachRequestWithItsFieldsAndPendingTrue) {
  Init();
  const json created = NewKtp(7);
  const json list = FieldJson({"request", "list", "--json"});
  ASSERT_TRUE(list.is_array());
  ASSERT_EQ(list.size(), 1u);
  const json& item = list[0];
  EXPECT_EQ(item["id"], created["id"]);
  EXPECT_EQ(item["receipt"], created["receipt"]);
  EXPECT_EQ(item["service_id"], kKtp);
  EXPECT_EQ(item["status"], "submitted");
  ASSERT_TRUE(item["fields"].is_object()) << item;
  EXPECT_EQ(item["fields"]["nik"], Nik(7));
  EXPECT_EQ(item["fields"]["pekerjaan"], "petani/pekebun");
  EXPECT_EQ(item["pending"], true);
}

TEST_F(MppFieldCli, ShowJsonHasTheListKeysPlusHistoryByIdOrReceipt) {
  Init();
  const json created = NewKtp(3);
  for (const std::string& key :
       {created["id"].get<std::string>(), created["receipt"].get<std::string>()}) {
    const json shown = FieldJson({"request", "show", key, "--json"});
    EXPECT_EQ(shown["id"], created["id"]);
    EXPECT_EQ(shown["receipt"], created["receipt"]);
    EXPECT_EQ(shown["service_id"], kKtp);
    EXPECT_EQ(shown["status"], "submitted");
    EXPECT_TRUE(shown["fields"].is_object());
    EXPECT_EQ(shown["pending"], true);
    ASSERT_TRUE(shown["history"].is_array()) << shown;
    EXPECT_FALSE(shown["history"].empty()) << shown;
  }
}

TEST_F(MppFieldCli, JsonIsAcceptedBeforeOrAfterTheCommandsOwnArguments) {
  Init();
  const json after = NewKtp(4);  // --json is the last argument
  const json before = FieldJson(Concat({"--json"}, NewRequest(kKtp, KtpForm(Nik(5)))));
  EXPECT_TRUE(before.contains("receipt")) << before;
  EXPECT_TRUE(FieldJson({"request", "show", after["receipt"], "--json"}).is_object());
  EXPECT_TRUE(FieldJson({"request", "list", "--service", kKtp, "--json"}).is_array());
  EXPECT_TRUE(FieldJson({"catalog", "--agency", "pln", "--json"}).is_object());
}

// --- bad input: refused with one line, nothing in the store changes ------------------------------

TEST_F(MppFieldCli, UnknownServiceIsRefused) {
  InitWithOneRequest();
  ExpectRefusedWithoutChange(NewRequest("dukcapil.ktp-palsu", KtpForm(Nik(2))),
                             "unknown service \"dukcapil.ktp-palsu\"");
}

TEST_F(MppFieldCli, MissingRequiredFieldIsRefused) {
  InitWithOneRequest();
  Form form = KtpForm(Nik(2));
  form.erase("agama");
  ExpectRefusedWithoutChange(NewRequest(kKtp, form), "field agama (Agama) is required");
}

TEST_F(MppFieldCli, UnknownFieldIsRefused) {
  InitWithOneRequest();
  Form form = KtpForm(Nik(2));
  form["hobi"] = "memancing";
  ExpectRefusedWithoutChange(NewRequest(kKtp, form), "unknown field \"hobi\"");
}

TEST_F(MppFieldCli, MalformedNikIsRefusedNamingTheWrongDigits) {
  InitWithOneRequest();
  const std::string day_32 = "6112073203900001";
  ExpectRefusedWithoutChange(NewRequest(kKtp, KtpForm(day_32)), "digits 7-8");
  const std::string province_99 = "9912071503900001";
  ExpectRefusedWithoutChange(NewRequest(kKtp, KtpForm(province_99)), "digits 1-2");
}

TEST_F(MppFieldCli, MalformedNikInAnUpdateIsRefused) {
  const json created = InitWithOneRequest();
  ExpectRefusedWithoutChange({"request", "update", created["id"], "--set", "nik=6112071513900001"},
                             "digits 9-10");
}

TEST_F(MppFieldCli, DeliveringARequestThatIsNotCompletedIsRefused) {
  const json created = InitWithOneRequest();
  ExpectRefusedWithoutChange({"request", "deliver", created["receipt"]},
                             "only a completed request can be delivered");
}

TEST_F(MppFieldCli, WrongPassphraseIsRefused) {
  InitWithOneRequest();
  passphrase_ = "bukan-kata-sandinya";
  ExpectRefusedWithoutChange({"request", "list", "--json"}, "wrong passphrase");
  ExpectRefusedWithoutChange(NewRequest(kKtp, KtpForm(Nik(2))), "wrong passphrase");
}

TEST_F(MppFieldCli, MissingPassphraseWithoutATerminalIsRefused) {
  InitWithOneRequest();
  passphrase_.reset();
  ExpectRefusedWithoutChange(NewRequest(kKtp, KtpForm(Nik(2))), "no passphrase");
}

TEST_F(MppFieldCli, InitWithoutPassphraseOrTerminalIsRefusedAndCreatesNoStore) {
  passphrase_.reset();
  ExpectOneLineError(Field({"init", "--van-code", "KR01", "--officer", "Siti Rahmawati",
                            "--kdf-memory-kib", "64"}),
                     "no passphrase");
  EXPECT_FALSE(fs::exists(fs::path(data_dir_) / "van.db"));
}

TEST_F(MppFieldCli, CorruptDatabaseFileIsRefusedAndLeftAsItIs) {
  InitWithOneRequest();
  const fs::path db = fs::path(data_dir_) / "van.db";
  std::string garbage(fs::file_size(db), '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>((i * 131 + 7) % 251);
  WriteFile(db, garbage);
  const auto files_before = FilesIn(data_dir_);
  ExpectOneLineError(Field({"status", "--json"}), "van.db");
  ExpectOneLineError(Field({"request", "list", "--json"}), "van.db");
  EXPECT_EQ(FileChanges(files_before, FilesIn(data_dir_)), "");
}

TEST_F(MppFieldCli, ForeignSqliteDatabaseIsRefusedAndLeftAsItIs) {
  fs::create_directories(data_dir_);
  const std::string db = (fs::path(data_dir_) / "van.db").string();
  const ProcessResult made =
      RunProcess({"sqlite3", db,
                  "CREATE TABLE panen(desa TEXT, ton REAL); INSERT INTO panen VALUES "
                  "('Arang Limbung', 12.5);"},
                 {kPath});
  ASSERT_EQ(made.exit_code, 0) << made;
  const auto files_before = FilesIn(data_dir_);
  ExpectOneLineError(Field({"status", "--json"}), "not an MPP van store");
  ExpectOneLineError(Field({"request", "list", "--json"}), "not an MPP van store");
  EXPECT_EQ(FileChanges(files_before, FilesIn(data_dir_)), "")
      << "a refused foreign database must be left as it was";
}

TEST_F(MppFieldCli, SetWithoutEqualsSignIsRefused) {
  InitWithOneRequest();
  ExpectRefusedWithoutChange(Concat(NewRequest(kKtp, KtpForm(Nik(2))), {"--set", "agama"}),
                             "--set \"agama\" must look like key=value");
}

TEST_F(MppFieldCli, UnknownStatusFilterIsRefused) {
  InitWithOneRequest();
  ExpectRefusedWithoutChange({"request", "list", "--status", "selesai", "--json"},
                             "unknown status \"selesai\"");
}

TEST_F(MppFieldCli, UnknownRequestIdIsRefused) {
  InitWithOneRequest();
  ExpectRefusedWithoutChange({"request", "cancel", "KR01-20240101-9999", "--reason", "x"},
                             "no request with id or receipt KR01-20240101-9999");
}

TEST_F(MppFieldCli, CommandsWithoutAStoreAreRefused) {
  ExpectOneLineError(Field({"status", "--json"}), "mpp-field init");
  EXPECT_FALSE(fs::exists(fs::path(data_dir_) / "van.db"));
}

// --- changing requests -----------------------------------------------------------------------

TEST_F(MppFieldCli, UpdateChangesTheFieldAndAddsAPendingMutation) {
  const json created = InitWithOneRequest();
  const int64_t pending_before = FieldJson({"status", "--json"})["pending"];
  const json updated = FieldJson(
      {"request", "update", created["id"], "--set", "pekerjaan=nelayan/perikanan", "--json"});
  EXPECT_EQ(updated["fields"]["pekerjaan"], "nelayan/perikanan");
  const json shown = FieldJson({"request", "show", created["receipt"], "--json"});
  EXPECT_EQ(shown["fields"]["pekerjaan"], "nelayan/perikanan");
  EXPECT_EQ(shown["fields"]["agama"], "islam");
  EXPECT_GT(FieldJson({"status", "--json"})["pending"].get<int64_t>(), pending_before);
}

TEST_F(MppFieldCli, CancelledRequestIsFinalAndCannotBeDelivered) {
  const json created = InitWithOneRequest();
  const json kept = NewKtp(2);
  const json cancelled = FieldJson(
      {"request", "cancel", created["receipt"], "--reason", "pemohon pindah domisili", "--json"});
  EXPECT_EQ(cancelled["status"], "cancelled");
  const json shown = FieldJson({"request", "show", created["id"], "--json"});
  EXPECT_THAT(shown["history"].dump(), HasSubstr("pemohon pindah domisili"));

  ExpectRefusedWithoutChange({"request", "deliver", created["id"]}, "which is final");

  const json only_cancelled = FieldJson({"request", "list", "--status", "cancelled", "--json"});
  ASSERT_EQ(only_cancelled.size(), 1u);
  EXPECT_EQ(only_cancelled[0]["id"], created["id"]);
  const json submitted = FieldJson({"request", "list", "--status", "submitted", "--json"});
  ASSERT_EQ(submitted.size(), 1u);
  EXPECT_EQ(submitted[0]["id"], kept["id"]);
}

TEST_F(MppFieldCli, CancelWithoutAReasonIsRefused) {
  const json created = InitWithOneRequest();
  ExpectRefusedWithoutChange({"request", "cancel", created["id"], "--reason", ""}, "--reason");
}

TEST_F(MppFieldCli, ListFiltersByServiceAndByNik) {
  Init();
  const json ktp_a = NewKtp(11);
  const json ktp_b = NewKtp(12);
  const Form kk_form = {{"nik", Nik(11)},
                        {"name", "Hendra Saputra"},
                        {"birth_date", "1990-03-15"},
                        {"address", "Desa Kuala Dua, Kec. Sungai Raya"},
                        {"village_code", "61.12.07.2001"},
                        {"alasan", "hilang"},
                        {"nama_kepala_keluarga", "Hendra Saputra"},
                        {"jumlah_anggota", "4"}};
  const json kk = FieldJson(Concat(NewRequest("dukcapil.kartu-keluarga", kk_form), {"--json"}));

  const json by_service =
      FieldJson({"request", "list", "--service", "dukcapil.kartu-keluarga", "--json"});
  ASSERT_EQ(by_service.size(), 1u);
  EXPECT_EQ(by_service[0]["id"], kk["id"]);

  std::set<std::string> by_nik;
  for (const auto& r : FieldJson({"request", "list", "--nik", Nik(11), "--json"})) {
    by_nik.insert(r["id"].get<std::string>());
  }
  EXPECT_EQ(by_nik,
            (std::set<std::string>{ktp_a["id"].get<std::string>(), kk["id"].get<std::string>()}));

  const json ktp_of_b =
      FieldJson({"request", "list", "--service", kKtp, "--nik", Nik(12), "--json"});
  ASSERT_EQ(ktp_of_b.size(), 1u);
  EXPECT_EQ(ktp_of_b[0]["id"], ktp_b["id"]);
  EXPECT_TRUE(FieldJson({"request", "list", "--nik", Nik(13), "--json"}).empty());
}

// --- import ----------------------------------------------------------------------------------

TEST_F(MppFieldCli, ImportStoresTheValidLinesAndReportsEachRefusedLine) {
  Init();
  const ProcessResult workload =
      RunProcess({"python3", std::string(MPP_SOURCE_DIR) + "/tools/workload", "--n", "300",
                  "--seed", "7", "--bad-rate", "0.05", "--explain"},
                 {kPath, "LANG=C.UTF-8"});
  ASSERT_EQ(workload.exit_code, 0) << workload.err;
  const std::string file = temp_.Sub("requests.jsonl");
  WriteFile(file, workload.out);

  size_t non_empty_lines = 0;
  std::istringstream lines(workload.out);
  for (std::string line; std::getline(lines, line);) non_empty_lines += !line.empty();
  ASSERT_EQ(non_empty_lines, 300u);
  std::set<size_t> bad_lines;  // --explain: "line N: <defect>" on stderr
  const std::regex explained(R"(line (\d+):)");
  for (std::sregex_iterator it(workload.err.begin(), workload.err.end(), explained), end; it != end;
       ++it) {
    bad_lines.insert(std::stoul((*it)[1]));
  }
  ASSERT_EQ(bad_lines.size(), 15u) << workload.err;

  const json report = FieldJson({"request", "import", "--file", file, "--json"});
  ASSERT_TRUE(report["refused"].is_array()) << report;
  const size_t imported = report["imported"];
  EXPECT_EQ(imported + report["refused"].size(), non_empty_lines);
  std::set<size_t> refused_lines;
  for (const auto& r : report["refused"]) {
    ASSERT_TRUE(r["line"].is_number_unsigned()) << r;
    EXPECT_GE(r["line"].get<size_t>(), 1u);
    EXPECT_LE(r["line"].get<size_t>(), 300u);
    EXPECT_FALSE(r["reason"].get<std::string>().empty()) << r;
    refused_lines.insert(r["line"].get<size_t>());
  }
  EXPECT_EQ(refused_lines, bad_lines);
  EXPECT_EQ(FieldJson({"request", "list", "--json"}).size(), imported);
  EXPECT_EQ(FieldJson({"status", "--json"})["pending"], imported);
}

// --- text people read (issue 9, THREATS.md rows 38-39) ---------------------------------------

TEST_F(MppFieldCli, BidiOverrideInANameIsRefusedWithOneLineAndChangesNothing) {
  InitWithOneRequest();
  Form form = KtpForm(Nik(2));
  form["name"] =
      "Siti\u202e"
      "Aminah";  // $'Siti\u202eAminah': displays as "Sitihanima"
  ExpectRefusedWithoutChange(NewRequest(kKtp, form),
                             "field name: contains a bidirectional override that changes how "
                             "text displays: U+202E RIGHT-TO-LEFT OVERRIDE (character 5)");
  // The message names the character; it never prints it.
  const ProcessResult r = Field(NewRequest(kKtp, form));
  EXPECT_EQ(r.err.find("\u202e"), std::string::npos) << r;
}

TEST_F(MppFieldCli, DecomposedNameIsStoredComposed) {
  Init();
  Form form = KtpForm(Nik(3));
  // e + COMBINING ACUTE ACCENT, as some keyboards and pasted text send it.
  form["name"] = "Jose\u0301 Rizal";
  form["address"] = "Jl. Pe\u0301mda, Sui Raya";
  const json created = FieldJson(Concat(NewRequest(kKtp, form), {"--json"}));
  const json shown = FieldJson({"request", "show", created["id"], "--json"});
  EXPECT_EQ(shown["fields"]["name"], "Jos\u00e9 Rizal") << shown;
  EXPECT_EQ(shown["fields"]["address"], "Jl. P\u00e9mda, Sui Raya") << shown;
  // An update is normalised the same way.
  FieldJson({"request", "update", created["id"], "--set", "name=Jose\u0301 Mari\u0301a", "--json"});
  EXPECT_EQ(FieldJson({"request", "show", created["id"], "--json"})["fields"]["name"],
            "Jos\u00e9 Mar\u00eda");
}

TEST_F(MppFieldCli, ImportRefusesRepeatedKeysAndBidiAndStoresDecomposedTextComposed) {
  Init();
  const auto line = [](const Form& form) {
    return json{{"service_id", kKtp}, {"fields", form}}.dump() + "\n";
  };
  Form decomposed = KtpForm(Nik(4));
  decomposed["name"] = "Jose\u0301";
  Form bidi = KtpForm(Nik(5));
  bidi["name"] =
      "Siti\u202e"
      "Aminah";
  std::string repeated = line(KtpForm(Nik(6)));
  const std::string fields_open = R"("fields":{)";
  repeated.insert(repeated.find(fields_open) + fields_open.size(), R"("nik":")" + Nik(7) + "\",");
  const std::string file = temp_.Sub("requests.jsonl");
  WriteFile(file, line(decomposed) + repeated + line(bidi));

  const json report = FieldJson({"request", "import", "--file", file, "--json"});
  EXPECT_EQ(report["imported"], 1) << report;
  ASSERT_EQ(report["refused"].size(), 2u) << report;
  EXPECT_EQ(report["refused"][0]["line"], 2);
  EXPECT_EQ(report["refused"][0]["reason"], "duplicate key \"nik\"");
  EXPECT_EQ(report["refused"][1]["line"], 3);
  EXPECT_THAT(report["refused"][1]["reason"].get<std::string>(),
              HasSubstr("field name: contains a bidirectional override"));
  const json list = FieldJson({"request", "list", "--json"});
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["fields"]["name"], "Jos\u00e9");
}

TEST_F(MppFieldCli, ImportOfAMissingFileIsRefused) {
  InitWithOneRequest();
  ExpectRefusedWithoutChange({"request", "import", "--file", temp_.Sub("tidak-ada.jsonl")},
                             "cannot read");
}

// --- at rest and status ----------------------------------------------------------------------

TEST_F(MppFieldCli, RegisteredNikAppearsInNoFileOfTheDataDir) {
  Init();
  const json created = NewKtp(4321);
  FieldJson({"request", "update", created["id"], "--set", "catatan=NIK " + Nik(4321) + " dicek",
             "--json"});
  const auto files = FilesIn(data_dir_);
  ASSERT_FALSE(files.empty());
  for (const auto& [name, bytes] : files) {
    EXPECT_EQ(bytes.find(Nik(4321)), std::string::npos) << "NIK in plain text in " << name;
  }
  // Still found by NIK: the lookup does not need the plain text on disk.
  EXPECT_EQ(FieldJson({"request", "list", "--nik", Nik(4321), "--json"}).size(), 1u);
}

TEST_F(MppFieldCli, StatusJsonShowsDeviceVanOfficerAndPending) {
  Init();
  const json fresh = FieldJson({"status", "--json"});
  EXPECT_TRUE(fresh["device_id"].is_string() && !fresh["device_id"].get<std::string>().empty());
  EXPECT_EQ(fresh["van_code"], "KR01");
  EXPECT_EQ(fresh["officer"], "Siti Rahmawati");
  EXPECT_EQ(fresh["pending"], 0);
  NewKtp(1);
  NewKtp(2);
  const json after = FieldJson({"status", "--json"});
  EXPECT_EQ(after["pending"], 2);
  EXPECT_EQ(after["device_id"], fresh["device_id"]);
}

TEST_F(MppFieldCli, StatusWorksWithoutThePassphrase) {
  Init();
  passphrase_.reset();
  EXPECT_EQ(FieldJson({"status", "--json"})["van_code"], "KR01");
}

// --- the rules of a request (issue 10) ----------------------------------------------------

TEST_F(MppFieldCli, ACancelledRequestRefusesEveryFieldChange) {
  const json created = InitWithOneRequest();
  FieldJson({"request", "cancel", created["receipt"], "--reason", "pemohon pindah", "--json"});
  ExpectRefusedWithoutChange({"request", "update", created["receipt"], "--set", "name=Hendra S."},
                             "the request is cancelled, which is final");
}

TEST_F(MppFieldCli, AnAnswerNeedsARequestWaitingForInformation) {
  const json created = InitWithOneRequest();
  ExpectRefusedWithoutChange(
      {"request", "answer", created["receipt"], "--set", "pekerjaan=nelayan/perikanan"},
      "only a request that needs information can be answered; this one is submitted");
}

TEST_F(MppFieldCli, EveryProblemOfAFormIsReportedAtOnce) {
  Init();
  Form form = KtpForm(Nik(1));
  form["nik"] = "61120715039";
  form["phone"] = "12345";
  form.erase("name");
  const Observed before = Observe();
  const ProcessResult r = Field(NewRequest(kKtp, form));
  EXPECT_NE(r.exit_code, 0) << r;
  // A summary line, then one line per field.
  EXPECT_THAT(r.err, StartsWith("mpp-field: refused: 3 problems:")) << r;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 4) << r;
  EXPECT_THAT(r.err, HasSubstr("\n  field nik: NIK must be 16 digits")) << r;
  EXPECT_THAT(r.err, HasSubstr("\n  field phone: ")) << r;
  EXPECT_THAT(r.err, HasSubstr("\n  field name (Nama lengkap) is required")) << r;
  // --json: the same problems as a list.
  const ProcessResult j = Field(Concat(NewRequest(kKtp, form), {"--json"}));
  EXPECT_NE(j.exit_code, 0) << j;
  const json answer = json::parse(j.out, nullptr, false);
  ASSERT_TRUE(answer.contains("problems")) << j;
  EXPECT_EQ(answer["problems"].size(), 3u) << j;
  const Observed after = Observe();
  EXPECT_EQ(after.list, before.list);
  EXPECT_EQ(after.pending, before.pending);
}

TEST_F(MppFieldCli, ANikThatDisagreesWithTheBirthDateIsRefusedNamingBothParts) {
  Init();
  Form form = KtpForm(Nik(1));  // NIK digits 7-12: 150390
  form["birth_date"] = "1990-04-15";
  ExpectRefusedWithoutChange(NewRequest(kKtp, form), "NIK digits 7-12 are 150390");
  ExpectRefusedWithoutChange(NewRequest(kKtp, form), "the birth date is day 15, month 04");
  form["birth_date"] = "2031-03-15";
  form["nik"] = "6112071503310001";
  ExpectRefusedWithoutChange(NewRequest(kKtp, form), "2031-03-15 is in the future");
}

TEST_F(MppFieldCli, WhatPeopleWriteIsStoredInTheFormsSpelling) {
  Init();
  Form form = KtpForm(Nik(1));
  form["birth_date"] = "15-03-1990";
  form["phone"] = "+62 812-3456-7890";
  form["agama"] = "Islam";
  form["status_kawin"] = "KAWIN TERCATAT";
  const json created = FieldJson(Concat(NewRequest(kKtp, form), {"--json"}));
  const json shown = FieldJson({"request", "show", created["receipt"], "--json"});
  EXPECT_EQ(shown["fields"]["birth_date"], "1990-03-15");
  EXPECT_EQ(shown["fields"]["phone"], "081234567890");
  EXPECT_EQ(shown["fields"]["agama"], "islam");
  EXPECT_EQ(shown["fields"]["status_kawin"], "kawin tercatat");
}

TEST_F(MppFieldCli, ASecondOpenRequestForTheSameCitizenAndServiceNeedsForce) {
  const json first = InitWithOneRequest();
  ExpectRefusedWithoutChange(NewRequest(kKtp, KtpForm(Nik(1))),
                             "this NIK already has an open request for dukcapil.ktp-el on this "
                             "van: " +
                                 first["receipt"].get<std::string>() + " (submitted)");
  const json forced = FieldJson(Concat(NewRequest(kKtp, KtpForm(Nik(1))), {"--force", "--json"}));
  EXPECT_NE(forced["receipt"], first["receipt"]);
  // Another citizen, or the same one once the first request ended, needs no --force.
  NewKtp(2);
  FieldJson({"request", "cancel", first["receipt"], "--reason", "salah input", "--json"});
  FieldJson({"request", "cancel", forced["receipt"], "--reason", "salah input", "--json"});
  NewKtp(1);
}

TEST_F(MppFieldCli, AnImportRefusesLinesOfCitizensWithAnOpenRequestUnlessForced) {
  const json first = InitWithOneRequest();  // Nik(1)
  const auto line = [](const std::string& nik) {
    return json{{"service_id", kKtp}, {"fields", KtpForm(nik)}}.dump() + "\n";
  };
  const std::string file = temp_.Sub("day.jsonl");
  WriteFile(file, line(Nik(2)) + line(Nik(1)) + line(Nik(2)) + line(Nik(3)));
  const json report = FieldJson({"request", "import", "--file", file, "--json"});
  EXPECT_EQ(report["imported"], 2) << report;
  ASSERT_EQ(report["refused"].size(), 2u) << report;
  EXPECT_EQ(report["refused"][0]["line"], 2);
  EXPECT_THAT(report["refused"][0]["reason"].get<std::string>(),
              HasSubstr(first["receipt"].get<std::string>()));
  EXPECT_EQ(report["refused"][1]["line"], 3);
  EXPECT_THAT(report["refused"][1]["reason"].get<std::string>(),
              HasSubstr("the same citizen (NIK) and service as line 1"));
  const std::string again = temp_.Sub("again.jsonl");
  WriteFile(again, line(Nik(1)));
  EXPECT_EQ(FieldJson({"request", "import", "--file", again, "--force", "--json"})["imported"], 1);
}

}  // namespace
}  // namespace mpp::test
