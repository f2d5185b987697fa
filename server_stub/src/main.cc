// mpp-server: the central MPP server and its administrator commands. The administrator commands
// work while `serve` runs on the same data directory (SQLite WAL, busy timeout).
#include <signal.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "mpp/server/http_server.h"
#include "mpp/server/migrate.h"
#include "mpp/server/server_home.h"
#include "mpp/server/services.h"
#include "mpp/server/staff_accounts.h"
#include "mpp/server/staff_scope.h"
#include "mpp/staff_web/staff_web.h"
#include "mpp/sync/crypto.h"
#include "mpp/sync/enrollment_qr.h"
#include "mpp/sync/json_format.h"
#include "mpp/sync/local_time.h"
#include "mpp/sync/qr_code.h"

namespace {

using mpp::Error;
using mpp::Result;
using nlohmann::json;

struct Options {
  std::string data_dir;
  std::string db;  // "" for SQLite in data_dir, or a postgresql:// URL
  bool json_output = false;
  std::string catalog_file, listen = "127.0.0.1:8080", van_code, ttl = "24h";
  std::string device_id, by, status, agency, note, id, bulk_file, backup_file;
  std::string time_zone, nik, keep, value, user, role, qr_file, server_url;
  bool duplicates = false, all = false;
  uint32_t hash_memory_kib = 0;  // 0: Argon2Params' default
  uint64_t conflict_rev = 0;
  std::vector<std::string> assignments;
  mpp::sync::TimeZone zone;
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
  std::unique_ptr<mpp::server::Services> services;
};

// serving: a PostgreSQL database that is down is no error (serve answers 503 until it is back).
Result<Server> OpenServer(const Options& o, mpp::sync::Clock& clock, mpp::sync::Rng& rng,
                          bool serving = false) {
  if (o.data_dir.empty()) {
    return Error::InvalidInput("no data directory: give --data DIR or set MPP_SERVER_DATA");
  }
  MPP_ASSIGN_OR_RETURN(auto home, mpp::server::OpenServerHome(o.data_dir, clock, o.db, serving));
  Server s{std::move(home), nullptr};
  mpp::server::ServiceOptions options;
  options.nik_index_key = s.home.nik_key;
  s.services = std::make_unique<mpp::server::Services>(*s.home.storage, clock, rng,
                                                       s.home.private_key, s.home.catalog, options);
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

  if (o.data_dir.empty()) {
    return Fail(Error::InvalidInput("no data directory: give --data DIR or set MPP_SERVER_DATA"));
  }
  // It holds citizen data: refuse to serve it while other users may read it.
  if (auto private_dir = mpp::server::CheckDataDirPrivate(o.data_dir); !private_dir) {
    return Fail(private_dir.error());
  }
  auto server = OpenServer(o, clock, rng, /*serving=*/true);
  if (!server) return Fail(server.error());
  if (auto health = server->services->core.CheckHealth(); !health) {
    std::cerr << "mpp-server: starting degraded, " << health.error().message()
              << "; vans get 503 until it is back" << std::endl;
  }
  mpp::server::HttpLimits limits;
  limits.max_connections_per_address = o.max_connections_per_address;
  mpp::server::StaffAccounts accounts(server->services->core);
  mpp::staff_web::StaffWeb dashboard(*server->services, accounts);
  mpp::server::HttpServer http(*server->services, std::cerr, limits, &dashboard);
  auto port = http.Bind(listen->first, listen->second);
  if (!port) return Fail(port.error());
  std::cout << "mpp-server listening on " << listen->first << ":" << *port << " (key "
            << server->services->core.server_fingerprint() << "); staff dashboard at http://"
            << listen->first << ":" << *port << "/" << std::endl;
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

// Applies the changes in file order, each through StaffService::SetStatus (its own transaction and
// audit entry), and stops at the first refusal: the lines before it stay applied and the message
// says so, so the operator fixes that line and reruns the file from there.
Result<size_t> ApplyStatusChanges(mpp::server::ScopedStaff& staff, const std::string& path,
                                  const std::vector<StatusChange>& changes,
                                  const std::string& note) {
  size_t applied = 0;
  for (const auto& c : changes) {
    auto changed = staff.SetStatus(c.id_or_receipt, c.to, note);
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

std::string Local(int64_t ms, const Options& o) { return mpp::sync::FormatLocalTime(ms, o.zone); }

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

// The van code of a device, for people ("" when unknown).
std::string VanCodeOf(mpp::server::DeviceService& devices, const std::string& device_id) {
  auto device = devices.FindDevice(device_id);
  return device.ok() && device->has_value() ? (*device)->van_code : "";
}

json ConflictJson(const mpp::server::StoredConflict& c, const Options& o) {
  json j = mpp::sync::ConflictToJson(c.conflict);
  j["id"] = c.rev;
  j["device_id"] = c.device_id;
  j["van_code"] = c.van_code;
  j["receipt"] = c.receipt;
  j["created_ms"] = c.created_ms;
  j["created"] = Local(c.created_ms, o);
  j["open"] = c.open();
  if (!c.open()) {
    j["resolved_ms"] = c.resolved_ms;
    j["resolved"] = Local(c.resolved_ms, o);
    j["resolved_by"] = c.resolved_by;
    j["resolution"] = c.resolution;
  }
  return j;
}

// "#12 KR01-20261202-0001 (van KR01) 2026-12-02 08:15 phone: kept ... : reason"
std::string ConflictLine(const mpp::server::StoredConflict& c, const Options& o) {
  const auto& k = c.conflict;
  std::string line = "#" + std::to_string(c.rev) + " " +
                     (c.receipt.empty() ? k.request_id : c.receipt) + " (van " +
                     (c.van_code.empty() ? c.device_id : c.van_code) + ") " +
                     Local(c.created_ms, o) + " " + k.field + ": ";
  if (k.field == "duplicate") {
    line += k.reason;
  } else {
    line += "kept \"" + k.kept_value + "\" (" + k.kept_version.origin + "), not applied \"" +
            k.lost_value + "\" (" + k.lost_version.origin + "): " + k.reason;
  }
  if (!c.open()) {
    line += " [resolved by " + c.resolved_by + " " + Local(c.resolved_ms, o) + ": " + c.resolution +
            "]";
  }
  return line;
}

int ShowRequest(mpp::server::Services& services, const Options& o) {
  mpp::server::StaffService& staff = services.staff;
  auto found = staff.FindRequest(o.id);
  if (!found) return Fail(found.error());
  if (!*found) return Fail(Error::NotFound("no request with id or receipt " + o.id));
  const mpp::sync::Request& r = (*found)->request;
  auto conflicts = staff.ConflictsOf(r.id);
  if (!conflicts) return Fail(conflicts.error());
  const mpp::sync::Service* svc = staff.catalog().FindService(r.service_id);
  auto label = [&](const std::string& name) {
    const mpp::sync::FieldSpec* spec = svc == nullptr ? nullptr : svc->FindField(name);
    return spec == nullptr || spec->label.empty() ? name : spec->label;
  };
  const std::string van_code = VanCodeOf(services.devices, r.device_id);
  if (o.json_output) {
    json j = mpp::sync::RequestToJson(r, true);
    j["agency"] = (*found)->agency;
    j["van_code"] = van_code;
    j["created"] = Local(r.created.wall_ms, o);
    json labels = json::object();
    for (const auto& [name, value] : r.fields) labels[name] = label(name);
    j["labels"] = std::move(labels);
    for (auto& h : j["history"]) h["at"] = Local(h.value("at_ms", int64_t{0}), o);
    json cs = json::array();
    for (const auto& c : *conflicts) cs.push_back(ConflictJson(c, o));
    j["conflicts"] = std::move(cs);
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::cout << r.receipt << "  " << mpp::sync::StatusName(r.status) << "\n";
  std::cout << "  id:         " << r.id << "\n";
  std::cout << "  service:    " << r.service_id;
  if (svc != nullptr) std::cout << " (" << svc->name << ")";
  std::cout << "\n  van:        " << van_code << " (device " << r.device_id << ")\n";
  std::cout << "  officer:    " << r.officer << "\n";
  std::cout << "  registered: " << Local(r.created.wall_ms, o) << "\n";
  if (!r.status_note.empty()) std::cout << "  note:       " << r.status_note << "\n";
  std::cout << "Fields:\n";
  for (const auto& [name, value] : r.fields) {
    std::cout << "  " << label(name) << ": " << value.value << "\n";
  }
  std::cout << "History:\n";
  for (const auto& h : r.history) {
    std::cout << "  " << Local(h.at.wall_ms, o) << "  " << h.actor << "  " << h.text << "\n";
  }
  std::cout << "Conflicts:" << (conflicts->empty() ? " none" : "") << "\n";
  for (const auto& c : *conflicts) std::cout << "  " << ConflictLine(c, o) << "\n";
  return 0;
}

int ListTokens(mpp::server::DeviceService& devices, const Options& o, int64_t now_ms) {
  auto tokens = devices.ListTokens();
  if (!tokens) return Fail(tokens.error());
  json out = json::array();
  for (const auto& [id, t] : *tokens) {
    const std::string state = t.revoked_ms != 0        ? "revoked"
                              : t.used_ms != 0         ? "used"
                              : t.expires_ms <= now_ms ? "expired"
                                                       : "unused";
    out.push_back({{"id", id},
                   {"van_code", t.van_code},
                   {"state", state},
                   {"created_ms", t.created_ms},
                   {"created", Local(t.created_ms, o)},
                   {"expires_ms", t.expires_ms},
                   {"expires", Local(t.expires_ms, o)},
                   {"used_ms", t.used_ms},
                   {"used", Local(t.used_ms, o)},
                   {"used_by", t.used_by},
                   {"revoked_ms", t.revoked_ms},
                   {"revoked", Local(t.revoked_ms, o)}});
    if (!o.json_output) {
      std::cout << id << "  " << t.van_code << "  " << state << "  created "
                << Local(t.created_ms, o) << "  expires " << Local(t.expires_ms, o);
      if (t.used_ms != 0) std::cout << "  used " << Local(t.used_ms, o) << " by " << t.used_by;
      if (t.revoked_ms != 0) std::cout << "  revoked " << Local(t.revoked_ms, o);
      std::cout << "\n";
    }
  }
  if (o.json_output) {
    std::cout << out.dump() << "\n";
  } else {
    std::cout << tokens->size() << " tokens\n";
  }
  return 0;
}

// A staff account's password: MPP_STAFF_PASSWORD, or typed twice at the terminal (not echoed).
Result<std::string> StaffPassword() {
  if (const char* env = std::getenv("MPP_STAFF_PASSWORD"); env != nullptr && *env != '\0') {
    return std::string(env);
  }
  if (isatty(STDIN_FILENO) == 0) {
    return Error::InvalidInput("set MPP_STAFF_PASSWORD, or run this at a terminal to type it");
  }
  auto read_hidden = [](const char* prompt) {
    std::cerr << prompt << std::flush;
    termios saved{};
    tcgetattr(STDIN_FILENO, &saved);
    termios hidden = saved;
    hidden.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &hidden);
    std::string line;
    std::getline(std::cin, line);
    tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    std::cerr << "\n";
    return line;
  };
  std::string first = read_hidden("Password: ");
  if (read_hidden("Again: ") != first) return Error::InvalidInput("the passwords differ");
  return first;
}

int StaffCommand(mpp::server::StaffAccounts& accounts, const Options& o, CLI::App& add,
                 CLI::App& list, CLI::App& disable, CLI::App& passwd) {
  // Account changes made in the server's shell are audited as by the shell's operator.
  const std::string by = "shell";
  if (add) {
    auto role = mpp::server::ParseStaffRole(o.role);
    if (!role) return Fail(Error::InvalidInput("--role is viewer, officer or admin"));
    auto password = StaffPassword();
    if (!password) return Fail(password.error());
    auto account = accounts.Add(o.user, o.agency, *role, *password, by);
    if (!account) return Fail(account.error());
    std::cout << "Staff account " << account->user << " (" << mpp::server::StaffRoleName(*role)
              << ", agency " << account->agency << ") created.\n";
  } else if (list) {
    auto all = accounts.List();
    if (!all) return Fail(all.error());
    json out = json::array();
    for (const auto& a : *all) {
      out.push_back({{"user", a.user},
                     {"agency", a.agency},
                     {"role", mpp::server::StaffRoleName(a.role)},
                     {"created", Local(a.created_ms, o)},
                     {"disabled", a.disabled()}});
      if (!o.json_output) {
        std::cout << a.user << "  " << mpp::server::StaffRoleName(a.role) << "  " << a.agency
                  << "  " << (a.disabled() ? "DISABLED" : "active") << "  created "
                  << Local(a.created_ms, o) << "\n";
      }
    }
    if (o.json_output) std::cout << out.dump() << "\n";
  } else if (disable) {
    if (auto done = accounts.Disable(o.user, by); !done) return Fail(done.error());
    std::cout << "Staff account " << o.user << " disabled; its sessions ended.\n";
  } else if (passwd) {
    auto password = StaffPassword();
    if (!password) return Fail(password.error());
    if (auto done = accounts.SetPassword(o.user, *password, by); !done) {
      return Fail(done.error());
    }
    std::cout << "Password of " << o.user << " changed; its sessions ended.\n";
  }
  return 0;
}

int ListDuplicates(mpp::server::StaffService& staff, const Options& o) {
  auto pairs = staff.ListDuplicates();
  if (!pairs) return Fail(pairs.error());
  json out = json::array();
  auto side = [](const mpp::server::NikMatch& m) {
    return json{{"id", m.request_id},
                {"receipt", m.receipt},
                {"van_code", m.van_code},
                {"status", mpp::sync::StatusName(m.status)}};
  };
  for (const auto& p : *pairs) {
    out.push_back({{"request", side(p.request)},
                   {"other", side(p.other)},
                   {"flagged_ms", p.flagged_ms},
                   {"flagged", Local(p.flagged_ms, o)}});
    if (!o.json_output) {
      std::cout << p.request.receipt << " (van " << p.request.van_code << ", "
                << mpp::sync::StatusName(p.request.status) << ")  possible duplicate of "
                << p.other.receipt << " (van " << p.other.van_code << ", "
                << mpp::sync::StatusName(p.other.status) << ")  flagged " << Local(p.flagged_ms, o)
                << "\n";
    }
  }
  if (o.json_output) {
    std::cout << out.dump() << "\n";
  } else {
    std::cout << pairs->size() << " possible duplicates\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Everything the server writes holds citizen data or keys: owner only (database, WAL, keys).
  umask(077);
  CLI::App app{"mpp-server: the central server of the MPP mobile service channel"};
  app.require_subcommand(1);
  app.fallthrough();
  app.set_version_flag("--version", mpp::sync::VersionLine("mpp-server"));
  Options o;
  app.add_option("--data", o.data_dir, "server data directory (keys; and the SQLite database)")
      ->envname("MPP_SERVER_DATA");
  app.add_option("--db", o.db,
                 "PostgreSQL database, postgresql://USER:PASSWORD@HOST:PORT/DB (default: SQLite "
                 "in the data directory)")
      ->envname("MPP_SERVER_DB");
  app.add_flag("--json", o.json_output, "machine-readable output (times also in ms)");
  app.add_option("--time-zone", o.time_zone,
                 "zone of the times printed: WIB (default), WITA, WIT, UTC or +HH:MM; or set "
                 "MPP_TIME_ZONE");

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
  auto* migrate = app.add_subcommand(
      "migrate",
      "copy a SQLite data directory's database into an empty PostgreSQL database (--db)");
  std::string migrate_from;
  migrate->add_option("--from", migrate_from, "the data directory of the SQLite server")
      ->required();
  auto* new_epoch = app.add_subcommand(
      "new-epoch",
      "after the database was restored from a backup by other means (pg_dump): vans re-send "
      "what it lacks");
  auto* restore = app.add_subcommand(
      "restore", "replace the database with a backup and start a new epoch (server stopped)");
  restore->add_option("--from", o.backup_file, "a file made by `mpp-server backup`")->required();

  auto* token = app.add_subcommand("token", "enrolment tokens");
  token->require_subcommand(1);
  auto* token_create = token->add_subcommand("create", "make a one-time enrolment token");
  token_create->add_option("--van-code", o.van_code, "the van it is for")->required();
  token_create->add_option("--ttl", o.ttl, "lifetime, e.g. 30m, 24h, 7d (default 24h)");
  auto* qr_option = token_create->add_option(
      "--qr", o.qr_file, "also write the token as a QR code (SVG) to this new file, for the van");
  token_create
      ->add_option("--server-url", o.server_url,
                   "the address the van syncs with, carried in the QR code")
      ->needs(qr_option);
  auto* token_list = token->add_subcommand(
      "list", "list tokens by id (the server keeps only their hash, never the token)");
  auto* token_revoke = token->add_subcommand("revoke", "make an unused token enrol nothing");
  token_revoke->add_option("id", o.id, "the token id, as `token list` shows it")->required();
  token_revoke->add_option("--by", o.by, "who revokes (audit)")->default_val("admin");

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
  requests_list->add_option("--nik", o.nik, "only requests for this NIK (through the NIK index)");
  requests_list->add_flag("--duplicates", o.duplicates,
                          "the pairs flagged as possible duplicates (one NIK, one service, two "
                          "vans)");

  auto* request = app.add_subcommand("request", "show or change one request (as staff)");
  request->require_subcommand(1);
  auto* request_show = request->add_subcommand(
      "show", "a request: fields with their labels, status, history, conflicts");
  request_show->add_option("id", o.id, "request id or receipt")->required();
  auto* set_status = request->add_subcommand("set-status", "change the status");
  set_status->add_option("id", o.id, "request id or receipt")->required();
  set_status->add_option("status", o.status, "new status")->required();
  set_status->add_option("--by", o.by, "staff account (mpp-server staff list)")->required();
  set_status->add_option("--note", o.note, "note for the officer and citizen");
  auto* set_status_bulk = request->add_subcommand(
      "set-status-bulk",
      "change many statuses from a file of \"ID_OR_RECEIPT STATUS\" lines; the file is checked "
      "first, then applied in order, stopping at the first refusal");
  set_status_bulk->add_option("--file", o.bulk_file, "the file, one change per line")->required();
  set_status_bulk->add_option("--by", o.by, "staff account")->required();
  set_status_bulk->add_option("--note", o.note, "note for every change");
  auto* set_fields = request->add_subcommand("set", "correct fields");
  set_fields->add_option("id", o.id, "request id or receipt")->required();
  set_fields->add_option("--set", o.assignments, "key=value (repeat)")->required();
  set_fields->add_option("--by", o.by, "staff account")->required();

  auto* conflicts = app.add_subcommand("conflicts", "conflict records");
  conflicts->require_subcommand(1);
  auto* conflicts_list = conflicts->add_subcommand("list", "list open conflicts");
  conflicts_list->add_flag("--all", o.all, "resolved ones too");
  auto* conflicts_resolve =
      conflicts->add_subcommand("resolve", "settle a conflict (audited; the van receives it)");
  conflicts_resolve->add_option("id", o.conflict_rev, "the conflict id (#N in conflicts list)")
      ->required();
  auto* keep_option = conflicts_resolve->add_option("--keep", o.keep, "van or server")
                          ->check(CLI::IsMember({"van", "server"}));
  auto* value_option =
      conflicts_resolve->add_option("--value", o.value, "set the field to this value instead");
  keep_option->excludes(value_option);
  conflicts_resolve->add_option("--by", o.by, "staff account")->required();

  auto* staff_cmd = app.add_subcommand("staff", "staff accounts of the dashboard and commands");
  staff_cmd->require_subcommand(1);
  auto* staff_add = staff_cmd->add_subcommand(
      "add", "make an account (password from MPP_STAFF_PASSWORD or typed)");
  staff_add->add_option("--user", o.user, "user name: a-z, 0-9, '.', '_', '-'")->required();
  staff_add->add_option("--agency", o.agency, "the agency it works for ('*' for an admin)")
      ->required();
  staff_add->add_option("--role", o.role, "viewer, officer or admin")->required();
  auto* staff_list = staff_cmd->add_subcommand("list", "list accounts");
  auto* staff_disable =
      staff_cmd->add_subcommand("disable", "refuse the account from now on (ends its sessions)");
  staff_disable->add_option("user", o.user, "the user name")->required();
  auto* staff_passwd = staff_cmd->add_subcommand(
      "passwd", "set a new password (MPP_STAFF_PASSWORD or typed; ends its sessions)");
  staff_passwd->add_option("user", o.user, "the user name")->required();
  for (auto* sub : {staff_add, staff_passwd}) {
    sub->add_option("--hash-memory-kib", o.hash_memory_kib,
                    "Argon2id memory cost of the password hash (default 65536; lower only for "
                    "tests)")
        ->check(CLI::Range(64u, 4u * 1024 * 1024));
  }

  auto* catalog = app.add_subcommand("catalog", "the service catalog");
  catalog->require_subcommand(1);
  auto* catalog_load = catalog->add_subcommand(
      "load", "replace the catalog (version +1; vans receive it at their next pull)");
  catalog_load->add_option("file", o.catalog_file, "catalog JSON file")->required();
  catalog_load->add_option("--by", o.by, "who loads it (audit)")->default_val("admin");

  auto* audit = app.add_subcommand("audit", "non-repudiation checks");
  audit->require_subcommand(1);
  auto* audit_verify = audit->add_subcommand("verify", "re-verify every stored envelope");

  for (auto* sub : {init,          serve,           backup,
                    restore,       token,           token_create,
                    token_list,    token_revoke,    device,
                    device_list,   device_revoke,   requests,
                    requests_list, request,         request_show,
                    set_status,    set_status_bulk, set_fields,
                    conflicts,     conflicts_list,  conflicts_resolve,
                    catalog,       catalog_load,    audit,
                    audit_verify,  staff_cmd,       staff_add,
                    staff_list,    staff_disable,   staff_passwd}) {
    sub->fallthrough();
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "mpp-server: " << e.what() << " (see --help)\n";
    return 2;
  }

  {
    auto zone = o.time_zone.empty() ? mpp::sync::TimeZoneFromEnvironment()
                                    : mpp::sync::ParseTimeZone(o.time_zone);
    if (!zone) return Fail(zone.error());
    o.zone = *zone;
  }
  if (*conflicts_resolve && o.keep.empty() && value_option->count() == 0) {
    return Fail(Error::InvalidInput("say how: --keep van, --keep server or --value V"));
  }
  mpp::sync::SystemClock clock;
  mpp::sync::SystemRng rng;
  if (*init) {
    if (o.data_dir.empty()) return Fail(Error::InvalidInput("give --data DIR"));
    auto catalog = ReadFile(o.catalog_file.empty() ? MPP_DEFAULT_CATALOG : o.catalog_file);
    if (!catalog) return Fail(catalog.error());
    auto fingerprint = mpp::server::InitServerHome(o.data_dir, *catalog, o.db);
    if (!fingerprint) return Fail(fingerprint.error());
    std::cout << "Server initialised in " << o.data_dir << ". Give vans this key fingerprint:\n"
              << *fingerprint << "\n";
    return 0;
  }
  if (*serve) return RunServe(o, clock, rng);
  if (*migrate) {
    if (!mpp::server::IsPostgresUrl(o.db)) {
      return Fail(Error::InvalidInput("give the PostgreSQL database to copy into: --db URL"));
    }
    auto report = mpp::server::MigrateSqliteToPostgres(migrate_from, o.db);
    if (!report) return Fail(report.error());
    if (o.json_output) {
      std::cout << json(report->rows).dump() << "\n";
    } else {
      for (const auto& [table, rows] : report->rows) {
        std::cout << "  " << table << ": " << rows << " rows\n";
      }
      std::cout << "Copied " << migrate_from << " into the PostgreSQL database; serve it with "
                << "--data " << migrate_from << " --db URL. The vans' cursors carry over.\n";
    }
    return 0;
  }
  if (*restore) {
    if (o.data_dir.empty()) return Fail(Error::InvalidInput("give --data DIR"));
    if (!o.db.empty()) {
      return Fail(Error::InvalidInput(
          "a PostgreSQL database is restored with its own tools (README: backup and restore)"));
    }
    auto epoch = mpp::server::RestoreServerHome(o.data_dir, o.backup_file, clock);
    if (!epoch) return Fail(epoch.error());
    std::cout << "Restored " << o.data_dir << " from " << o.backup_file << " (epoch " << *epoch
              << "). Vans re-send what the backup lacks at their next sync.\n";
    return 0;
  }

  auto server = OpenServer(o, clock, rng);
  if (!server) return Fail(server.error());
  mpp::server::Services& services = *server->services;
  mpp::server::StaffService& staff = services.staff;
  mpp::server::DeviceService& devices = services.devices;
  mpp::server::ServerStorage& storage = *server->home.storage;

  mpp::crypto::Argon2Params password_cost;
  if (o.hash_memory_kib != 0) password_cost.memory_kib = o.hash_memory_kib;
  mpp::server::StaffAccounts accounts(services.core, password_cost);
  if (*staff_cmd) {
    return StaffCommand(accounts, o, *staff_add, *staff_list, *staff_disable, *staff_passwd);
  }
  // A staff command acts as the account --by names, within its role and agency.
  std::optional<mpp::server::ScopedStaff> as_staff;
  if (*set_status || *set_fields || *set_status_bulk || *conflicts_resolve) {
    auto actor = accounts.Actor(o.by);
    if (!actor) return Fail(actor.error());
    as_staff.emplace(staff, *actor);
  }

  if (*new_epoch) {
    auto epoch = mpp::server::StartEpoch(storage, clock, "new-epoch command: restored database");
    if (!epoch) return Fail(epoch.error());
    std::cout << "Epoch " << *epoch << " started. Vans re-send what the database lacks at their "
              << "next sync.\n";
    return 0;
  }
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
    if (!o.qr_file.empty()) {
      if (o.server_url.empty()) {
        return Fail(Error::InvalidInput("--qr needs --server-url (where the van syncs)"));
      }
      if (std::filesystem::exists(o.qr_file)) {
        return Fail(Error::Conflict(o.qr_file + " exists (refusing to overwrite it)"));
      }
      // Checked before the token is made, so a bad address leaves no token behind.
      if (auto probe = mpp::sync::EncodeEnrollmentQr({o.server_url, "t", "f"}); !probe) {
        return Fail(probe.error());
      }
    }
    auto t = devices.CreateEnrollmentToken(o.van_code, *ttl);
    if (!t) return Fail(t.error());
    std::string qr_payload;  // the text the QR code carries
    if (!o.qr_file.empty()) {
      auto payload =
          mpp::sync::EncodeEnrollmentQr({o.server_url, *t, services.core.server_fingerprint()});
      if (!payload) return Fail(payload.error());
      qr_payload = *payload;
      auto svg = mpp::sync::QrCodeSvg(*payload);
      if (!svg) return Fail(svg.error());
      std::ofstream out(o.qr_file, std::ios::binary);
      out << *svg;
      if (!out.flush()) return Fail(Error::StorageFull("cannot write " + o.qr_file));
      std::cerr << "QR code of the token written to " << o.qr_file << " (it enrols once)\n";
    }
    if (o.json_output) {
      const auto hash = mpp::crypto::Sha256(mpp::ViewOf(*t));
      const int64_t expires = clock.NowMillis() + *ttl;
      json out = {{"token", *t},
                  {"id", mpp::ToHex(hash).substr(0, mpp::server::kTokenIdChars)},
                  {"van_code", o.van_code},
                  {"expires_ms", expires},
                  {"expires", Local(expires, o)}};
      if (!qr_payload.empty()) out["qr_payload"] = qr_payload;
      std::cout << out.dump() << "\n";
    } else {
      std::cout << *t << "\n";  // the token alone, for scripts; its id is in `token list`
    }
    return 0;
  }
  if (*token_list) return ListTokens(devices, o, clock.NowMillis());
  if (*token_revoke) {
    auto r = devices.RevokeToken(o.id, o.by);
    if (!r) return Fail(r.error());
    std::cout << "Token " << o.id << " revoked: it enrols no device.\n";
    return 0;
  }
  if (*request_show) return ShowRequest(services, o);
  if (*catalog_load) {
    auto text = ReadFile(o.catalog_file);
    if (!text) return Fail(text.error());
    auto version = staff.LoadCatalog(*text, o.by);
    if (!version) return Fail(version.error().WithContext(o.catalog_file));
    if (o.json_output) {
      std::cout << json{{"version", *version}}.dump() << "\n";
    } else {
      std::cout << "Catalog version " << *version << " loaded; vans receive it at their next "
                << "sync.\n";
    }
    return 0;
  }
  if (*conflicts_resolve) {
    mpp::server::Resolution how = mpp::server::Resolution::kValue;
    if (o.keep == "van") how = mpp::server::Resolution::kKeepVan;
    if (o.keep == "server") how = mpp::server::Resolution::kKeepServer;
    auto resolved = as_staff->ResolveConflict(o.conflict_rev, how, o.value);
    if (!resolved) return Fail(resolved.error());
    if (o.json_output) {
      std::cout << ConflictJson(*resolved, o).dump() << "\n";
    } else {
      std::cout << "Conflict #" << o.conflict_rev << " resolved: " << resolved->resolution << ".\n";
    }
    return 0;
  }
  if (*device_list) {
    auto list = devices.ListDevices();
    if (!list) return Fail(list.error());
    json out = json::array();
    for (const auto& d : *list) {
      out.push_back({{"device_id", d.device_id},
                     {"van_code", d.van_code},
                     {"fingerprint", mpp::crypto::KeyFingerprint(d.public_key)},
                     {"enrolled_ms", d.enrolled_ms},
                     {"enrolled", Local(d.enrolled_ms, o)},
                     {"revoked", d.revoked()},
                     {"last_applied_seq", d.last_applied_seq},
                     {"last_sync_ms", d.last_sync_ms},
                     {"last_sync", Local(d.last_sync_ms, o)}});
      if (!o.json_output) {
        std::cout << d.device_id << "  " << d.van_code << "  "
                  << (d.revoked() ? "REVOKED" : "active") << "  seq " << d.last_applied_seq
                  << "  enrolled " << Local(d.enrolled_ms, o) << "  last sync "
                  << Local(d.last_sync_ms, o) << "\n";
      }
    }
    if (o.json_output) std::cout << out.dump() << "\n";
    return 0;
  }
  if (*device_revoke) {
    auto r = devices.RevokeDevice(o.device_id, o.by);
    if (!r) return Fail(r.error());
    std::cout << "Device " << o.device_id << " revoked.\n";
    return 0;
  }
  if (*requests_list && o.duplicates) return ListDuplicates(staff, o);
  if (*requests_list && !o.nik.empty()) {
    auto rows = staff.RequestsWithNik(o.nik);
    if (!rows) return Fail(rows.error());
    PrintRequests(*rows, o.json_output);
    return 0;
  }
  if (*requests_list) {
    mpp::server::RequestQuery query;
    if (!o.status.empty()) {
      query.status = mpp::sync::ParseStatus(o.status);
      if (!query.status) return Fail(Error::InvalidInput("unknown status \"" + o.status + "\""));
    }
    if (!o.agency.empty()) {
      if (staff.catalog().FindAgency(o.agency) == nullptr) {
        return Fail(Error::InvalidInput("unknown agency \"" + o.agency + "\""));
      }
      query.agency = o.agency;
    }
    auto rows = staff.ListRequests(query);
    if (!rows) return Fail(rows.error());
    PrintRequests(*rows, o.json_output);
    return 0;
  }
  if (*set_status || *set_fields) {
    Result<mpp::sync::Request> changed = Error::Internal("no change");
    if (*set_status) {
      auto to = mpp::sync::ParseStatus(o.status);
      if (!to) return Fail(Error::InvalidInput("unknown status \"" + o.status + "\""));
      changed = as_staff->SetStatus(o.id, *to, o.note);
    } else {
      auto fields = mpp::sync::ParseAssignments(o.assignments);
      if (!fields) return Fail(fields.error());
      changed = as_staff->SetFields(o.id, *fields);
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
    auto applied = ApplyStatusChanges(*as_staff, o.bulk_file, *changes, o.note);
    if (!applied) return Fail(applied.error());
    if (o.json_output) {
      std::cout << json{{"applied", *applied}}.dump() << "\n";
    } else {
      std::cout << "Changed the status of " << *applied << " requests.\n";
    }
    return 0;
  }
  if (*conflicts_list) {
    auto list = staff.ListConflicts();
    if (!list) return Fail(list.error());
    json out = json::array();
    size_t shown = 0;
    for (const auto& c : *list) {
      if (!o.all && !c.open()) continue;
      ++shown;
      out.push_back(ConflictJson(c, o));
      if (!o.json_output) std::cout << ConflictLine(c, o) << "\n";
    }
    if (o.json_output) {
      std::cout << out.dump() << "\n";
    } else {
      std::cout << shown << (o.all ? " conflicts" : " open conflicts") << "\n";
    }
    return 0;
  }
  if (*audit_verify) {
    auto report = staff.VerifyEnvelopes();
    if (!report) return Fail(report.error());
    for (const auto& f : report->failures) std::cout << "FAILED " << f << "\n";
    std::cout << "checked " << report->checked << " envelopes, " << report->failures.size()
              << " failures\n";
    return report->failures.empty() ? 0 : 1;
  }
  return 2;
}
