#include "support/pg_cluster.h"

#include <fcntl.h>
#include <glob.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "support/process_util.h"

namespace mpp::test {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kToolBound = std::chrono::seconds(60);   // initdb, createdb
constexpr auto kStartBound = std::chrono::seconds(60);  // until "ready", crash recovery included
constexpr auto kStopBound = std::chrono::seconds(30);
constexpr auto kPollInterval = std::chrono::milliseconds(5);  // between two looks at a file

std::vector<std::string> ToolEnv() {
  return {"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LC_ALL=C", "LANG=C", "TZ=UTC"};
}

bool HasServerBinaries(const std::string& dir) {
  return !dir.empty() && access((dir + "/postgres").c_str(), X_OK) == 0 &&
         access((dir + "/initdb").c_str(), X_OK) == 0 &&
         access((dir + "/createdb").c_str(), X_OK) == 0;
}

// The major version in /usr/lib/postgresql/<major>/bin, for picking the newest.
int MajorOf(const std::string& dir) {
  const size_t end = dir.rfind("/bin");
  const size_t start = dir.rfind('/', end - 1);
  return std::atoi(dir.c_str() + start + 1);
}

std::string FindBindir() {
  if (const char* env = std::getenv("MPP_PG_BINDIR"); env != nullptr && HasServerBinaries(env)) {
    return env;
  }
  for (const char* dir : {"/usr/local/bin", "/usr/bin", "/bin"}) {
    const std::string pg_config = std::string(dir) + "/pg_config";
    if (access(pg_config.c_str(), X_OK) != 0) continue;
    ProcessResult r = RunProcess({pg_config, "--bindir"}, ToolEnv(), std::chrono::seconds(10));
    std::string out = r.out;
    while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back()))) out.pop_back();
    if (r.exit_code == 0 && HasServerBinaries(out)) return out;
    break;
  }
  std::vector<std::string> candidates;
  glob_t found{};
  if (glob("/usr/lib/postgresql/*/bin", 0, nullptr, &found) == 0) {
    for (size_t i = 0; i < found.gl_pathc; ++i) candidates.emplace_back(found.gl_pathv[i]);
  }
  globfree(&found);
  std::sort(candidates.begin(), candidates.end(),
            [](const std::string& a, const std::string& b) { return MajorOf(a) > MajorOf(b); });
  candidates.push_back("/usr/local/pgsql/bin");
  for (const auto& dir : candidates) {
    if (HasServerBinaries(dir)) return dir;
  }
  return "";
}

std::string RandomHex(int bytes) {
  std::random_device random;
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < bytes; ++i) {
    const unsigned v = random() & 0xff;
    out.push_back(kDigits[v >> 4]);
    out.push_back(kDigits[v & 0xf]);
  }
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

std::string PgCluster::ParentDir() {
  struct statvfs shm {};
  if (statvfs("/dev/shm", &shm) == 0 && access("/dev/shm", W_OK) == 0 &&
      static_cast<uint64_t>(shm.f_bavail) * shm.f_frsize >= (uint64_t{2} << 30)) {
    return "/dev/shm";
  }
  return std::filesystem::temp_directory_path().string();
}

std::unique_ptr<PgCluster> PgCluster::Start() {
  std::unique_ptr<PgCluster> cluster(new PgCluster());
  cluster->bindir_ = FindBindir();
  if (cluster->bindir_.empty()) {
    ADD_FAILURE() << "PostgreSQL server binaries not found: run tools/setup.sh (looked for "
                     "pg_config --bindir, /usr/lib/postgresql/*/bin, $MPP_PG_BINDIR)";
    return nullptr;
  }
  cluster->as_nobody_ = geteuid() == 0;
  std::filesystem::create_directory(cluster->socket_dir());
  if (cluster->as_nobody_) {
    // initdb and postgres refuse to run as root: they run as nobody, who must own the dir.
    if (!cluster->GiveToServerUser(cluster->dir_.path().string()) ||
        !cluster->GiveToServerUser(cluster->socket_dir())) {
      return nullptr;
    }
  }
  if (!cluster->MakeDataDir()) return nullptr;
  cluster->major_ = std::atoi(ReadFile(cluster->dir_.Sub("data/PG_VERSION")).c_str());
  // A free port may be taken by someone else before the postmaster binds it: then a new one.
  for (int attempt = 0; attempt < 5; ++attempt) {
    cluster->port_ = FreeLoopbackPort();
    bool port_taken = false;
    if (cluster->StartPostmaster(&port_taken)) return cluster;
    if (!port_taken) break;
  }
  ADD_FAILURE() << "the PostgreSQL test cluster did not start; its log ends:\n"
                << cluster->LogTail();
  return nullptr;
}

