// Real child processes for tests, over mpp_subprocess (mpp/subprocess/subprocess.h, which
// states the invariants: only this program's own children are signalled, every wait has a
// bound): run a command to completion, or start a long-running one (a server, a sync) in the
// background and stop or kill it by its PID. What the tests add: a child that cannot be started
// or reaped is a test failure (ADD_FAILURE) plus a plain value (-1), so a test reads
// `EXPECT_EQ(StopProcess(pid, 5s), 0)`; results print in gtest messages; and a tiny HTTP/1.1
// client over a loopback socket to probe a server without libcurl.
//
// Every wait here waits on a condition (the child's exit, an answer on a port, a pipe closing)
// with a bound; none is a fixed sleep standing in for a condition.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "mpp/subprocess/subprocess.h"

namespace mpp::subprocess {
// For gtest messages (`EXPECT_EQ(r.exit_code, 0) << r`) and printing. Declared in the struct's
// own namespace, where gtest's printer and argument-dependent lookup look for it.
std::ostream& operator<<(std::ostream& os, const CommandResult& r);
}  // namespace mpp::subprocess

namespace mpp::test {

using ProcessResult = subprocess::CommandResult;

// subprocess::RunCommand with stdout captured. A command that cannot start is a test failure
// and an exit_code of -1.
ProcessResult RunProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                         std::chrono::milliseconds timeout = std::chrono::seconds(60));

// subprocess::StartBackground with stdout and stderr to the given files (truncated, or
// appended to when `append`; one shared file when both paths are the same). Returns the child's
// PID, or -1 (with a test failure) when it cannot start. The child dies with SIGKILL if the
// thread that started it ends, so a crashed or killed test run leaves no server behind: start
// background processes from the test's own thread, not from a short-lived helper thread.
// The caller owns the PID: reap it with WaitForExit, StopProcess or KillProcess exactly once.
pid_t StartBackground(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                      const std::string& stdout_path, const std::string& stderr_path,
                      bool append = false);

// True while the child has not exited (it is not reaped by this check).
using subprocess::IsRunning;

// Waits up to `timeout` for the child to exit and reaps it. Returns its exit code (128 + signal
// when killed), or nothing when it still runs after `timeout` (it is then left running). A PID
// that is not an unreaped child (reaped twice) is a test failure and -1.
std::optional<int> WaitForExit(pid_t pid, std::chrono::milliseconds timeout);

// SIGTERM, then SIGKILL if the child is still running after `grace`; reaps it and returns its
// exit code (128 + signal when killed by one). -1 for pid <= 0; -1 and a test failure for a PID
// that is not an unreaped child (nothing is signalled then).
int StopProcess(pid_t pid, std::chrono::milliseconds grace = std::chrono::seconds(10));

// SIGKILL at once, then reaps; returns the exit code (137 unless it had exited already). -1 as
// StopProcess.
int KillProcess(pid_t pid);

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed). Another
// process may take it before the caller binds it: callers retry with a new one on bind failure.
int FreeLoopbackPort();

struct HttpAnswer {
  int status = 0;  // 0: no HTTP answer (connection refused, reset, timed out, unparsable)
  std::string body;
  std::string error;  // why there is no answer, when status is 0
};
std::ostream& operator<<(std::ostream& os, const HttpAnswer& a);

// One HTTP/1.1 request to 127.0.0.1:port with "Connection: close"; reads the answer to EOF.
HttpAnswer HttpCall(int port, const std::string& method, const std::string& path,
                    const std::string& body = "",
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Polls GET /healthz on 127.0.0.1:port until it answers 200, at most `attempts` times with
// `interval` between attempts. With `pid` > 0, gives up early once that process has exited
// (it did not come up: port in use, bad arguments). True when the server answered.
bool WaitForHealthz(int port, pid_t pid = -1, int attempts = 200,
                    std::chrono::milliseconds interval = std::chrono::milliseconds(25));

}  // namespace mpp::test
