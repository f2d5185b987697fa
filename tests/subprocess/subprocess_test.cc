// mpp_subprocess against real children (sh, sleep, env): output, exit codes, the time bound
// reaching grandchildren, background output files and pipes, stopping, and that a PID this
// program no longer owns is refused rather than signalled.
#include "mpp/subprocess/subprocess.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include "support/test_util.h"

namespace mpp::subprocess {
namespace {

using namespace std::chrono_literals;
using mpp::test::ReadFileOrDie;
using mpp::test::TempDir;

const std::vector<std::string> kEnv = {"PATH=/usr/bin:/bin"};

// Reads from `fd` until `line` (with its newline) has come; a failed test when EOF comes first.
void ReadUntil(int fd, const std::string& line) {
  std::string seen;
  char c;
  while (seen.find(line + "\n") == std::string::npos) {
    ASSERT_EQ(read(fd, &c, 1), 1) << "EOF before \"" << line << "\"; read: " << seen;
    seen += c;
  }
}

TEST(RunCommand, CapturesStdoutStderrAndExitCode) {
  auto r = RunCommand({"sh", "-c", "echo out; echo err >&2; exit 3"}, kEnv, 10s);
  ASSERT_OK(r);
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_FALSE(r->timed_out);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
}

TEST(RunCommand, ChildGetsExactlyTheGivenEnvironment) {
  auto r = RunCommand({"env"}, {"PATH=/usr/bin:/bin", "MPP_PROBE=1"}, 10s);
  ASSERT_OK(r);
  EXPECT_EQ(r->out, "PATH=/usr/bin:/bin\nMPP_PROBE=1\n");
}

TEST(RunCommand, TimeoutKillsTheChildAndWhatItStarted) {
  const auto start = std::chrono::steady_clock::now();
  // The background sleep holds stdout open: only a kill of the whole group ends the wait.
  auto r = RunCommand({"sh", "-c", "sleep 30 & wait"}, kEnv, 300ms);
  ASSERT_OK(r);
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->exit_code, 128 + SIGKILL);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST(RunCommand, ChildThatClosesItsOutputIsStillBoundedByTheTimeout) {
  auto r = RunCommand({"sh", "-c", "exec >&- 2>&-; sleep 30"}, kEnv, 300ms);
  ASSERT_OK(r);
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->exit_code, 128 + SIGKILL);
}

TEST(RunCommand, WritesStdoutToAFileWhenOneIsGiven) {
  TempDir dir;
  auto r = RunCommand({"sh", "-c", "echo to-file"}, kEnv, 10s, dir.Sub("out"));
  ASSERT_OK(r);
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out, "");
  EXPECT_EQ(ReadFileOrDie(dir.Sub("out")), "to-file\n");
}

TEST(RunCommand, RefusesWhatCannotStart) {
  auto missing = RunCommand({"mpp-no-such-program"}, kEnv, 10s);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kUnavailable);
  auto empty = RunCommand({}, kEnv, 10s);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code(), ErrorCode::kInvalidInput);
}

TEST(StartBackground, AppendsToItsFilesWhenAsked) {
  TempDir dir;
  for (int i = 0; i < 2; ++i) {
    auto child = StartBackground({"sh", "-c", "echo out; echo err >&2"}, kEnv,
                                 {dir.Sub("out"), dir.Sub("err"), /*append=*/true});
    ASSERT_OK(child);
    EXPECT_EQ(child->stdout_fd, -1);
    auto code = WaitForExit(child->pid, 10s);
    ASSERT_OK(code);
    EXPECT_EQ(*code, 0);
  }
  EXPECT_EQ(ReadFileOrDie(dir.Sub("out")), "out\nout\n");
  EXPECT_EQ(ReadFileOrDie(dir.Sub("err")), "err\nerr\n");
}

