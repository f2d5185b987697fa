// mpp-field: the officer's command-line program on the van. Every command works offline.
// Errors print one line on stderr ("mpp-field: <reason>") and exit non-zero.
#include <curl/curl.h>
#include <pthread.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "mpp/field/json_format.h"
#include "mpp/field/passphrase.h"
#include "mpp/field/sync_client.h"
#include "mpp/field/use_cases.h"
#include "mpp/field_web/van_web.h"
#include "mpp/store/van_store.h"
#include "mpp/sync/curl_transport.h"
#include "mpp/sync/enrollment_qr.h"
#include "mpp/sync/json_format.h"
#include "mpp/sync/local_time.h"

namespace {

using mpp::Error;
using mpp::Result;
using nlohmann::json;

struct Options {
  std::string data_dir;
  bool json_output = false;
  bool verbose = false;
  // Times for people are shown in this zone (--time-zone, else MPP_TIME_ZONE, else WIB).
  std::string time_zone_text;
  mpp::sync::TimeZone zone;
  // officer set
  std::string new_officer;
  // init
  std::string van_code, officer, catalog_file;
  uint32_t kdf_memory_kib = mpp::crypto::Argon2Params{}.memory_kib;
  // catalog / list
  std::string agency, status, service, nik;
  // request commands
  std::vector<std::string> assignments;
  std::string id, reason, import_file;
  std::string received_by;  // request deliver --to
  bool force = false;  // request new: even when the citizen has an open request for the service
  // enroll / sync
  std::string server_url, token, server_key, enroll_qr;
  // sync --server: this one sync goes to another address of the same deployment (another
  // server process on the same database); the enrolled URL and the pinned server key stay.
  std::string sync_server_url;
  size_t batch_size = mpp::field::SyncOptions{}.batch_size;
  int attempts = mpp::field::SyncOptions{}.max_attempts;
  // serve-ui
  std::string listen = "127.0.0.1:8090";
  std::string lan;
  int idle_lock_minutes = 10;
};

int Fail(const Error& error) {
  if (error.details().empty()) {
    std::cerr << "mpp-field: " << error.message() << "\n";
    return 1;
  }
  // Several problems (every invalid field of a form): the summary, then one line each.
  const std::string& message = error.message();
  std::cerr << "mpp-field: " << message.substr(0, message.find(error.details().front())) << "\n";
  for (const auto& detail : error.details()) std::cerr << "  " << detail << "\n";
  return 1;
}

// The error with what to type next, for this program: the libraries' messages speak of the
// domain only. On the same line (errors are one line); only for errors without details.
Error WithHint(const Error& error, const std::string& hint) {
  return Error(error.code(), error.message() + "; " + hint);
}

// Fail for a command that was asked for --json: the reason and its problems also as JSON on
// stdout, so a program sees every field at once.
int Fail(const Options& o, const Error& error) {
  if (o.json_output) {
    json problems =
        error.details().empty() ? json::array({error.message()}) : json(error.details());
    std::cout << json{{"error", error.message()}, {"problems", problems}}.dump() << "\n";
  }
  return Fail(error);
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::NotFound("cannot read " + path);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// The passphrase: MPP_PASSPHRASE, or asked on the terminal with echo off. `new_one`: the new
// passphrase of `passphrase change`, from MPP_NEW_PASSPHRASE or asked twice.
Result<std::string> Passphrase(bool confirm, bool new_one = false) {
  const char* const variable = new_one ? "MPP_NEW_PASSPHRASE" : "MPP_PASSPHRASE";
  if (const char* env = std::getenv(variable)) return std::string(env);
  if (!isatty(STDIN_FILENO)) {
    return Error::InvalidInput(std::string(new_one ? "no new passphrase" : "no passphrase") +
                               ": set " + variable + " or run on a terminal");
  }
  auto ask = [](const char* prompt) {
    std::cerr << prompt << std::flush;
    termios old_mode{};
    tcgetattr(STDIN_FILENO, &old_mode);
    termios quiet = old_mode;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    std::string line;
    std::getline(std::cin, line);
    tcsetattr(STDIN_FILENO, TCSANOW, &old_mode);
    std::cerr << "\n";
    return line;
  };
  std::string first = ask(new_one ? "New passphrase: " : "Passphrase: ");
  if (confirm && ask(new_one ? "Repeat new passphrase: " : "Repeat passphrase: ") != first) {
    return Error::InvalidInput("the passphrases do not match");
  }
  return first;
}

Result<std::string> DataDir(const Options& o) {
  if (!o.data_dir.empty()) return o.data_dir;
  return Error::InvalidInput("no data directory: give --data DIR or set MPP_FIELD_DATA");
}

int64_t MillisSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start)
      .count();
}

