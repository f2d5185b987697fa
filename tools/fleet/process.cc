#include "process.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace mpp::fleet {

Result<ChildProcess> ChildProcess::Start(const std::vector<std::string>& argv,
                                         const std::vector<std::string>& env,
                                         const std::string& stderr_path) {
  MPP_ASSIGN_OR_RETURN(subprocess::BackgroundChild child,
                       subprocess::StartBackground(argv, env,
                                                   {/*stdout_path=*/"", stderr_path,
                                                    /*append=*/true}));
  return ChildProcess(child.pid, child.stdout_fd);
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
    // Nothing to do when it cannot be reaped: the error says only that it is gone or stuck.
    [[maybe_unused]] const auto code = subprocess::KillProcess(pid_);
    pid_ = -1;
  }
  if (stdout_fd_ >= 0) {
    close(stdout_fd_);
    stdout_fd_ = -1;
  }
}

Result<std::string> ChildProcess::ReadLine(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const size_t newline = pending_.find('\n');
    if (newline != std::string::npos) {
      std::string line = pending_.substr(0, newline);
      pending_.erase(0, newline + 1);
      return line;
    }
    if (stdout_fd_ < 0) return Error::Unavailable("the child's output is closed");
    const int left = subprocess::MillisLeft(deadline);
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

bool ChildProcess::Running() const { return subprocess::IsRunning(pid_); }

int ChildProcess::Stop(std::chrono::milliseconds grace) {
  if (pid_ > 0) {
    const auto code = subprocess::StopProcess(pid_, grace);
    exit_code_ = code ? *code : -1;
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
