// mpp-server: the central MPP server and its administrator commands. The administrator commands
// work while `serve` runs on the same data directory (SQLite WAL, busy timeout).
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "mpp/server/http_server.h"
#include "mpp/server/server_home.h"
#include "mpp/server/sync_service.h"
#include "mpp/sync/crypto.h"
#include "mpp/sync/json_format.h"

namespace {

using mpp::Error;
using mpp::Result;
using nlohmann::json;

struct Options {
  std::string data_dir;
  bool json_output = false;
  std::string catalog_file, listen = "127.0.0.1:8080", van_code, ttl = "24h";
  std::string device_id, by, status, agency, note, id, bulk_file, backup_file;
  std::vector<std::string> assignments;
  size_t max_connections_per_address = mpp::server::HttpLimits{}.max_connections_per_address;
};

int Fail(const Error& error) {
  std::cerr << "mpp-server: " << error.message() << "\n";
  return 1;
}

Result<int64_t> ParseDuration(const std::string& text) {
  if (text.size() < 2)
    return Error::InvalidInput("duration \"" + text + "\" must look like 30m, 24h or 7d");
  const char unit = text.back();
  const std::string number = text.substr(0, text.size() - 1);
  if (number.find_first_not_of("0123456789") != std::string::npos || number.size() > 6) {
    return Error::InvalidInput("duration \"" + text + "\" must look like 30m, 24h or 7d");
  }
  const int64_t n = std::stoll(number);
  switch (unit) {
    case 's':
      return n * 1000;
    case 'm':
      return n * 60'000;
    case 'h':
      return n * 3'600'000;
    case 'd':
      return n * 86'400'000;
    default:
      return Error::InvalidInput("duration unit must be s, m, h or d");
  }
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::NotFound("cannot read " + path);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

struct Server {
  mpp::server::ServerHome home;
  std::unique_ptr<mpp::server::SyncService> service;
};

Result<Server> OpenServer(const Options& o, mpp::sync::Clock& clock, mpp::sync::Rng& rng) {
  if (o.data_dir.empty()) {
    return Error::InvalidInput("no data directory: give --data DIR or set MPP_SERVER_DATA");
  }
  MPP_ASSIGN_OR_RETURN(auto home, mpp::server::OpenServerHome(o.data_dir, clock));
  Server s{std::move(home), nullptr};
  s.service = std::make_unique<mpp::server::SyncService>(*s.home.storage, clock, rng,
                                                         s.home.private_key, s.home.catalog);
  return s;
}

Result<std::pair<std::string, int>> ParseListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) {
    return Error::InvalidInput("--listen must be HOST:PORT, e.g. 127.0.0.1:8080");
  }
  const std::string port = listen.substr(colon + 1);
  if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 ||
      std::stoi(port) > 65535) {
    return Error::InvalidInput("--listen port \"" + port + "\" is not a port number");
  }
  return std::pair<std::string, int>{listen.substr(0, colon), std::stoi(port)};
}

int RunServe(const Options& o, mpp::sync::Clock& clock, mpp::sync::Rng& rng) {
  auto listen = ParseListen(o.listen);
  if (!listen) return Fail(listen.error());
  // Block the stop signals in every thread; one thread waits for them and stops the server,
  // which lets in-flight requests finish.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto server = OpenServer(o, clock, rng);
  if (!server) return Fail(server.error());
  mpp::server::HttpLimits limits;
  limits.max_connections_per_address = o.max_connections_per_address;
  mpp::server::HttpServer http(*server->service, std::cerr, limits);
  auto port = http.Bind(listen->first, listen->second);
  if (!port) return Fail(port.error());
  std::cout << "mpp-server listening on " << listen->first << ":" << *port << " (key "
            << server->service->server_fingerprint() << ")" << std::endl;
  std::thread waiter([&http, stop_signals] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    std::cerr << "mpp-server: signal " << signal_number << ", finishing in-flight requests"
              << std::endl;
    http.Stop();
  });
  http.Run();
  // Run() also returns if the listener fails; make sure the waiter thread can end.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  std::cerr << "mpp-server: stopped" << std::endl;
  return 0;
}

struct StatusChange {
  size_t line = 0;  // 1-based, for messages
  std::string id_or_receipt;
  mpp::sync::RequestStatus to;
};