// Opens the store, and unlocks it when asked. The passphrase derivation is deliberately slow
// (Argon2id), so its time goes to *unlock_ms, to be reported apart from the command's own work.
Result<std::unique_ptr<mpp::store::VanStore>> OpenStore(const Options& o, bool unlock,
                                                        mpp::sync::Clock& clock,
                                                        mpp::sync::Rng& rng,
                                                        int64_t* unlock_ms = nullptr) {
  MPP_ASSIGN_OR_RETURN(std::string dir, DataDir(o));
  auto opened = mpp::store::VanStore::Open(dir, clock, rng);
  if (!opened && opened.error().code() == mpp::ErrorCode::kNotFound) {
    return WithHint(opened.error(), "run `mpp-field init`");
  }
  MPP_ASSIGN_OR_RETURN(auto store, std::move(opened));
  if (unlock) {
    MPP_ASSIGN_OR_RETURN(std::string passphrase, Passphrase(false));
    const auto started = std::chrono::steady_clock::now();
    MPP_RETURN_IF_ERROR(store->Unlock(passphrase));
    if (unlock_ms != nullptr) *unlock_ms = MillisSince(started);
  }
  return store;
}

// `catalog`, when given, labels each field as its form does: "Nama lengkap (name): Siti".
void PrintRequest(const Options& o, const mpp::sync::Request& r, bool pending, bool with_history,
                  const mpp::sync::Catalog* catalog = nullptr) {
  std::cout << r.receipt << "  " << mpp::sync::StatusName(r.status) << (pending ? "*" : "") << "  "
            << r.service_id << "  " << r.id << "\n";
  const mpp::sync::Service* service =
      catalog == nullptr ? nullptr : catalog->FindService(r.service_id);
  for (const auto& [name, value] : r.fields) {
    const mpp::sync::FieldSpec* spec = service == nullptr ? nullptr : service->FindField(name);
    std::cout << "    ";
    if (spec != nullptr && !spec->label.empty() && spec->label != name) {
      std::cout << spec->label << " (" << name << ")";
    } else {
      std::cout << name;
    }
    std::cout << ": " << value.value << "\n";
  }
  if (with_history) {
    for (const auto& h : r.history) {
      std::cout << "    [" << mpp::sync::FormatLocalTime(h.at.wall_ms, o.zone) << "] " << h.actor
                << ": " << h.text << "\n";
    }
  }
}

// The request as RequestToJson writes it (times in ms), with each time also as people read it.
json RowJson(const Options& o, const mpp::store::RequestRow& row, bool with_history) {
  json j = mpp::sync::RequestToJson(row.view, with_history);
  j["pending"] = row.pending;
  j["created_local"] = mpp::sync::FormatLocalTime(row.view.created.wall_ms, o.zone);
  if (with_history) {
    for (auto& h : j["history"]) {
      h["at_local"] = mpp::sync::FormatLocalTime(h["at_ms"].get<int64_t>(), o.zone);
    }
  }
  return j;
}

int RunInit(const Options& o, mpp::sync::Clock& clock, mpp::sync::Rng& rng) {
  auto dir = DataDir(o);
  if (!dir) return Fail(dir.error());
  std::string catalog_path = o.catalog_file.empty() ? MPP_DEFAULT_CATALOG : o.catalog_file;
  auto catalog = ReadFile(catalog_path);
  if (!catalog) return Fail(catalog.error());
  auto passphrase = Passphrase(true);
  if (!passphrase) return Fail(passphrase.error());
  auto strong = mpp::field::CheckPassphraseStrength(
      *passphrase, mpp::field::PassphraseUserWords(o.van_code, o.officer));
  if (!strong) return Fail(strong.error());
  mpp::store::InitOptions init{o.van_code, o.officer, *catalog, {}};
  init.kdf.memory_kib = o.kdf_memory_kib;
  auto store = mpp::store::VanStore::Create(*dir, *passphrase, init, clock, rng);
  if (!store) return Fail(store.error());
  auto device = (*store)->Device();
  if (!device) return Fail(device.error());
  if (o.json_output) {
    std::cout << json{{"device_id", device->device_id}, {"fingerprint", device->fingerprint}}.dump()
              << "\n";
  } else {
    std::cout << "Store created in " << *dir << " for van " << device->van_code << ".\n"
              << "Device key fingerprint:\n"
              << device->fingerprint << "\n";
  }
  return 0;
}

