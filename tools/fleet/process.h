// Child processes of the fleet simulator, over mpp_subprocess (mpp/subprocess/subprocess.h:
// only processes this program started are ever signalled, and every wait has a bound): an
// owning ChildProcess for the long-running ones (the server, the proxy) whose stdout is read
// line by line, and readers of a process's memory and CPU use. Commands run to completion with
// subprocess::RunCommand.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "mpp/subprocess/subprocess.h"
#include "mpp/sync/result.h"

namespace mpp::fleet {

// A background child (the server, the proxy), started with subprocess::StartBackground. Its
// stdout is a pipe read with ReadLine; its stderr is appended to a file. It leads its own process
// group, so a Ctrl-C at the terminal reaches only this program, and it dies with SIGKILL if the
// thread that started it ends, so a crashed simulator leaves no server behind: start children
// from the main thread.
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
  // (128 + signal when a signal ended it; -1 when it could not be reaped). Safe to call once
  // the child is gone: returns the code already collected.
  int Stop(std::chrono::milliseconds grace);

 private:
  ChildProcess(pid_t pid, int stdout_fd) : pid_(pid), stdout_fd_(stdout_fd) {}
  void Release();

  pid_t pid_ = -1;  // > 0 exactly while this object owns an unreaped child
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
