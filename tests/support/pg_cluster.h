// A throwaway PostgreSQL cluster for tests: initdb in a fresh temp dir, a postmaster on a free
// loopback port, databases made on demand, and stop, crash and start again on the same port.
//
// The server binaries are found with `pg_config --bindir`, else in /usr/lib/postgresql/*/bin
// (the newest), or in $MPP_PG_BINDIR. The superuser is "mpp" with a random password; TCP logins
// need it (scram-sha-256), the Unix socket in the cluster's dir trusts everyone (the helper's
// createdb uses it). Settings are for speed, not durability: fsync and full_page_writes are off
// (tests kill processes, not the power). synchronous_commit stays on: a commit has then written
// its WAL to the kernel before it returns, so a Crash() keeps every committed transaction; with
// it off, the last ~200 ms of commits would be lost and crash tests would fail at random.
//
// Running as root (CI, this machine): initdb and postgres refuse root, so they run as the user
// "nobody" (setpriv), the temp dir belongs to nobody, and its parent must let nobody through
// (the system temp dir does).
//
// No stray servers: the postmaster is a direct child of the test (StartBackground, through
// setpriv which execs it), killed by the kernel when the test thread that started it dies, even
// by a crash; its backends notice the postmaster is gone and exit. A crashed test binary leaves
// only its temp dir and PostgreSQL's 56-byte System V segment behind: dynamic shared memory is
// kept in files of the data dir (dynamic_shared_memory_type=mmap), not in /dev/shm/PostgreSQL.*.
// Start the cluster from the test's own thread (gtest's main thread), not from a helper thread
// that ends. Every process is ended by its PID.
//
// The cluster lives in /dev/shm when that has a few GiB free (a new database there takes some
// 40 ms instead of some 450 ms on a shared disk), else in the system temp dir.
//
// initdb runs once per build: the data dir is a copy of a template kept beside the test binary
// (pg-template-<uid>, remade when the server binary changes), so each cluster starts in about
// half a second.
//
// Every wait is bounded and waits on a condition (postmaster.pid saying "ready", the
// postmaster's exit); a step that runs out of time fails the test with the server log's tail.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "support/test_util.h"

namespace mpp::test {

class PgCluster {
 public:
  // A running cluster, or null after a test failure saying why (no binaries: "PostgreSQL server
  // binaries not found: run tools/setup.sh"; initdb or start failed: with its output).
  static std::unique_ptr<PgCluster> Start();
  ~PgCluster();  // stops the server (immediately: the data is thrown away) and removes the dir
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  // postgresql://mpp:PASSWORD@127.0.0.1:PORT/dbname
  std::string url(const std::string& dbname) const;
  // A URL with a wrong password, for login tests.
  std::string url_with_password(const std::string& dbname, const std::string& password) const;
  // Creates a fresh, empty database and returns its URL. The name must be a plain lowercase
  // identifier; without one it is made from the current test's name and a counter.
  std::string CreateDatabase(const std::string& name);
  std::string CreateDatabase();

  // Fast shutdown (SIGINT: clients are disconnected, a checkpoint is written). True when the
  // server stopped within its bound.
  bool Stop();
  // Immediate shutdown (SIGQUIT, what `pg_ctl stop -m immediate` sends): no checkpoint, the
  // next start runs crash recovery. Like a crash of the server machine's database process.
  bool Crash();
  // Starts the stopped (or crashed) cluster again on the same port; true once it accepts
  // connections.
  bool StartAgain();
  // Stop() then StartAgain().
  bool Restart();

  bool running() const;
  pid_t postmaster_pid() const { return pid_; }
  int port() const { return port_; }
  const std::string& password() const { return password_; }
  std::string data_dir() const { return dir_.Sub("data"); }
  std::string socket_dir() const { return dir_.Sub("sock"); }
  // The last lines of the server log, for failure messages.
  std::string LogTail() const;

 private:
  PgCluster() = default;
  // Runs a server program (as nobody when root) with a bound; true when it exited 0, else a
  // test failure with its output.
  bool RunTool(const std::string& what, std::vector<std::string> argv);
  // Starts the postmaster on port_ and waits until it is ready. `port_taken` is set when it
  // failed because the port was in use.
  bool StartPostmaster(bool* port_taken);
  bool WaitForShutdown(int signal, const char* how);
  std::vector<std::string> AsServerUser(std::vector<std::string> argv) const;
  bool GiveToServerUser(const std::string& path) const;  // chown to nobody when root
  bool InitDb(const std::string& parent);                // initdb parent/data
  bool MakeDataDir();                                    // data_dir() from the template

  static std::string ParentDir();

  TempDir dir_{ParentDir()};  // declared first: removed after the server has stopped
  std::string bindir_;
  std::string password_;
  int port_ = 0;
  pid_t pid_ = -1;
  int databases_ = 0;
  int major_ = 0;  // the server's major version
  bool as_nobody_ = false;
};

// One cluster per test binary, started on first use and stopped at exit. Null (with a test
// failure) when it cannot start; every later call then fails the same way at once.
PgCluster* SharedPgCluster();

}  // namespace mpp::test