TEST(StartBackground, OneFileForBothStreamsKeepsBoth) {
  TempDir dir;
  auto child = StartBackground({"sh", "-c", "echo first; echo second >&2; echo third"}, kEnv,
                               {dir.Sub("log"), dir.Sub("log")});
  ASSERT_OK(child);
  ASSERT_OK(WaitForExit(child->pid, 10s));
  EXPECT_EQ(ReadFileOrDie(dir.Sub("log")), "first\nsecond\nthird\n");
}

TEST(StartBackground, PipesStdoutWhenNoFileIsGiven) {
  TempDir dir;
  auto child = StartBackground({"sh", "-c", "echo hello"}, kEnv, {"", dir.Sub("err")});
  ASSERT_OK(child);
  ASSERT_GE(child->stdout_fd, 0);
  ReadUntil(child->stdout_fd, "hello");
  close(child->stdout_fd);
  ASSERT_OK(WaitForExit(child->pid, 10s));
}

TEST(StartBackground, ProgramThatCannotBeExecutedIsAnError) {
  TempDir dir;
  auto child = StartBackground({"mpp-no-such-program"}, kEnv, {dir.Sub("out"), dir.Sub("err")});
  ASSERT_FALSE(child.ok());
  EXPECT_EQ(child.error().code(), ErrorCode::kUnavailable);
}

TEST(StartBackground, ChildDiesWithTheThreadThatStartedIt) {
  TempDir dir;
  pid_t pid = -1;
  std::thread([&] {
    auto child = StartBackground({"sleep", "30"}, kEnv, {dir.Sub("out"), dir.Sub("err")});
    if (child) pid = child->pid;
  }).join();
  ASSERT_GT(pid, 0);
  auto code = WaitForExit(pid, 10s);
  ASSERT_OK(code);
  EXPECT_EQ(*code, 128 + SIGKILL);
}

TEST(WaitForExit, TimesOutAndLeavesTheChildRunning) {
  TempDir dir;
  auto child = StartBackground({"sleep", "30"}, kEnv, {dir.Sub("out"), dir.Sub("err")});
  ASSERT_OK(child);
  auto code = WaitForExit(child->pid, 50ms);
  ASSERT_FALSE(code.ok());
  EXPECT_EQ(code.error().code(), ErrorCode::kTimeout);
  EXPECT_TRUE(IsRunning(child->pid));
  auto stopped = StopProcess(child->pid, 10s);
  ASSERT_OK(stopped);
  EXPECT_EQ(*stopped, 128 + SIGTERM);
  EXPECT_FALSE(IsRunning(child->pid));
}

TEST(StopProcess, KillsAChildThatIgnoresSigtermAfterTheGrace) {
  TempDir dir;
  auto child = StartBackground({"sh", "-c", "trap '' TERM; echo ready; exec sleep 30"}, kEnv,
                               {"", dir.Sub("err")});
  ASSERT_OK(child);
  ReadUntil(child->stdout_fd, "ready");  // SIGTERM is ignored from here on
  close(child->stdout_fd);
  auto code = StopProcess(child->pid, 100ms);
  ASSERT_OK(code);
  EXPECT_EQ(*code, 128 + SIGKILL);
}

TEST(KillProcess, ReapedChildIsRefusedNotSignalled) {
  TempDir dir;
  auto child = StartBackground({"true"}, kEnv, {dir.Sub("out"), dir.Sub("err")});
  ASSERT_OK(child);
  ASSERT_OK(WaitForExit(child->pid, 10s));
  EXPECT_FALSE(IsRunning(child->pid));
  for (auto r : {KillProcess(child->pid), StopProcess(child->pid, 10ms),
                 WaitForExit(child->pid, 10ms), KillProcess(-1), KillProcess(0)}) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), ErrorCode::kNotFound) << r.error().message();
  }
}

TEST(MillisLeft, IsZeroOncePassedAndFitsPoll) {
  const auto now = std::chrono::steady_clock::now();
  EXPECT_EQ(MillisLeft(now - 1s), 0);
  EXPECT_EQ(MillisLeft(now + std::chrono::hours(24 * 365)), 1 << 30);
  EXPECT_GT(MillisLeft(now + 10s), 5000);
}

}  // namespace
}  // namespace mpp::subprocess
