#include "process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

namespace mpp::fleet {
namespace {

using SteadyClock = std::chrono::steady_clock;

int MillisLeft(SteadyClock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<int64_t>(left, 1 << 30));
}

std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// The exit code if `pid` has exited (and reaps it), nothing while it runs.
std::optional<int> TryReap(pid_t pid) {
  int status = 0;
  pid_t r;
  while ((r = waitpid(pid, &status, WNOHANG)) < 0 && errno == EINTR) {
  }
  if (r == pid) return ExitCodeOf(status);
  if (r < 0) return -1;  // not our child any more: nothing left to wait for
  return std::nullopt;
}

// Waits up to `timeout` for the child to exit; reaps it. A pidfd becomes readable when the
// process exits, so this waits on the exit itself rather than sleeping.
std::optional<int> WaitForExit(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  std::optional<int> code;
  for (;;) {
    code = TryReap(pid);
    if (code) break;
    const int left = MillisLeft(deadline);
    if (left == 0) break;
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      poll(&p, 1, left);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(left, 5)));  // no pidfd
    }
  }
  if (pidfd >= 0) close(pidfd);
  return code;
}

// argv[0] as execve wants it: looked up in PATH before fork, since between fork and exec the
// child may only make async-signal-safe calls (this program has other threads).
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
    out_file = open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out_file < 0) {
      return Error::InvalidInput("cannot write " + stdout_path + ": " + std::strerror(errno));
    }
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    const int e = errno;
    for (int fd : {out_pipe[0], out_pipe[1], out_file}) {
      if (fd >= 0) close(fd);
    }
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
  for (int fd : {out_pipe[1], err_pipe[1], out_file}) {
    if (fd >= 0) close(fd);
  }
  if (spawned != 0) {
    for (int fd : {out_pipe[0], err_pipe[0]}) {
      if (fd >= 0) close(fd);
    }
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
      kill(-pid, SIGKILL);  // the child's process group, whose id is the child's PID
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
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = ExitCodeOf(status);
  return result;
}

Result<ChildProcess> ChildProcess::Start(const std::vector<std::string>& argv,
                                         const std::vector<std::string>& env,
                                         const std::string& stderr_path) {
  if (argv.empty()) return Error::InvalidInput("ChildProcess: empty command");
  // Everything the child needs is prepared before fork.
  const std::string program = ResolveProgram(argv[0], env);
  std::vector<char*> c_argv = CStrings(argv);
  std::vector<char*> c_env = CStrings(env);
  int out_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    return Error::Internal(std::string("pipe: ") + std::strerror(errno));
  }
  const int err_fd = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (err_fd < 0 || null_fd < 0) {
    const int e = errno;
    for (int fd : {out_pipe[0], out_pipe[1], err_fd, null_fd}) {
      if (fd >= 0) close(fd);
    }
    return Error::InvalidInput("cannot write " + stderr_path + ": " + std::strerror(e));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    // Dies with the starting thread; the check closes the race with a parent already gone.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    setpgid(0, 0);
    if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(out_pipe[1], STDOUT_FILENO) < 0 ||
        dup2(err_fd, STDERR_FILENO) < 0) {
      _exit(127);
    }
    execve(program.c_str(), c_argv.data(), c_env.data());
    _exit(127);
  }
  const int fork_errno = errno;
  close(out_pipe[1]);
  close(err_fd);
  close(null_fd);
  if (pid < 0) {
    close(out_pipe[0]);
    return Error::Unavailable(std::string("fork: ") + std::strerror(fork_errno));
  }
  return ChildProcess(pid, out_pipe[0]);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(other.pid_),
      stdout_fd_(other.stdout_fd_),
      pending_(std::move(other.pending_)),
      exit_code_(other.exit_code_) {
  other.pid_ = -1;
  other.stdout_fd_ = -1;
}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    Release();
    pid_ = other.pid_;
    stdout_fd_ = other.stdout_fd_;
    pending_ = std::move(other.pending_);
    exit_code_ = other.exit_code_;
    other.pid_ = -1;
    other.stdout_fd_ = -1;
  }
  return *this;
}

ChildProcess::~ChildProcess() { Release(); }

void ChildProcess::Release() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    WaitForExit(pid_, std::chrono::seconds(10));
    pid_ = -1;
  }
  if (stdout_fd_ >= 0) {
    close(stdout_fd_);
    stdout_fd_ = -1;
  }
}

Result<std::string> ChildProcess::ReadLine(std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    const size_t newline = pending_.find('\n');
    if (newline != std::string::npos) {
      std::string line = pending_.substr(0, newline);
      pending_.erase(0, newline + 1);
      return line;
    }
    if (stdout_fd_ < 0) return Error::Unavailable("the child's output is closed");
    const int left = MillisLeft(deadline);
    if (left == 0) {
      return Error::Timeout("no line from the child within " + std::to_string(timeout.count()) +
                            " ms");
    }
    pollfd p{stdout_fd_, POLLIN, 0};
    const int ready = poll(&p, 1, left);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char buffer[4096];
    const ssize_t n = read(stdout_fd_, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(stdout_fd_);
      stdout_fd_ = -1;
      return Error::Unavailable("the child closed its output (it exited?)");
    }
    pending_.append(buffer, static_cast<size_t>(n));
  }
}

bool ChildProcess::Running() const {
  if (pid_ <= 0) return false;
  siginfo_t info{};
  // WNOWAIT: look without reaping, so Stop still gets the exit code.
  if (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return false;
  }
  return info.si_pid == 0;
}

int ChildProcess::Stop(std::chrono::milliseconds grace) {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    auto code = WaitForExit(pid_, grace);
    if (!code) {
      kill(pid_, SIGKILL);
      code = WaitForExit(pid_, std::chrono::seconds(10));
    }
    exit_code_ = code.value_or(-1);
    pid_ = -1;
  }
  if (stdout_fd_ >= 0) {
    close(stdout_fd_);
    stdout_fd_ = -1;
  }
  return exit_code_;
}

MemoryUse ReadMemoryUse(pid_t pid) {
  MemoryUse use;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    // "VmHWM:     12345 kB"
    auto value = [&line]() { return std::atoll(line.c_str() + line.find(':') + 1); };
    if (line.rfind("VmHWM:", 0) == 0) use.peak_kib = value();
    if (line.rfind("VmRSS:", 0) == 0) use.current_kib = value();
  }
  return use;
}

int64_t ReadCpuMillis(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  // "pid (comm) state ppid ...": the name may hold spaces, so fields count from the last ')'.
  // After it come fields 3, 4, ...; utime and stime are fields 14 and 15 (proc(5)).
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(stat.substr(close + 1));
  std::string field;
  int64_t utime = -1, stime = -1;
  for (int number = 3; number <= 15 && fields >> field; ++number) {
    if (number == 14) utime = std::atoll(field.c_str());
    if (number == 15) stime = std::atoll(field.c_str());
  }
  const long ticks = sysconf(_SC_CLK_TCK);
  if (utime < 0 || stime < 0 || ticks <= 0) return -1;
  return (utime + stime) * 1000 / ticks;
}

bool ResetPeakMemory(pid_t pid) {
  std::ofstream out("/proc/" + std::to_string(pid) + "/clear_refs");
  out << "5\n";
  out.flush();
  return static_cast<bool>(out);
}

}  // namespace mpp::fleet