// Reads "ID_OR_RECEIPT STATUS" lines; blank lines and lines starting with '#' are skipped.
// The whole file is checked before anything is applied, so a typo on line 2,000 changes nothing.
Result<std::vector<StatusChange>> ReadStatusChanges(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error::NotFound("cannot read " + path);
  std::vector<StatusChange> changes;
  size_t number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::istringstream words(line);
    std::string id, status, extra;
    if (!(words >> id) || id.front() == '#') continue;
    const std::string where = path + " line " + std::to_string(number);
    if (!(words >> status) || (words >> extra)) {
      return Error::InvalidInput(where + ": expected \"ID_OR_RECEIPT STATUS\", got \"" +
                                 line.substr(0, 200) + "\"");
    }
    auto to = mpp::sync::ParseStatus(status);
    if (!to) return Error::InvalidInput(where + ": unknown status \"" + status + "\"");
    changes.push_back({number, std::move(id), *to});
  }
  return changes;
}

// Applies the changes in file order, each through StaffSetStatus (its own transaction and audit
// entry), and stops at the first refusal: the lines before it stay applied and the message says
// so, so the operator fixes that line and reruns the file from there.
Result<size_t> ApplyStatusChanges(mpp::server::SyncService& service, const std::string& path,
                                  const std::vector<StatusChange>& changes, const std::string& by,
                                  const std::string& note) {
  size_t applied = 0;
  for (const auto& c : changes) {
    auto changed = service.StaffSetStatus(c.id_or_receipt, c.to, by, note);
    if (!changed) {
      const std::string where =
          path + " line " + std::to_string(c.line) + " (" + c.id_or_receipt + ")";
      const std::string before = std::to_string(applied) +
                                 (applied == 1 ? " earlier change was" : " earlier changes were");
      return Error(changed.error().code(), where + ": " + changed.error().message() + "; " +
                                               before + " applied, none after it");
    }
    ++applied;
  }
  return applied;
}

