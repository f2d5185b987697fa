// Child processes, by PID: run a command to completion under a time bound with its output
// captured, or start a long-running one (a server, a proxy, a sync) in the background and later
// check, wait for, stop or kill it. Shared by the tests (tests/support/process_util.h) and the
// fleet simulator (tools/fleet/process.h).
//
// Invariants every function here keeps:
// - Only processes this program started are signalled: a PID is signalled only while it is
//   still an unreaped child of this process (a child's PID cannot be reused before it is
//   reaped), so a stale PID is refused (kNotFound), never sent a signal.
// - Every wait waits on a condition (the child's exit, a pipe closing) and has a bound; none is
//   a fixed sleep standing in for a condition.
// - A child gets exactly the environment it is given, /dev/null as stdin, and no descriptor of
//   this program but its stdout and stderr (everything here is opened close-on-exec).
//
// Thread-safety: any thread may call any function, but each PID has one owner, who reaps it
// exactly once (WaitForExit returning a code, StopProcess or KillProcess); two threads must not
// wait for the same PID.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "mpp/sync/result.h"

namespace mpp::subprocess {

struct CommandResult {
  int exit_code = -1;  // 128 + signal when a signal ended the child
  bool timed_out = false;
  std::string out;  // empty when stdout went to a file
  std::string err;
};

// Runs argv with exactly `env` as its environment and /dev/null as stdin. argv[0] without a '/'
// is looked up in the PATH of `env`, or in this program's PATH when `env` has none. stdout is
// captured, or written to `stdout_path` (created 0600, truncated) when one is given; stderr is
// captured. The child leads its own process group: one still running after `timeout` is killed
// with SIGKILL together with whatever it started, and `timed_out` is set. The child is always
// reaped before this returns.
// Errors: kInvalidInput (empty argv, `stdout_path` not writable), kUnavailable (the program
// cannot be started: not found, not executable), kInternal (no pipe).
Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& env,
                                 std::chrono::milliseconds timeout,
                                 const std::string& stdout_path = "");

// Where a background child's output goes. Files are created 0600 when missing; when both paths
// are the same file, both streams share one open file, so neither overwrites the other.
struct BackgroundOutput {
  std::string stdout_path;  // empty: a pipe, whose read end StartBackground returns
  std::string stderr_path;  // required
  bool append = false;      // append to the files rather than truncate them
};

struct BackgroundChild {
  pid_t pid = -1;
  // The read end of the child's stdout when BackgroundOutput::stdout_path was empty, else -1.
  // Close-on-exec; the caller owns it and closes it.
  int stdout_fd = -1;
};

// Starts argv in the background (argv[0] resolved as RunCommand does) with exactly `env` and
// /dev/null as stdin. The child leads its own process group, so a Ctrl-C at the terminal reaches
// only this program. It dies with SIGKILL when the thread that started it ends
// (PR_SET_PDEATHSIG), so a crashed or killed run leaves no server behind: start background
// children from a thread that lives as long as they should (the main or the test's own thread),
// never from a short-lived helper thread. The kernel clears that signal when the child changes
// its user (`setpriv --reuid`), so such a wrapper must set it again (`setpriv --pdeathsig`).
// The caller owns the PID: it reaps it exactly once, with WaitForExit, StopProcess or
// KillProcess. Returns once the child has exec'd its program.
// Errors: kInvalidInput (empty argv or stderr_path, a file not writable), kInternal (no pipe),
// kUnavailable (fork failed, or the program cannot be executed: not found, not executable; the
// child is reaped then).
Result<BackgroundChild> StartBackground(const std::vector<std::string>& argv,
                                        const std::vector<std::string>& env,
                                        const BackgroundOutput& output);

// True while `pid` is an unreaped child of this process that has not exited. Never reaps it, so
// the owner still gets the exit code. False for pid <= 0 and for what is not (any more) a child.
bool IsRunning(pid_t pid);

// Waits up to `timeout` for the child to exit and reaps it: its exit code (128 + signal when a
// signal ended it). kTimeout when it still runs after `timeout` (it is left running, unreaped);
// kNotFound when `pid` is not an unreaped child of this process (reaped already, never ours).
Result<int> WaitForExit(pid_t pid, std::chrono::milliseconds timeout);

// SIGTERM to the child, then SIGKILL if it still runs after `grace`; reaps it and returns its
// exit code (128 + signal when a signal ended it). Signals the PID only, not its group.
// kNotFound (and no signal sent) when `pid` is not an unreaped child of this process; kTimeout
// when it survives SIGKILL for kKillBound (stuck in the kernel; left unreaped).
Result<int> StopProcess(pid_t pid, std::chrono::milliseconds grace);

// SIGKILL at once, then reaps: the exit code, 137 unless it had exited already. kNotFound and
// kTimeout as StopProcess.
Result<int> KillProcess(pid_t pid);

// How long a child may take to go after SIGKILL before StopProcess and KillProcess give up:
// only a process stuck in an uninterruptible kernel call (a dead NFS mount) takes longer.
inline constexpr std::chrono::milliseconds kKillBound{10'000};

// Milliseconds from now until `deadline`: 0 once it has passed, at most 2^30, so the value fits
// the timeout argument of poll(2).
int MillisLeft(std::chrono::steady_clock::time_point deadline);

}  // namespace mpp::subprocess
