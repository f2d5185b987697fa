#include "mpp/subprocess/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <thread>

namespace mpp::subprocess {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Every file made here: a child's output may hold what it handles (names, NIKs, tokens).
constexpr mode_t kFileMode = 0600;

void CloseAll(std::initializer_list<int> fds) {
  for (int fd : fds) {
    if (fd >= 0) close(fd);
  }
}

// argv or env as execve and posix_spawn take them: pointers into `strings` (which must outlive
// the result), then a null.
std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// A wait status as one number: the exit status, or 128 + the signal that ended the child.
int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

Error NotOurChild(pid_t pid) {
  return Error::NotFound("process " + std::to_string(pid) +
                         " is not an unreaped child of this process (reaped already?)");
}

enum class ChildState { kNotOurs, kRunning, kExited };

// Looks at `pid` without reaping it. A child that has exited but is not reaped yet keeps its
// PID, so while this says kRunning or kExited, a signal to `pid` reaches the process this
// program started and no other.
ChildState LookAt(pid_t pid) {
  if (pid <= 0) return ChildState::kNotOurs;  // waitid would take 0 and -1 as "any child"
  siginfo_t info{};
  int r;
  while ((r = waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT)) != 0 &&
         errno == EINTR) {
  }
  if (r != 0) return ChildState::kNotOurs;
  return info.si_pid == 0 ? ChildState::kRunning : ChildState::kExited;
}

// Reaps `pid` if it has exited: its exit code; nothing while it runs; kNotFound when it is not
// an unreaped child of this process.
Result<std::optional<int>> TryReap(pid_t pid) {
  if (pid <= 0) return NotOurChild(pid);  // waitpid would take 0 and -1 as "any child"
  int status = 0;
  pid_t r;
  while ((r = waitpid(pid, &status, WNOHANG)) < 0 && errno == EINTR) {
  }
  if (r == pid) return std::optional<int>(ExitCodeOf(status));
  if (r < 0) return NotOurChild(pid);
  return std::optional<int>();
}

// `name` as execve wants it: a path. A name without '/' is looked up in the PATH of `env`, or
// in this program's PATH when `env` has none; unfound, it is returned as it is (and the start
// fails). Done before fork, since between fork and exec the child may only make
// async-signal-safe calls (this program has other threads).
std::string ResolveProgram(const std::string& name, const std::vector<std::string>& env) {
  if (name.find('/') != std::string::npos) return name;
  std::string path;
  for (const auto& e : env) {
    if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
  }
  if (path.empty() && getenv("PATH") != nullptr) path = getenv("PATH");
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string candidate = path.substr(start, end - start) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return name;
}

}  // namespace