int RunCatalog(const Options& o, mpp::sync::Clock& clock, mpp::sync::Rng& rng) {
  auto store = OpenStore(o, false, clock, rng);
  if (!store) return Fail(store.error());
  auto catalog = (*store)->Catalog();
  if (!catalog) return Fail(catalog.error());
  if (!o.agency.empty() && catalog->FindAgency(o.agency) == nullptr) {
    return Fail(Error::InvalidInput("unknown agency \"" + o.agency + "\""));
  }
  json j = mpp::sync::CatalogToJson(*catalog, o.agency);
  if (o.json_output) {
    std::cout << j.dump() << "\n";
    return 0;
  }
  for (const auto& a : j["agencies"]) {
    std::cout << a["id"].get<std::string>() << "  " << a["name"].get<std::string>() << "\n";
    for (const auto& s : j["services"]) {
      if (s["agency"] != a["id"]) continue;
      std::cout << "    " << s["id"].get<std::string>() << "  " << s["name"].get<std::string>()
                << "\n";
    }
  }
  return 0;
}

int RunNew(const Options& o, mpp::sync::Clock& clock, mpp::sync::Rng& rng) {
  auto fields = mpp::sync::ParseAssignments(o.assignments);
  if (!fields) return Fail(fields.error());
  int64_t unlock_ms = 0;
  auto store = OpenStore(o, true, clock, rng, &unlock_ms);
  if (!store) return Fail(store.error());
  const auto started = std::chrono::steady_clock::now();
  mpp::field::RegisterOptions register_options;
  register_options.force = o.force;
  auto request = mpp::field::RegisterRequest(**store, o.service, *fields, register_options);
  if (!request && request.error().code() == mpp::ErrorCode::kConflict) {
    return Fail(o, WithHint(request.error(), "if so, repeat with --force"));
  }
  if (!request) return Fail(o, request.error());
  if (o.json_output) {
    std::cout << json{{"id", request->id},
                      {"receipt", request->receipt},
                      {"duration_ms", MillisSince(started)},
                      {"unlock_ms", unlock_ms}}
                     .dump()
              << "\n";
  } else {
    std::cout << "Registered " << request->receipt << " (" << request->id << ")\n";
  }
  return 0;
}

int RunImport(const Options& o, mpp::sync::Clock& clock, mpp::sync::Rng& rng) {
  int64_t unlock_ms = 0;
  auto store = OpenStore(o, true, clock, rng, &unlock_ms);
  if (!store) return Fail(store.error());
  std::error_code ec;
  const auto total_bytes = std::filesystem::file_size(o.import_file, ec);
  const bool show_progress = isatty(STDERR_FILENO) && !ec && total_bytes > 0;
  auto progress = [&](size_t lines, size_t bytes) {
    if (!show_progress) return;
    const int percent = static_cast<int>(100.0 * static_cast<double>(bytes) / total_bytes);
    const int filled = percent / 5;
    std::cerr << "\r[" << std::string(filled, '#') << std::string(20 - filled, ' ') << "] "
              << percent << "%  " << lines << " lines" << std::flush;
  };
  const auto started = std::chrono::steady_clock::now();
  mpp::field::RegisterOptions register_options;
  register_options.force = o.force;
  auto report = mpp::field::ImportFile(**store, o.import_file, progress, register_options);
  const int64_t duration_ms = MillisSince(started);
  if (show_progress) std::cerr << "\n";
  if (!report) return Fail(report.error());
  if (o.json_output) {
    json refused = json::array();
    for (const auto& r : report->refused)
      refused.push_back({{"line", r.line}, {"reason", r.reason}, {"duplicate", r.duplicate}});
    std::cout << json{{"imported", report->imported},
                      {"refused", refused},
                      {"duration_ms", duration_ms},
                      {"unlock_ms", unlock_ms}}
                     .dump()
              << "\n";
  } else {
    std::cout << "Imported " << report->imported << " requests, refused " << report->refused.size()
              << " lines.\n";
    bool duplicates = false;
    for (const auto& r : report->refused) {
      std::cout << "  line " << r.line << ": " << r.reason << "\n";
      duplicates = duplicates || r.duplicate;
    }
    if (duplicates) {
      std::cout << "Lines of citizens who really ask twice: import them with --force.\n";
    }
  }
  return 0;
}

int RunList(const Options& o, mpp::sync::Clock& clock, mpp::sync::Rng& rng) {
  mpp::store::RequestFilter filter;
  if (!o.status.empty()) {
    filter.status = mpp::sync::ParseStatus(o.status);
    if (!filter.status) return Fail(Error::InvalidInput("unknown status \"" + o.status + "\""));
  }
  if (!o.service.empty()) filter.service_id = o.service;
  if (!o.nik.empty()) filter.nik = o.nik;
  auto store = OpenStore(o, true, clock, rng);
  if (!store) return Fail(store.error());
  auto rows = (*store)->List(filter);
  if (!rows) return Fail(rows.error());
  if (o.json_output) {
    json out = json::array();
    for (const auto& row : *rows) out.push_back(RowJson(o, row, false));
    std::cout << out.dump() << "\n";
  } else {
    for (const auto& row : *rows) PrintRequest(o, row.view, row.pending, false);
    std::cout << rows->size() << " requests (* = not yet synced)\n";
  }
  return 0;
}

