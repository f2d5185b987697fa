// Child processes for the fleet simulator: run a command to completion under a time bound, or
// start a long-running one (the server, the proxy) and stop it by its PID. Only processes this
// program started are ever signalled, and every wait has a bound.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "mpp/sync/result.h"

namespace mpp::fleet {

struct CommandResult {
  int exit_code = -1;  // 128 + signal when the child was killed
  bool timed_out = false;
  std::string out;  // empty when stdout went to a file
  std::string err;
};

// Runs argv (argv[0] looked up in PATH) with exactly `env` and /dev/null as stdin. stdout is
// captured, or written to `stdout_path` when one is given; stderr is captured. A child still
// running after `timeout` is killed with its process group, and `timed_out` is set.
// Error only when the child cannot be started.
Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& env,
                                 std::chrono::milliseconds timeout,
                                 const std::string& stdout_path = "");

// A background child (the server, the proxy). Its stdout is a pipe read with ReadLine; its
// stderr is appended to a file. It leads its own process group, so a Ctrl-C at the terminal
// reaches only this program, and it dies with SIGKILL if the thread that started it ends, so a
// crashed simulator leaves no server behind: start children from the main thread.
// Move-only; the destructor kills and reaps a child that is still running.
class ChildProcess {
 public:
  static Result<ChildProcess> Start(const std::vector<std::string>& argv,
                                    const std::vector<std::string>& env,
                                    const std::string& stderr_path);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  // One line of the child's stdout, without its newline. kTimeout when none came within
  // `timeout`; kUnavailable when the child closed stdout (it exited) first.
  Result<std::string> ReadLine(std::chrono::milliseconds timeout);
  // True while the child has not exited (it is not reaped by this check).
  bool Running() const;
  // SIGTERM, then SIGKILL if it still runs after `grace`; reaps it. Returns the exit code
  // (128 + signal when a signal ended it). Safe to call once the child is gone: returns the
  // code already collected.
  int Stop(std::chrono::milliseconds grace);

 private:
  ChildProcess(pid_t pid, int stdout_fd) : pid_(pid), stdout_fd_(stdout_fd) {}
  void Release();

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string pending_;  // bytes read from stdout after the last full line
  int exit_code_ = -1;
};

// Resident memory of a process from /proc/PID/status, in KiB (-1 when unreadable).
struct MemoryUse {
  int64_t peak_kib = -1;     // VmHWM: the high-water mark since start or the last reset
  int64_t current_kib = -1;  // VmRSS
};
MemoryUse ReadMemoryUse(pid_t pid);
// CPU time (user + system, all threads) a process has used so far, in ms; -1 when unreadable.
int64_t ReadCpuMillis(pid_t pid);

// Resets VmHWM to the current RSS (writes "5" to /proc/PID/clear_refs, Linux >= 4.0), so a later
// peak covers only what follows. False when the kernel refuses.
bool ResetPeakMemory(pid_t pid);

}  // namespace mpp::fleet