int MillisLeft(SteadyClock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<int64_t>(left, int64_t{1} << 30));
}

Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& env,
                                 std::chrono::milliseconds timeout,
                                 const std::string& stdout_path) {
  if (argv.empty()) return Error::InvalidInput("RunCommand: empty command");
  const std::string program = ResolveProgram(argv[0], env);
  int out_pipe[2] = {-1, -1};
  int err_pipe[2] = {-1, -1};
  int out_file = -1;
  if (stdout_path.empty()) {
    if (pipe2(out_pipe, O_CLOEXEC) != 0) {
      return Error::Internal(std::string("pipe: ") + std::strerror(errno));
    }
  } else {
    out_file = open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, kFileMode);
    if (out_file < 0) {
      return Error::InvalidInput("cannot write " + stdout_path + ": " + std::strerror(errno));
    }
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    const int e = errno;
    CloseAll({out_pipe[0], out_pipe[1], out_file});
    return Error::Internal(std::string("pipe: ") + std::strerror(e));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, stdout_path.empty() ? out_pipe[1] : out_file,
                                   STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  // Its own process group, so a kill on timeout also reaches whatever it started.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  std::vector<char*> c_argv = CStrings(argv);
  std::vector<char*> c_env = CStrings(env);
  pid_t pid = -1;
  const int spawned =
      posix_spawn(&pid, program.c_str(), &actions, &attr, c_argv.data(), c_env.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  // Only the child holds the write ends now, so the pipes close when it (and what it started)
  // is done with them.
  CloseAll({out_pipe[1], err_pipe[1], out_file});
  if (spawned != 0) {
    CloseAll({out_pipe[0], err_pipe[0]});
    return Error::Unavailable("cannot start " + argv[0] + ": " + std::strerror(spawned));
  }

  CommandResult result;
  const auto deadline = SteadyClock::now() + timeout;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 0;
  for (const auto& fd : fds) open_fds += fd.fd >= 0 ? 1 : 0;
  while (open_fds > 0) {
    const int left = MillisLeft(deadline);
    if (left == 0) {
      result.timed_out = true;
      break;
    }
    const int ready = poll(fds, 2, left);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[16384];
      const ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (const auto& fd : fds) {
    if (fd.fd >= 0) close(fd.fd);
  }
  // Output closed is not exit (a child may close its stdout and stderr and go on): the exit,
  // too, is waited for within the bound.
  Result<int> code = Error::Timeout("");
  if (!result.timed_out) code = WaitForExit(pid, std::chrono::milliseconds(MillisLeft(deadline)));
  if (!code && code.error().code() == ErrorCode::kTimeout) {
    result.timed_out = true;
    kill(-pid, SIGKILL);  // the child's process group, whose id is the child's PID (unreaped)
    code = WaitForExit(pid, kKillBound);
  }
  result.exit_code = code ? *code : -1;
  return result;
}

Result<BackgroundChild> StartBackground(const std::vector<std::string>& argv,
                                        const std::vector<std::string>& env,
                                        const BackgroundOutput& output) {
  if (argv.empty()) return Error::InvalidInput("StartBackground: empty command");
  if (output.stderr_path.empty()) return Error::InvalidInput("StartBackground: no stderr file");
  // Everything the child needs is prepared here: between fork and exec it only makes
  // async-signal-safe calls (this program has other threads).
  const std::string program = ResolveProgram(argv[0], env);
  std::vector<char*> c_argv = CStrings(argv);
  std::vector<char*> c_env = CStrings(env);
  const bool piped = output.stdout_path.empty();
  const bool shared_file = output.stdout_path == output.stderr_path;
  int out_pipe[2] = {-1, -1};
  // The child writes its errno here when it cannot exec; the write end closes on exec, so the
  // parent reads either a reason or EOF (started).
  int exec_pipe[2] = {-1, -1};
  if ((piped && pipe2(out_pipe, O_CLOEXEC) != 0) || pipe2(exec_pipe, O_CLOEXEC) != 0) {
    const int e = errno;
    CloseAll({out_pipe[0], out_pipe[1]});
    return Error::Internal(std::string("pipe: ") + std::strerror(e));
  }
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (output.append ? O_APPEND : O_TRUNC);
  const int err_fd = open(output.stderr_path.c_str(), flags, kFileMode);
  int open_errno = errno;
  int out_file = -1;
  if (!piped && !shared_file && err_fd >= 0) {
    out_file = open(output.stdout_path.c_str(), flags, kFileMode);
    open_errno = errno;
  }
  const int out_fd = piped ? out_pipe[1] : shared_file ? err_fd : out_file;
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (err_fd < 0 || out_fd < 0 || null_fd < 0) {
    const std::string which = err_fd < 0   ? output.stderr_path
                              : out_fd < 0 ? output.stdout_path
                                           : std::string("/dev/null");
    if (null_fd < 0) open_errno = errno;
    CloseAll({out_pipe[0], out_pipe[1], exec_pipe[0], exec_pipe[1], err_fd, out_file, null_fd});
    return Error::InvalidInput("cannot open " + which + ": " + std::strerror(open_errno));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    // Dies with the starting thread; the check closes the race with a parent that died before
    // the prctl.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    setpgid(0, 0);
    if (dup2(null_fd, STDIN_FILENO) >= 0 && dup2(out_fd, STDOUT_FILENO) >= 0 &&
        dup2(err_fd, STDERR_FILENO) >= 0) {
      execve(program.c_str(), c_argv.data(), c_env.data());
    }
    const int e = errno;
    [[maybe_unused]] const ssize_t written = write(exec_pipe[1], &e, sizeof e);
    _exit(127);
  }
  const int fork_errno = errno;
  CloseAll({out_pipe[1], exec_pipe[1], err_fd, out_file, null_fd});
  if (pid < 0) {
    CloseAll({out_pipe[0], exec_pipe[0]});
    return Error::Unavailable(std::string("fork: ") + std::strerror(fork_errno));
  }
  // Returns as soon as the child has exec'd (or failed to): nothing it does between fork and
  // exec can block.
  int exec_errno = 0;
  ssize_t n;
  while ((n = read(exec_pipe[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {
  }
  close(exec_pipe[0]);
  if (n > 0) {
    [[maybe_unused]] const auto reaped = WaitForExit(pid, kKillBound);  // it is at _exit
    CloseAll({out_pipe[0]});
    return Error::Unavailable("cannot start " + argv[0] + ": " + std::strerror(exec_errno));
  }
  return BackgroundChild{pid, out_pipe[0]};
}

bool IsRunning(pid_t pid) { return LookAt(pid) == ChildState::kRunning; }

Result<int> WaitForExit(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  // A pidfd becomes readable when the process exits: a wait on the exit itself.
  const int pidfd = pid > 0 ? static_cast<int>(syscall(SYS_pidfd_open, pid, 0)) : -1;
  Result<int> outcome = Error::Timeout("");
  for (;;) {
    auto reaped = TryReap(pid);
    if (!reaped) {
      outcome = reaped.error();
      break;
    }
    if (reaped->has_value()) {
      outcome = **reaped;
      break;
    }
    const int left = MillisLeft(deadline);
    if (left == 0) {
      outcome = Error::Timeout("process " + std::to_string(pid) + " still runs after " +
                               std::to_string(timeout.count()) + " ms");
      break;
    }
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      poll(&p, 1, left);
    } else {
      // No pidfd (Linux < 5.3): look again after a short interval.
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(left, 5)));
    }
  }
  if (pidfd >= 0) close(pidfd);
  return outcome;
}

Result<int> StopProcess(pid_t pid, std::chrono::milliseconds grace) {
  if (LookAt(pid) == ChildState::kNotOurs) return NotOurChild(pid);
  kill(pid, SIGTERM);
  auto code = WaitForExit(pid, grace);
  if (code || code.error().code() != ErrorCode::kTimeout) return code;
  return KillProcess(pid);
}

Result<int> KillProcess(pid_t pid) {
  if (LookAt(pid) == ChildState::kNotOurs) return NotOurChild(pid);
  kill(pid, SIGKILL);
  auto code = WaitForExit(pid, kKillBound);
  if (!code && code.error().code() == ErrorCode::kTimeout) {
    return Error::Timeout("process " + std::to_string(pid) + " still runs " +
                          std::to_string(kKillBound.count()) + " ms after SIGKILL");
  }
  return code;
}

}  // namespace mpp::subprocess