int RunShow(const Options& o, mpp::sync::Clock& clock, mpp::sync::Rng& rng) {
  auto store = OpenStore(o, true, clock, rng);
  if (!store) return Fail(store.error());
  auto row = (*store)->Find(o.id);
  if (!row) return Fail(row.error());
  if (o.json_output) {
    std::cout << RowJson(o, *row, true).dump() << "\n";
  } else {
    auto catalog = (*store)->Catalog();
    if (!catalog) return Fail(catalog.error());
    PrintRequest(o, row->view, row->pending, true, &*catalog);
  }
  return 0;
}

int RunChange(const Options& o, mpp::sync::Clock& clock, mpp::sync::Rng& rng,
              const std::string& what) {
  auto store = OpenStore(o, true, clock, rng);
  if (!store) return Fail(store.error());
  Result<mpp::sync::Request> result = Error::Internal("unknown change " + what);
  if (what == "update" || what == "answer") {
    auto fields = mpp::sync::ParseAssignments(o.assignments);
    if (!fields) return Fail(fields.error());
    result = what == "update" ? mpp::field::UpdateRequest(**store, o.id, *fields)
                              : mpp::field::AnswerRequest(**store, o.id, *fields);
  } else if (what == "cancel") {
    result = mpp::field::CancelRequest(**store, o.id, o.reason);
  } else if (what == "deliver") {
    result = mpp::field::DeliverRequest(**store, o.id, o.received_by);
  }
  if (!result && result.error().code() == mpp::ErrorCode::kInvalidInput) {
    if (what == "answer" && o.assignments.empty()) {
      return Fail(o, WithHint(result.error(), "give the fields with --set key=value"));
    }
    if (what == "cancel" && o.reason.empty()) {
      return Fail(o, WithHint(result.error(), "give it with --reason"));
    }
  }
  if (!result) return Fail(o, result.error());
  if (o.json_output) {
    std::cout << mpp::sync::RequestToJson(*result, false).dump() << "\n";
  } else {
    std::cout << result->receipt << " is now " << mpp::sync::StatusName(result->status) << "\n";
  }
  return 0;
}

int RunStatus(const Options& o, mpp::sync::Clock& clock, mpp::sync::Rng& rng) {
  auto store = OpenStore(o, false, clock, rng);
  if (!store) return Fail(store.error());
  auto device = (*store)->Device();
  if (!device) return Fail(device.error());
  if (o.json_output) {
    std::cout << json{{"device_id", device->device_id},
                      {"van_code", device->van_code},
                      {"officer", device->officer},
                      {"fingerprint", device->fingerprint},
                      {"enrolled", device->enrolled_ms != 0},
                      {"server", device->server_url},
                      {"pending", device->pending},
                      {"last_sync_ms", device->last_sync_ms},
                      {"last_sync_local", mpp::sync::FormatLocalTime(device->last_sync_ms, o.zone)},
                      {"schema_version", device->schema_version}}
                     .dump()
              << "\n";
  } else {
    std::cout << "Device:    " << device->device_id << " (" << device->fingerprint << ")\n"
              << "Van:       " << device->van_code << ", officer " << device->officer << "\n"
              << "Server:    " << (device->server_url.empty() ? "not enrolled" : device->server_url)
              << "\n"
              << "Pending:   " << device->pending << " changes not yet synced\n"
              << "Last sync: "
              << (device->last_sync_ms == 0
                      ? std::string("never")
                      : mpp::sync::FormatLocalTime(device->last_sync_ms, o.zone) + " " +
                            o.zone.name)
              << "\n";
  }
  return 0;
}

int RunConflicts(const Options& o, mpp::sync::Clock& clock, mpp::sync::Rng& rng) {
  auto store = OpenStore(o, true, clock, rng);
  if (!store) return Fail(store.error());
  auto conflicts = (*store)->Conflicts();
  if (!conflicts) return Fail(conflicts.error());
  if (o.json_output) {
    json out = json::array();
    for (const auto& c : *conflicts) {
      json j = mpp::sync::ConflictToJson(c);
      j["kept_at_local"] = mpp::sync::FormatLocalTime(c.kept_version.hlc.wall_ms, o.zone);
      j["lost_at_local"] = mpp::sync::FormatLocalTime(c.lost_version.hlc.wall_ms, o.zone);
      out.push_back(std::move(j));
    }
    std::cout << out.dump() << "\n";
  } else {
    for (const auto& c : *conflicts) {
      // By the receipt the officer knows, and the id beside it.
      auto row = (*store)->Find(c.request_id);
      if (row) std::cout << row->view.receipt << " ";
      std::cout << c.request_id << " " << c.field << ": kept \"" << c.kept_value << "\" ("
                << c.kept_version.origin << "), not applied \"" << c.lost_value << "\" ("
                << c.lost_version.origin << "): " << c.reason << "\n";
    }
    std::cout << conflicts->size() << " conflicts\n";
  }
  return 0;
}

