#include "support/process_util.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace mpp::subprocess {

std::ostream& operator<<(std::ostream& os, const CommandResult& r) {
  return os << "exit " << r.exit_code << (r.timed_out ? " (killed after the time bound)" : "")
            << "\nstdout: " << r.out << "\nstderr: " << r.err;
}

}  // namespace mpp::subprocess

namespace mpp::test {
namespace {

using Clock = std::chrono::steady_clock;
using subprocess::MillisLeft;

// An exit code as the test helpers return it: the code, or -1 and a test failure.
int CodeOrFailure(const Result<int>& code) {
  if (code) return *code;
  ADD_FAILURE() << code.error().message();
  return -1;
}

}  // namespace

ProcessResult RunProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                         std::chrono::milliseconds timeout) {
  auto result = subprocess::RunCommand(argv, env, timeout);
  if (!result) {
    ADD_FAILURE() << result.error().message();
    return ProcessResult{};
  }
  return std::move(result).value();
}

pid_t StartBackground(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                      const std::string& stdout_path, const std::string& stderr_path, bool append) {
  auto child = subprocess::StartBackground(argv, env, {stdout_path, stderr_path, append});
  if (!child) {
    ADD_FAILURE() << "StartBackground: " << child.error().message();
    return -1;
  }
  return child->pid;
}

std::optional<int> WaitForExit(pid_t pid, std::chrono::milliseconds timeout) {
  auto code = subprocess::WaitForExit(pid, timeout);
  if (!code && code.error().code() == ErrorCode::kTimeout) return std::nullopt;
  return CodeOrFailure(code);
}

int StopProcess(pid_t pid, std::chrono::milliseconds grace) {
  if (pid <= 0) return -1;
  return CodeOrFailure(subprocess::StopProcess(pid, grace));
}

int KillProcess(pid_t pid) {
  if (pid <= 0) return -1;
  return CodeOrFailure(subprocess::KillProcess(pid));
}

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ADD_FAILURE() << "socket: " << std::strerror(errno);
    return 0;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  } else {
    ADD_FAILURE() << "cannot bind a loopback port: " << std::strerror(errno);
  }
  close(fd);
  return port;
}

std::ostream& operator<<(std::ostream& os, const HttpAnswer& a) {
  if (a.status == 0) return os << "no HTTP answer: " << a.error;
  return os << "HTTP " << a.status << ": " << a.body;
}

HttpAnswer HttpCall(int port, const std::string& method, const std::string& path,
                    const std::string& body, std::chrono::milliseconds timeout) {
  HttpAnswer answer;
  const auto deadline = Clock::now() + timeout;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    answer.error = std::string("socket: ") + std::strerror(errno);
    return answer;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    answer.error = std::string("connect: ") + std::strerror(errno);
    close(fd);
    return answer;
  }
  std::string request = method + " " + path +
                        " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                        "\r\nConnection: close\r\n";
  if (method != "GET" || !body.empty()) {
    request +=
        "Content-Type: application/octet-stream\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n";
  }
  request += "\r\n" + body;

  // Send all of it, unless the server answers (and closes) early, as it may for a body it
  // refuses: then whatever it answered is read below.
  size_t sent = 0;
  while (sent < request.size()) {
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, MillisLeft(deadline)) <= 0) break;
    if (p.revents & (POLLERR | POLLHUP)) break;
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  // No half-close (shutdown SHUT_WR) after the request: cpp-httplib takes a half-closed
  // connection for a gone client and may drop its answer. "Connection: close" ends it instead.

  std::string raw;
  for (;;) {
    const int left = MillisLeft(deadline);
    if (left == 0) {
      answer.error = "timed out after " + std::to_string(timeout.count()) + " ms";
      break;
    }
    pollfd p{fd, POLLIN, 0};
    const int ready = poll(&p, 1, left);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char buffer[16384];
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      answer.error = std::string("recv: ") + std::strerror(errno);
      break;
    }
    if (n == 0) break;
    raw.append(buffer, static_cast<size_t>(n));
  }
  close(fd);

  const size_t head_end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos || raw.size() < 12) {
    if (answer.error.empty()) {
      answer.error = "not an HTTP answer (" + std::to_string(raw.size()) + " bytes)";
    }
    return answer;
  }
  answer.status = std::atoi(raw.c_str() + 9);
  answer.body = raw.substr(head_end + 4);
  answer.error.clear();
  return answer;
}

bool WaitForHealthz(int port, pid_t pid, int attempts, std::chrono::milliseconds interval) {
  for (int i = 0; i < attempts; ++i) {
    if (HttpCall(port, "GET", "/healthz", "", std::chrono::seconds(2)).status == 200) return true;
    if (pid > 0 && !IsRunning(pid)) return false;
    std::this_thread::sleep_for(interval);  // the interval between two checks, not the wait
  }
  return false;
}

}  // namespace mpp::test