void PrintRequests(const std::vector<mpp::server::StoredRequest>& rows, bool as_json) {
  if (as_json) {
    json out = json::array();
    for (const auto& row : rows) {
      json j = mpp::sync::RequestToJson(row.request, false);
      j["agency"] = row.agency;
      j["pending"] = false;
      out.push_back(std::move(j));
    }
    std::cout << out.dump() << "\n";
    return;
  }
  for (const auto& row : rows) {
    std::cout << row.request.receipt << "  " << mpp::sync::StatusName(row.request.status) << "  "
              << row.request.service_id << "  " << row.request.id << "  van "
              << row.request.device_id << "\n";
  }
  std::cout << rows.size() << " requests\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mpp-server: the central server of the MPP mobile service channel"};
  app.require_subcommand(1);
  app.fallthrough();
  Options o;
  app.add_option("--data", o.data_dir, "server data directory")->envname("MPP_SERVER_DATA");
  app.add_flag("--json", o.json_output, "machine-readable output");

  auto* init = app.add_subcommand("init", "create the database and the server key");
  init->add_option("--catalog", o.catalog_file, "catalog JSON file (default: built-in)");
  auto* serve = app.add_subcommand("serve", "serve vans until SIGINT or SIGTERM");
  serve->add_option("--listen", o.listen, "HOST:PORT to listen on (default 127.0.0.1:8080)");
  serve
      ->add_option("--max-connections-per-address", o.max_connections_per_address,
                   "connections one client address may hold open (default 64; raise it behind "
                   "a reverse proxy or a carrier NAT that puts many vans on one address)")
      ->check(CLI::Range(size_t{1}, size_t{100000}));

  auto* backup =
      app.add_subcommand("backup", "write a consistent copy of the database while serving");
  backup->add_option("--to", o.backup_file, "the backup file (must not exist)")->required();
  auto* restore = app.add_subcommand(
      "restore", "replace the database with a backup and start a new epoch (server stopped)");
  restore->add_option("--from", o.backup_file, "a file made by `mpp-server backup`")->required();

  auto* token = app.add_subcommand("token", "enrolment tokens");
  token->require_subcommand(1);
  auto* token_create = token->add_subcommand("create", "make a one-time enrolment token");
  token_create->add_option("--van-code", o.van_code, "the van it is for")->required();
  token_create->add_option("--ttl", o.ttl, "lifetime, e.g. 30m, 24h, 7d (default 24h)");

  auto* device = app.add_subcommand("device", "enrolled vans");
  device->require_subcommand(1);
  auto* device_list = device->add_subcommand("list", "list devices");
  auto* device_revoke = device->add_subcommand("revoke", "refuse a device from now on");
  device_revoke->add_option("device_id", o.device_id, "the device id")->required();
  device_revoke->add_option("--by", o.by, "who revokes (audit)")->default_val("admin");

  auto* requests = app.add_subcommand("requests", "requests received from vans");
  requests->require_subcommand(1);
  auto* requests_list = requests->add_subcommand("list", "list requests");
  requests_list->add_option("--status", o.status, "only this status");
  requests_list->add_option("--agency", o.agency, "only this agency");

  auto* request = app.add_subcommand("request", "change one request (as staff)");
  request->require_subcommand(1);
  auto* set_status = request->add_subcommand("set-status", "change the status");
  set_status->add_option("id", o.id, "request id or receipt")->required();
  set_status->add_option("status", o.status, "new status")->required();
  set_status->add_option("--by", o.by, "staff member")->required();
  set_status->add_option("--note", o.note, "note for the officer and citizen");
  auto* set_status_bulk = request->add_subcommand(
      "set-status-bulk",
      "change many statuses from a file of \"ID_OR_RECEIPT STATUS\" lines; the file is checked "
      "first, then applied in order, stopping at the first refusal");
  set_status_bulk->add_option("--file", o.bulk_file, "the file, one change per line")->required();
  set_status_bulk->add_option("--by", o.by, "staff member")->required();
  set_status_bulk->add_option("--note", o.note, "note for every change");
  auto* set_fields = request->add_subcommand("set", "correct fields");
  set_fields->add_option("id", o.id, "request id or receipt")->required();
  set_fields->add_option("--set", o.assignments, "key=value (repeat)")->required();
  set_fields->add_option("--by", o.by, "staff member")->required();

  auto* conflicts = app.add_subcommand("conflicts", "conflict records");
  conflicts->require_subcommand(1);
  auto* conflicts_list = conflicts->add_subcommand("list", "list conflicts");

  auto* audit = app.add_subcommand("audit", "non-repudiation checks");
  audit->require_subcommand(1);
  auto* audit_verify = audit->add_subcommand("verify", "re-verify every stored envelope");

  for (auto* sub : {init, serve, backup, restore, token, token_create, device, device_list,
                    device_revoke, requests, requests_list, request, set_status, set_status_bulk,
                    set_fields, conflicts, conflicts_list, audit, audit_verify}) {
    sub->fallthrough();
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "mpp-server: " << e.what() << " (see --help)\n";
    return 2;
  }

  mpp::sync::SystemClock clock;
  mpp::sync::SystemRng rng;
  if (*init) {
    if (o.data_dir.empty()) return Fail(Error::InvalidInput("give --data DIR"));
    auto catalog = ReadFile(o.catalog_file.empty() ? MPP_DEFAULT_CATALOG : o.catalog_file);
    if (!catalog) return Fail(catalog.error());
    auto fingerprint = mpp::server::InitServerHome(o.data_dir, *catalog);
    if (!fingerprint) return Fail(fingerprint.error());
    std::cout << "Server initialised in " << o.data_dir << ". Give vans this key fingerprint:\n"
              << *fingerprint << "\n";
    return 0;
  }
  if (*serve) return RunServe(o, clock, rng);
  if (*restore) {
    if (o.data_dir.empty()) return Fail(Error::InvalidInput("give --data DIR"));
    auto epoch = mpp::server::RestoreServerHome(o.data_dir, o.backup_file, clock);
    if (!epoch) return Fail(epoch.error());
    std::cout << "Restored " << o.data_dir << " from " << o.backup_file << " (epoch " << *epoch
              << "). Vans re-send what the backup lacks at their next sync.\n";
    return 0;
  }

  auto server = OpenServer(o, clock, rng);
  if (!server) return Fail(server.error());
  mpp::server::SyncService& service = *server->service;
  mpp::server::ServerStorage& storage = *server->home.storage;

  if (*backup) {
    if (std::filesystem::exists(o.backup_file)) {
      return Fail(Error::Conflict(o.backup_file + " exists (refusing to overwrite it)"));
    }
    auto done = storage.BackupTo(o.backup_file);
    if (!done) return Fail(done.error());
    std::cout << "Backup written to " << o.backup_file << "\n";
    return 0;
  }
  if (*token_create) {
    auto ttl = ParseDuration(o.ttl);
    if (!ttl) return Fail(ttl.error());
    auto t = service.CreateEnrollmentToken(o.van_code, *ttl);
    if (!t) return Fail(t.error());
    std::cout << *t << "\n";
    return 0;
  }
  if (*device_list) {
    auto devices = storage.ListDevices();
    if (!devices) return Fail(devices.error());
    json out = json::array();
    for (const auto& d : *devices) {
      out.push_back({{"device_id", d.device_id},
                     {"van_code", d.van_code},
                     {"fingerprint", mpp::crypto::KeyFingerprint(d.public_key)},
                     {"enrolled_ms", d.enrolled_ms},
                     {"revoked", d.revoked()},
                     {"last_applied_seq", d.last_applied_seq},
                     {"last_sync_ms", d.last_sync_ms}});
      if (!o.json_output) {
        std::cout << d.device_id << "  " << d.van_code << "  "
                  << (d.revoked() ? "REVOKED" : "active") << "  seq " << d.last_applied_seq << "\n";
      }
    }
    if (o.json_output) std::cout << out.dump() << "\n";
    return 0;
  }
  if (*device_revoke) {
    auto r = service.RevokeDevice(o.device_id, o.by);
    if (!r) return Fail(r.error());
    std::cout << "Device " << o.device_id << " revoked.\n";
    return 0;
  }
  if (*requests_list) {
    mpp::server::RequestQuery query;
    if (!o.status.empty()) {
      query.status = mpp::sync::ParseStatus(o.status);
      if (!query.status) return Fail(Error::InvalidInput("unknown status \"" + o.status + "\""));
    }
    if (!o.agency.empty()) {
      if (service.catalog().FindAgency(o.agency) == nullptr) {
        return Fail(Error::InvalidInput("unknown agency \"" + o.agency + "\""));
      }
      query.agency = o.agency;
    }
    auto rows = storage.ListRequests(query);
    if (!rows) return Fail(rows.error());
    PrintRequests(*rows, o.json_output);
    return 0;
  }
  if (*set_status || *set_fields) {
    Result<mpp::sync::Request> changed = Error::Internal("no change");
    if (*set_status) {
      auto to = mpp::sync::ParseStatus(o.status);
      if (!to) return Fail(Error::InvalidInput("unknown status \"" + o.status + "\""));
      changed = service.StaffSetStatus(o.id, *to, o.by, o.note);
    } else {
      auto fields = mpp::sync::ParseAssignments(o.assignments);
      if (!fields) return Fail(fields.error());
      changed = service.StaffSetFields(o.id, *fields, o.by);
    }
    if (!changed) return Fail(changed.error());
    if (o.json_output) {
      std::cout << mpp::sync::RequestToJson(*changed, true).dump() << "\n";
    } else {
      std::cout << changed->receipt << " is " << mpp::sync::StatusName(changed->status) << "\n";
    }
    return 0;
  }
  if (*set_status_bulk) {
    auto changes = ReadStatusChanges(o.bulk_file);
    if (!changes) return Fail(changes.error());
    auto applied = ApplyStatusChanges(service, o.bulk_file, *changes, o.by, o.note);
    if (!applied) return Fail(applied.error());
    if (o.json_output) {
      std::cout << json{{"applied", *applied}}.dump() << "\n";
    } else {
      std::cout << "Changed the status of " << *applied << " requests.\n";
    }
    return 0;
  }
  if (*conflicts_list) {
    auto list = storage.ListConflicts();
    if (!list) return Fail(list.error());
    json out = json::array();
    for (const auto& c : *list) {
      json j = mpp::sync::ConflictToJson(c.conflict);
      j["device_id"] = c.device_id;
      out.push_back(std::move(j));
      if (!o.json_output) {
        std::cout << c.conflict.request_id << " " << c.conflict.field << ": kept \""
                  << c.conflict.kept_value << "\" (" << c.conflict.kept_version.origin
                  << "), not applied \"" << c.conflict.lost_value << "\" ("
                  << c.conflict.lost_version.origin << "): " << c.conflict.reason << "\n";
      }
    }
    if (o.json_output)
      std::cout << out.dump() << "\n";
    else
      std::cout << list->size() << " conflicts\n";
    return 0;
  }
  if (*audit_verify) {
    auto report = service.VerifyEnvelopes();
    if (!report) return Fail(report.error());
    for (const auto& f : report->failures) std::cout << "FAILED " << f << "\n";
    std::cout << "checked " << report->checked << " envelopes, " << report->failures.size()
              << " failures\n";
    return report->failures.empty() ? 0 : 1;
  }
  return 2;
}