int RunEnroll(Options o, mpp::sync::Clock& clock, mpp::sync::Rng& rng) {
  if (!o.enroll_qr.empty()) {  // the three parts from the administrator's QR code
    auto qr = mpp::sync::DecodeEnrollmentQr(o.enroll_qr);
    if (!qr) return Fail(qr.error());
    o.server_url = qr->server_url;
    o.token = qr->token;
    o.server_key = qr->fingerprint;
  } else if (o.server_url.empty() || o.token.empty()) {
    return Fail(
        Error::InvalidInput("give --qr TEXT (the scanned QR code), or --server and --token"));
  }
  auto store = OpenStore(o, true, clock, rng);
  if (!store) return Fail(store.error());
  auto transport = mpp::sync::CurlTransport::Create(o.server_url, {});
  if (!transport) return Fail(transport.error());
  std::optional<std::string> pinned;
  if (!o.server_key.empty()) pinned = o.server_key;
  auto result = mpp::field::Enroll(**store, **transport, o.server_url, o.token, pinned, rng);
  if (!result) return Fail(result.error());
  if (result->trusted_on_first_use) {
    std::cerr << "WARNING: no --server-key given: trusting the server key "
              << result->server_fingerprint
              << " on first use.\nWARNING: compare it with the fingerprint the administrator "
                 "gave you; if it differs, wipe this store and enrol again.\n";
  }
  if (o.json_output) {
    std::cout << json{{"device_id", result->device_id},
                      {"server_fingerprint", result->server_fingerprint},
                      {"trusted_on_first_use", result->trusted_on_first_use}}
                     .dump()
              << "\n";
  } else {
    std::cout << "Enrolled as device " << result->device_id << " with " << o.server_url
              << " (server key " << result->server_fingerprint << ")\n";
  }
  return 0;
}

// The sync failed in a way that may pass (no network, the server down, busy or unable to take
// changes now): one sentence the officer can act on; what curl or the server said only with
// --verbose, beside the HTTP status of an answer.
int FailTransient(const Options& o, mpp::store::VanStore& store, const Error& error) {
  auto device = store.Device();
  const int64_t pending = device ? device->pending : -1;
  std::cerr << "mpp-field: ";
  if (mpp::field::ServerUnreachable(error)) {
    std::cerr << "server not reachable; ";
  } else {
    const size_t http = error.message().find("(HTTP ");
    std::cerr << "the server cannot take changes now"
              << (http == std::string::npos ? std::string()
                                            : " " + error.message().substr(http, 10))
              << "; ";
  }
  if (pending == 0) {
    std::cerr << "no changes are waiting on this van; try again later\n";
  } else if (pending > 0) {
    std::cerr << pending << (pending == 1 ? " change stays" : " changes stay")
              << " saved on this van and will be sent at the next sync\n";
  } else {
    std::cerr << "the changes stay saved on this van and will be sent at the next sync\n";
  }
  if (o.verbose) std::cerr << "mpp-field: detail: " << error.message() << "\n";
  return 1;
}

int RunOfficerSet(const Options& o, mpp::sync::Clock& clock, mpp::sync::Rng& rng) {
  auto store = OpenStore(o, true, clock, rng);
  if (!store) return Fail(store.error());
  auto set = (*store)->SetOfficer(o.new_officer);
  if (!set) return Fail(set.error());
  auto device = (*store)->Device();
  if (!device) return Fail(device.error());
  if (o.json_output) {
    std::cout << json{{"officer", device->officer}}.dump() << "\n";
  } else {
    std::cout << "Changes made on this van are now signed by " << device->officer << ".\n";
  }
  return 0;
}

int RunPassphraseChange(const Options& o, mpp::sync::Clock& clock, mpp::sync::Rng& rng) {
  auto store = OpenStore(o, false, clock, rng);
  if (!store) return Fail(store.error());
  auto old_passphrase = Passphrase(false);
  if (!old_passphrase) return Fail(old_passphrase.error());
  auto new_passphrase = Passphrase(true, /*new_one=*/true);
  if (!new_passphrase) return Fail(new_passphrase.error());
  auto changed = mpp::field::ChangePassphrase(**store, *old_passphrase, *new_passphrase);
  if (!changed) return Fail(changed.error());
  if (o.json_output) {
    std::cout << json{{"changed", true}}.dump() << "\n";
  } else {
    std::cout << "Passphrase changed: use the new one from now on.\n";
  }
  return 0;
}