bool PgCluster::GiveToServerUser(const std::string& path) const {
  if (!as_nobody_) return true;
  const passwd* nobody = getpwnam("nobody");
  if (nobody == nullptr) {
    ADD_FAILURE() << "running as root, and there is no user \"nobody\" to run PostgreSQL as";
    return false;
  }
  if (chown(path.c_str(), nobody->pw_uid, nobody->pw_gid) != 0) {
    ADD_FAILURE() << "chown " << path << " to nobody: " << std::strerror(errno);
    return false;
  }
  return true;
}

bool PgCluster::InitDb(const std::string& parent) {
  const std::string pwfile = parent + "/pwfile";
  std::ofstream(pwfile) << password_ << "\n";
  if (!GiveToServerUser(pwfile)) return false;
  return RunTool("initdb", {bindir_ + "/initdb", "-D", parent + "/data", "-U", "mpp",
                            "--pwfile=" + pwfile, "--auth-host=scram-sha-256", "--auth-local=trust",
                            "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"});
}

bool PgCluster::MakeDataDir() {
  // initdb takes over a second and ctest runs every test in a process of its own, so the data
  // dir is copied (a quarter of a second) from a template made once per build and per server
  // binary, beside the test binary. Without a writable build dir: initdb each time.
  std::error_code ec;
  const std::filesystem::path exe_dir =
      std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
  if (ec || access(exe_dir.c_str(), W_OK) != 0) {
    password_ = RandomHex(16);
    return InitDb(dir_.path().string());
  }
  const std::string tmpl = (exe_dir / ("pg-template-" + std::to_string(geteuid()))).string();
  const auto mtime = std::filesystem::last_write_time(bindir_ + "/postgres", ec);
  const std::string stamp = bindir_ + " " + std::to_string(mtime.time_since_epoch().count()) + "\n";

  // One process at a time makes or copies the template (ctest -j runs tests side by side).
  const int lock = open((tmpl + ".lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (lock < 0) {
    ADD_FAILURE() << "cannot open " << tmpl << ".lock: " << std::strerror(errno);
    return false;
  }
  const auto deadline = Clock::now() + 2 * kToolBound;
  while (flock(lock, LOCK_EX | LOCK_NB) != 0) {
    if (Clock::now() >= deadline) {
      ADD_FAILURE() << "another test process held " << tmpl << ".lock for over "
                    << 2 * kToolBound.count() << " s";
      close(lock);
      return false;
    }
    std::this_thread::sleep_for(kPollInterval);  // the interval between two tries, not the wait
  }
  bool ok = true;
  if (ReadFile(tmpl + "/stamp") != stamp) {
    const std::string fresh = tmpl + ".new";
    std::filesystem::remove_all(tmpl, ec);
    std::filesystem::remove_all(fresh, ec);
    std::filesystem::create_directory(fresh, ec);
    password_ = RandomHex(16);
    ok = !ec && GiveToServerUser(fresh);
    if (ok && as_nobody_ &&
        RunProcess(AsServerUser({"test", "-w", fresh}), ToolEnv(), kToolBound).exit_code != 0) {
      // nobody cannot reach the build dir (it is under /root, say): no template then.
      std::filesystem::remove_all(fresh, ec);
      close(lock);
      return InitDb(dir_.path().string());
    }
    ok = ok && InitDb(fresh);
    if (ok) {
      std::ofstream(fresh + "/password") << password_;
      std::ofstream(fresh + "/stamp") << stamp;
      std::filesystem::rename(fresh, tmpl, ec);
      ok = !ec;
      if (!ok) ADD_FAILURE() << "rename " << fresh << ": " << ec.message();
    }
  }
  if (ok) {
    password_ = ReadFile(tmpl + "/password");
    // -a keeps the owner (nobody when root) and the 0700 mode postgres insists on.
    const ProcessResult r =
        RunProcess({"cp", "-a", tmpl + "/data", data_dir()}, ToolEnv(), kToolBound);
    ok = r.exit_code == 0;
    if (!ok) ADD_FAILURE() << "copying the PostgreSQL template " << tmpl << " failed: " << r;
  }
  close(lock);  // releases the lock
  return ok;
}

PgCluster::~PgCluster() {
  if (pid_ > 0) {
    // The data is thrown away with the dir: no need for a clean shutdown's checkpoint.
    kill(pid_, SIGQUIT);
    if (!WaitForExit(pid_, kStopBound)) KillProcess(pid_);
    pid_ = -1;
  }
}

std::vector<std::string> PgCluster::AsServerUser(std::vector<std::string> argv) const {
  // `env -C` makes the dir the working directory: the test's own may be closed to nobody.
  std::vector<std::string> prefix = {"env", "-C", dir_.path().string()};
  if (as_nobody_) {
    const passwd* nobody = getpwnam("nobody");
    // setpriv execs (no process in between, so the PID is the server's); changing the user
    // clears the parent-death signal, so setpriv sets it again.
    prefix.insert(prefix.begin(), {"setpriv", "--reuid=" + std::to_string(nobody->pw_uid),
                                   "--regid=" + std::to_string(nobody->pw_gid), "--clear-groups",
                                   "--pdeathsig=KILL", "--"});
  }
  argv.insert(argv.begin(), prefix.begin(), prefix.end());
  return argv;
}

bool PgCluster::RunTool(const std::string& what, std::vector<std::string> argv) {
  const ProcessResult r = RunProcess(AsServerUser(std::move(argv)), ToolEnv(), kToolBound);
  if (r.exit_code != 0) {
    ADD_FAILURE() << what << " for the PostgreSQL test cluster failed: " << r;
    return false;
  }
  return true;
}

bool PgCluster::StartPostmaster(bool* port_taken) {
  *port_taken = false;
  const std::string log = dir_.Sub("log");
  const size_t log_before = ReadFile(log).size();
  const std::vector<std::string> argv = {bindir_ + "/postgres",
                                         "-D",
                                         data_dir(),
                                         "-p",
                                         std::to_string(port_),
                                         "-k",
                                         socket_dir(),
                                         "-c",
                                         "listen_addresses=127.0.0.1",
                                         "-c",
                                         "fsync=off",
                                         "-c",
                                         "full_page_writes=off",
                                         "-c",
                                         "max_connections=200",
                                         "-c",
                                         "dynamic_shared_memory_type=mmap",
                                         "-c",
                                         "idle_in_transaction_session_timeout=60s"};
  pid_ = StartBackground(AsServerUser(argv), ToolEnv(), log, log, /*append=*/true);
  if (pid_ <= 0) return false;

  // Ready when postmaster.pid names this process and its status line (the 8th) says "ready",
  // which is what `pg_ctl start -w` waits for.
  const auto deadline = Clock::now() + kStartBound;
  const std::string pid_file = dir_.Sub("data/postmaster.pid");
  while (Clock::now() < deadline) {
    const std::vector<std::string> lines = Lines(ReadFile(pid_file));
    if (lines.size() >= 8 && lines[0] == std::to_string(pid_) && lines[7].rfind("ready", 0) == 0) {
      return true;
    }
    if (!IsRunning(pid_)) {
      const std::optional<int> code = WaitForExit(pid_, std::chrono::seconds(1));
      pid_ = -1;
      const std::string output = ReadFile(log).substr(log_before);
      *port_taken = output.find("could not bind") != std::string::npos ||
                    output.find("already in use") != std::string::npos;
      if (!*port_taken) {
        ADD_FAILURE() << "postgres exited with " << code.value_or(-1)
                      << " while starting; its log ends:\n"
                      << LogTail();
      }
      return false;
    }
    std::this_thread::sleep_for(kPollInterval);  // the interval between two looks, not the wait
  }
  ADD_FAILURE() << "postgres was not ready after " << kStartBound.count() << " s; its log ends:\n"
                << LogTail();
  KillProcess(pid_);
  pid_ = -1;
  return false;
}

bool PgCluster::WaitForShutdown(int signal, const char* how) {
  if (pid_ <= 0) {
    ADD_FAILURE() << how << ": the PostgreSQL test cluster is not running";
    return false;
  }
  kill(pid_, signal);
  const std::optional<int> code = WaitForExit(pid_, kStopBound);
  if (!code) {
    ADD_FAILURE() << how << ": postgres still ran after " << kStopBound.count()
                  << " s; killed. Its log ends:\n"
                  << LogTail();
    KillProcess(pid_);
  }
  pid_ = -1;
  return code.has_value();
}

bool PgCluster::Stop() { return WaitForShutdown(SIGINT, "Stop"); }
bool PgCluster::Crash() { return WaitForShutdown(SIGQUIT, "Crash"); }

bool PgCluster::StartAgain() {
  if (pid_ > 0) {
    ADD_FAILURE() << "StartAgain: the PostgreSQL test cluster is already running";
    return false;
  }
  bool port_taken = false;
  if (StartPostmaster(&port_taken)) return true;
  if (port_taken) {
    ADD_FAILURE() << "StartAgain: port " << port_ << " was taken while the cluster was down";
  }
  return false;
}

bool PgCluster::Restart() { return Stop() && StartAgain(); }

bool PgCluster::running() const { return pid_ > 0 && IsRunning(pid_); }

std::string PgCluster::url(const std::string& dbname) const {
  return url_with_password(dbname, password_);
}

std::string PgCluster::url_with_password(const std::string& dbname,
                                         const std::string& password) const {
  return "postgresql://mpp:" + password + "@127.0.0.1:" + std::to_string(port_) + "/" + dbname;
}

std::string PgCluster::CreateDatabase() {
  std::string name;
  if (const auto* info = ::testing::UnitTest::GetInstance()->current_test_info()) {
    name = std::string(info->test_suite_name()) + "_" + info->name();
  }
  for (char& c : name) {
    c = std::isalnum(static_cast<unsigned char>(c))
            ? static_cast<char>(std::tolower(static_cast<unsigned char>(c)))
            : '_';
  }
  name = "t_" + name.substr(0, 48) + "_" + std::to_string(++databases_);
  return CreateDatabase(name);
}

std::string PgCluster::CreateDatabase(const std::string& name) {
  const bool plain = !name.empty() && name.size() <= 63 && !std::isdigit(name[0]) &&
                     std::all_of(name.begin(), name.end(), [](char c) {
                       return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
                     });
  if (!plain) {
    ADD_FAILURE() << "CreateDatabase: \"" << name << "\" is not a plain lowercase identifier";
    return url(name);
  }
  // Over the trusting Unix socket: no password needed, and the client may run as anyone.
  // From template0 by copying its files, the quickest way (since version 15).
  std::vector<std::string> argv = {bindir_ + "/createdb",
                                   "-h",
                                   socket_dir(),
                                   "-p",
                                   std::to_string(port_),
                                   "-U",
                                   "mpp",
                                   "-T",
                                   "template0"};
  if (major_ >= 15) argv.push_back("--strategy=file_copy");
  argv.push_back(name);
  const ProcessResult r = RunProcess(argv, ToolEnv(), kToolBound);
  if (r.exit_code != 0) ADD_FAILURE() << "createdb " << name << " failed: " << r;
  return url(name);
}

std::string PgCluster::LogTail() const {
  const std::string log = ReadFile(dir_.Sub("log"));
  return log.size() <= 3000 ? log : log.substr(log.size() - 3000);
}

PgCluster* SharedPgCluster() {
  // Destroyed at exit, which stops the server; a test binary that crashes takes the server with
  // it (see the header).
  static std::unique_ptr<PgCluster> cluster;
  static bool tried = false;
  if (!tried) {
    tried = true;
    cluster = PgCluster::Start();
  }
  if (cluster == nullptr) {
    ADD_FAILURE() << "the shared PostgreSQL test cluster could not start (see the first failure)";
    return nullptr;
  }
  // A test that stopped or crashed it and failed before starting it again.
  if (!cluster->running() && !cluster->StartAgain()) return nullptr;
  return cluster.get();
}

}  // namespace mpp::test