int RunSync(const Options& o, mpp::sync::Clock& clock, mpp::sync::Rng& rng) {
  // --server is checked before the (slow) unlock: a mistyped URL fails at once.
  std::unique_ptr<mpp::sync::CurlTransport> transport;
  if (!o.sync_server_url.empty()) {
    auto created = mpp::sync::CurlTransport::Create(o.sync_server_url, {});
    if (!created) return Fail(Error::InvalidInput("--server: " + created.error().message()));
    transport = std::move(created).value();
  }
  int64_t unlock_ms = 0;
  auto store = OpenStore(o, true, clock, rng, &unlock_ms);
  if (!store) return Fail(store.error());
  auto device = (*store)->Device();
  if (!device) return Fail(device.error());
  if (device->server_url.empty()) {
    return Fail(
        WithHint(Error::InvalidInput(mpp::field::kNotEnrolledMessage), "run `mpp-field enroll`"));
  }
  // Answers are checked against the server key pinned at enrolment whatever the URL, so
  // --server reaches only a server of the same deployment; the enrolled URL stays.
  const std::string server_url = o.sync_server_url.empty() ? device->server_url : o.sync_server_url;
  if (!transport) {
    auto created = mpp::sync::CurlTransport::Create(server_url, {});
    if (!created) return Fail(created.error());
    transport = std::move(created).value();
  }
  mpp::field::SyncOptions options;
  options.batch_size = o.batch_size;
  options.max_attempts = o.attempts;
  const bool show_progress = isatty(STDERR_FILENO) != 0;
  auto progress = [&](const char* phase, size_t done, size_t total) {
    if (!show_progress) return;
    std::cerr << "\r" << phase << ": " << done;
    if (total > 0) std::cerr << "/" << total;
    std::cerr << "        " << std::flush;
  };
  auto report = mpp::field::RunSync(**store, *transport, clock, rng, options, progress);
  if (show_progress) std::cerr << "\n";
  if (!report && report.error().transient()) return FailTransient(o, **store, report.error());
  if (!report) return Fail(report.error());
  if (o.json_output) {
    json out = mpp::field::SyncReportToJson(*report);
    out["server"] = server_url;
    out["unlock_ms"] = unlock_ms;
    std::cout << out.dump() << "\n";
  } else {
    if (report->server_restored) {
      std::cout << "The server was restored from a backup: sent " << report->resent
                << " requests again that it had lost; nothing of this van was lost.\n";
    }
    if (report->store_restored) {
      std::cout << "This van's store was restored from an older copy: " << report->renumbered
                << " changes were sent under new numbers; the work made since the copy comes "
                   "back from the server.\n";
    }
    for (const auto& r : report->reissued_receipts) {
      std::cout << "Receipt " << r.old_receipt << " is now " << r.new_receipt
                << ": give the citizen the new number.\n";
    }
    for (const auto& c : report->changes) std::cout << mpp::field::DescribeChange(c) << "\n";
    if (report->new_requests > 0) {
      std::cout << report->new_requests << (report->new_requests == 1 ? " request" : " requests")
                << " received that this van did not hold.\n";
    }
    std::cout << "Synced: pushed " << report->pushed << ", acknowledged " << report->acknowledged
              << ", pulled " << report->pulled << ", conflicts " << report->conflicts << " ("
              << report->duration_ms << " ms, " << report->bytes_sent << " B sent, "
              << report->bytes_received << " B received)\n";
  }
  return 0;
}

// "HOST:PORT" or "[V6]:PORT"; HOST alone keeps `port`.
Result<std::pair<std::string, int>> SplitHostPort(const std::string& text, int port,
                                                  const char* option) {
  std::string host = text;
  const size_t colon = text.rfind(':');
  const bool bracketed = !text.empty() && text.front() == '[';
  if (colon != std::string::npos && (bracketed || text.find(':') == colon)) {
    host = text.substr(0, colon);
    const std::string digits = text.substr(colon + 1);
    char* end = nullptr;
    const long value = std::strtol(digits.c_str(), &end, 10);
    if (digits.empty() || *end != '\0' || value < 0 || value > 65535) {
      return Error::InvalidInput(std::string(option) + " " + text + ": the port must be 0-65535");
    }
    port = static_cast<int>(value);
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) return Error::InvalidInput(std::string(option) + " " + text + ": no address");
  return std::make_pair(host, port);
}

int RunServeUi(const Options& o, mpp::sync::Clock& clock, mpp::sync::Rng& rng) {
  auto dir = DataDir(o);
  if (!dir) return Fail(dir.error());
  auto listen = SplitHostPort(o.listen, 8090, "--listen");
  if (!listen) return Fail(listen.error());
  mpp::field_web::VanWebOptions options;
  options.data_dir = *dir;
  options.listen_host = listen->first;
  options.listen_port = listen->second;
  if (!o.lan.empty()) {
    auto lan = SplitHostPort(o.lan, 0, "--lan");
    if (!lan) return Fail(lan.error());
    options.lan_address = lan->first;
    options.lan_port = lan->second;
  }
  options.idle_lock = std::chrono::minutes(o.idle_lock_minutes);
  options.zone = o.zone;
  options.transport = [](const std::string& url) -> Result<std::unique_ptr<mpp::sync::Transport>> {
    MPP_ASSIGN_OR_RETURN(auto curl, mpp::sync::CurlTransport::Create(url, {}));
    return std::unique_ptr<mpp::sync::Transport>(std::move(curl));
  };
  auto server = mpp::field_web::VanWebServer::Start(options, clock, rng, std::cerr);
  if (!server) return Fail(server.error());
  const std::string url =
      "http://" +
      (options.listen_host.find(':') != std::string::npos ? "[" + options.listen_host + "]"
                                                          : options.listen_host) +
      ":" + std::to_string((*server)->port()) + "/";
  std::cout << "The officer's app: open " << url << " in this laptop's browser." << std::endl;
  if (!options.lan_address.empty()) {
    std::cout << "Tablet: open http://" << options.lan_address << ":" << (*server)->lan_port()
              << "/ and type the pairing code " << (*server)->PairingCode()
              << " (the laptop's Sync page shows the current code)." << std::endl;
  }
  // Ctrl-C and SIGTERM stop the server from a thread of their own (sigwait), never from a
  // signal handler: Stop() takes locks. The server's threads, started after this, inherit the
  // blocked mask, so the signals reach only sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  mpp::field_web::VanWebServer& serving = **server;
  std::thread stopper([&] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    serving.Stop();
  });
  serving.Run();
  pthread_kill(stopper.native_handle(), SIGTERM);  // Run() ended by itself: end the waiter too
  stopper.join();
  std::cout << "Stopped." << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mpp-field: register and sync MPP service requests from a mobile van"};
  app.require_subcommand(1);
  app.fallthrough();
  Options o;
  app.add_option("--data", o.data_dir, "data directory of the van store")
      ->envname("MPP_FIELD_DATA");
  app.add_flag("--json", o.json_output, "machine-readable output");
  app.add_flag("--verbose", o.verbose, "technical detail of a failure (what the network said)");
  app.add_option("--time-zone", o.time_zone_text,
                 "zone of the times shown: WIB (default), WITA, WIT, UTC or +07:00 "
                 "(or MPP_TIME_ZONE)");
  app.set_version_flag("--version", mpp::sync::VersionLine("mpp-field"));

  auto* init = app.add_subcommand("init", "create the store and the device key pair");
  init->add_option("--van-code", o.van_code, "van code printed on receipts, e.g. KR01")->required();
  init->add_option("--officer", o.officer, "name of the officer")->required();
  init->add_option("--catalog", o.catalog_file, "catalog JSON file (default: built-in)");
  init->add_option("--kdf-memory-kib", o.kdf_memory_kib,
                   "Argon2id memory cost for the passphrase (default 65536)")
      ->check(CLI::Range(8u, 4u * 1024 * 1024));

  auto* catalog = app.add_subcommand("catalog", "list agencies and services");
  catalog->add_option("--agency", o.agency, "only this agency");

  auto* request = app.add_subcommand("request", "register and change requests");
  request->require_subcommand(1);
  auto* req_new = request->add_subcommand("new", "register a request");
  req_new->add_option("--service", o.service, "service id, e.g. dukcapil.ktp-el")->required();
  req_new->add_option("--set", o.assignments, "field value, key=value (repeat)");
  req_new->add_flag("--force", o.force,
                    "register even if this NIK has an open request for the service on this van");
  auto* req_import = request->add_subcommand("import", "register requests from a JSON Lines file");
  req_import->add_option("--file", o.import_file, "the .jsonl file")->required();
  req_import->add_flag("--force", o.force,
                       "import lines of citizens who have an open request for the service");
  auto* req_list = request->add_subcommand("list", "list requests");
  req_list->add_option("--status", o.status, "only this status");
  req_list->add_option("--service", o.service, "only this service");
  req_list->add_option("--nik", o.nik, "only this citizen");
  auto* req_show = request->add_subcommand("show", "show one request with its history");
  req_show->add_option("id", o.id, "request id or receipt number")->required();
  auto* req_update = request->add_subcommand("update", "change fields of a request");
  req_update->add_option("id", o.id, "request id or receipt number")->required();
  req_update->add_option("--set", o.assignments, "field value, key=value (repeat)")->required();
  auto* req_answer =
      request->add_subcommand("answer", "answer a needs_info request (fields, then in_review)");
  req_answer->add_option("id", o.id, "request id or receipt number")->required();
  req_answer->add_option("--set", o.assignments, "field value, key=value (repeat)");
  auto* req_cancel = request->add_subcommand("cancel", "cancel an open request");
  req_cancel->add_option("id", o.id, "request id or receipt number")->required();
  req_cancel->add_option("--reason", o.reason, "why the citizen cancels")->required();
  auto* req_deliver = request->add_subcommand("deliver", "hand a completed document over");
  req_deliver->add_option("id", o.id, "request id or receipt number")->required();
  req_deliver->add_option("--to", o.received_by, "who received the document (a name)");

  auto* status = app.add_subcommand("status", "device, enrolment and pending changes");
  auto* conflicts = app.add_subcommand("conflicts", "conflicts reported by the server");
  auto* enroll = app.add_subcommand("enroll", "enrol this van with the central server");
  auto* enroll_server =
      enroll->add_option("--server", o.server_url, "server URL, e.g. https://mpp.example");
  auto* enroll_token =
      enroll->add_option("--token", o.token, "one-time token from the administrator");
  enroll
      ->add_option("--qr", o.enroll_qr,
                   "the text of the administrator's enrolment QR code (server, token and key)")
      ->excludes(enroll_server)
      ->excludes(enroll_token);
  enroll->add_option("--server-key", o.server_key,
                     "the server key fingerprint the administrator gave you (SHA256:...)");
  auto* officer = app.add_subcommand("officer", "the officer who signs the next changes");
  officer->require_subcommand(1);
  auto* officer_set = officer->add_subcommand("set", "sign the next changes with this name");
  officer_set->add_option("name", o.new_officer, "name of the officer now at work")->required();
  auto* passphrase = app.add_subcommand("passphrase", "the passphrase of the store");
  passphrase->require_subcommand(1);
  auto* passphrase_change = passphrase->add_subcommand(
      "change", "new passphrase (MPP_PASSPHRASE: old, MPP_NEW_PASSPHRASE: new, or prompts)");
  auto* serve_ui = app.add_subcommand(
      "serve-ui", "serve the officer's app to this laptop's browser (and a tablet with --lan)");
  serve_ui->add_option("--listen", o.listen, "loopback address and port (default 127.0.0.1:8090)");
  serve_ui->add_option("--lan", o.lan,
                       "also serve the van's tablet on this private Wi-Fi address (ADDR or "
                       "ADDR:PORT), with pairing");
  serve_ui
      ->add_option("--idle-lock", o.idle_lock_minutes,
                   "minutes without use before the data locks (default 10)")
      ->check(CLI::Range(1, 240));
  auto* sync_cmd = app.add_subcommand("sync", "push pending changes, pull the server's");
  sync_cmd->add_option("--server", o.sync_server_url,
                       "this sync only: another URL of the same deployment (the enrolled one "
                       "and the pinned server key stay)");
  sync_cmd->add_option("--batch-size", o.batch_size, "mutations per push, at most (default 1000)")
      ->check(CLI::Range(1, 5000));
  sync_cmd
      ->add_option("--attempts", o.attempts,
                   "tries per step on a failing link, with backoff (default 8)")
      ->check(CLI::Range(1, 100));

  for (auto* sub : {init,        catalog,    request,           req_new,
                    req_import,  req_list,   req_show,          req_update,
                    req_answer,  req_cancel, req_deliver,       status,
                    conflicts,   enroll,     sync_cmd,          officer,
                    officer_set, passphrase, passphrase_change, serve_ui}) {
    sub->fallthrough();
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "mpp-field: " << e.what() << " (see --help)\n";
    return 2;
  }

  auto zone = o.time_zone_text.empty() ? mpp::sync::TimeZoneFromEnvironment()
                                       : mpp::sync::ParseTimeZone(o.time_zone_text);
  if (!zone) return Fail(zone.error());
  o.zone = *zone;

  curl_global_init(CURL_GLOBAL_DEFAULT);
  mpp::sync::SystemClock clock;
  mpp::sync::SystemRng rng;
  if (*enroll) return RunEnroll(o, clock, rng);
  if (*sync_cmd) return RunSync(o, clock, rng);
  if (*serve_ui) return RunServeUi(o, clock, rng);
  if (*init) return RunInit(o, clock, rng);
  if (*officer_set) return RunOfficerSet(o, clock, rng);
  if (*passphrase_change) return RunPassphraseChange(o, clock, rng);
  if (*catalog) return RunCatalog(o, clock, rng);
  if (*status) return RunStatus(o, clock, rng);
  if (*conflicts) return RunConflicts(o, clock, rng);
  if (*req_new) return RunNew(o, clock, rng);
  if (*req_import) return RunImport(o, clock, rng);
  if (*req_list) return RunList(o, clock, rng);
  if (*req_show) return RunShow(o, clock, rng);
  if (*req_update) return RunChange(o, clock, rng, "update");
  if (*req_answer) return RunChange(o, clock, rng, "answer");
  if (*req_cancel) return RunChange(o, clock, rng, "cancel");
  if (*req_deliver) return RunChange(o, clock, rng, "deliver");
  return 2;
}
