// build/direct-echo, make bench's reference server (tools/direct_echo): it must
// be a correct echo server over TCP and UDP, or every ratio in the bench table
// compares solar with something broken. Driven by solar-bench, which checks
// every reply byte for byte.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "server_harness.h"

namespace solar::testing {
namespace {

std::string DirectEchoBin() {
  const char* e = std::getenv("DIRECT_ECHO");
  return e ? e : "build/direct-echo";
}

// Starts direct-echo with `args`; returns its pid and sets *port.
pid_t StartDirect(const std::string& args, int* port) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    execl("/bin/sh", "sh", "-c", ("exec " + DirectEchoBin() + " " + args + " 127.0.0.1:0").c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  char line[128] = {};
  FILE* f = fdopen(fds[0], "r");
  if (f == nullptr || std::fgets(line, sizeof(line), f) == nullptr) {
    if (f) std::fclose(f);
    return pid;
  }
  std::fclose(f);
  const std::string s(line);
  *port = std::atoi(s.substr(s.rfind(':') + 1).c_str());
  return pid;
}

int RunBench(const std::string& args) {
  return WEXITSTATUS(std::system((BenchBin() + " " + args + " >/dev/null 2>&1").c_str()));
}

void Stop(pid_t pid) {
  kill(pid, SIGTERM);
  int st = 0;
  waitpid(pid, &st, 0);
}

TEST(DirectEcho, EchoesEveryTcpRequestOfEverySizeExactly) {
  int port = 0;
  pid_t pid = StartDirect("", &port);
  if (port <= 0) Stop(pid);
  ASSERT_GT(port, 0);
  EXPECT_EQ(RunBench("-c 20 -P 4 -s 1-70000 -n 4000 127.0.0.1:" + std::to_string(port)), 0);
  EXPECT_EQ(RunBench("--proto line -c 5 -s 1-3000 -n 2000 127.0.0.1:" + std::to_string(port)), 0);
  Stop(pid);
}

// Live (not zombie) processes whose parent is `pid`.
int ChildCount(pid_t pid) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream in(entry.path() / "stat");
    std::string line;
    if (!std::getline(in, line)) continue;
    const size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    if (rest >> state >> ppid && ppid == pid && state != 'Z') ++n;
  }
  return n;
}

// --hop N (socketpairs) and --hop-shm N (shared-memory rings): every request
// crosses to one of N worker processes and back, and still comes back
// exactly, pipelined and up to 70 KB (a read of 64 KiB is a record of its
// own, and 1 MiB rings wrap many times).
TEST(DirectEcho, HopModesEchoThroughTheirWorkerProcesses) {
  for (const std::string mode : {"--hop", "--hop-shm"}) {
    int port = 0;
    pid_t pid = StartDirect(mode + " 2", &port);
    if (port <= 0) Stop(pid);
    ASSERT_GT(port, 0) << mode;
    EXPECT_EQ(ChildCount(pid), 2) << mode << " 2 forks two workers";
    EXPECT_EQ(RunBench("-c 20 -P 4 -s 1-70000 -n 4000 127.0.0.1:" + std::to_string(port)), 0) << mode;
    EXPECT_EQ(RunBench("-c 100 -s 50 -n 20000 127.0.0.1:" + std::to_string(port)), 0) << mode;
    EXPECT_EQ(ChildCount(pid), 2) << mode;
    Stop(pid);
  }
}

TEST(DirectEcho, HopModesRefuseUdpDiskAndNoWorkers) {
  const std::string bin = DirectEchoBin();
  EXPECT_EQ(WEXITSTATUS(std::system((bin + " --hop 2 --disk /tmp 127.0.0.1:0 >/dev/null 2>&1").c_str())), 2);
  EXPECT_EQ(WEXITSTATUS(std::system((bin + " --hop 2 --udp 127.0.0.1:0 >/dev/null 2>&1").c_str())), 2);
  EXPECT_EQ(WEXITSTATUS(std::system((bin + " --hop 0 127.0.0.1:0 >/dev/null 2>&1").c_str())), 2);
  EXPECT_EQ(WEXITSTATUS(std::system((bin + " --hop-shm 2 --udp 127.0.0.1:0 >/dev/null 2>&1").c_str())), 2);
}

TEST(DirectEcho, EchoesUdpDatagramsAndWritesToDiskInDiskMode) {
  int port = 0;
  pid_t pid = StartDirect("--udp", &port);
  ASSERT_GT(port, 0);
  EXPECT_EQ(RunBench("--proto udp -c 10 -s 50 -n 3000 127.0.0.1:" + std::to_string(port)), 0);
  Stop(pid);
  char tmpl[] = "/tmp/solar-direct-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  port = 0;
  pid = StartDirect("--disk " + dir, &port);
  ASSERT_GT(port, 0);
  EXPECT_EQ(RunBench("-c 4 -s 100 -n 1000 127.0.0.1:" + std::to_string(port)), 0);
  Stop(pid);
  FILE* f = std::fopen((dir + "/direct-echo.data").c_str(), "r");
  ASSERT_NE(f, nullptr);
  std::fseek(f, 0, SEEK_END);
  EXPECT_GE(std::ftell(f), 1000 * 104);  // every frame (4-byte header + 100 bytes) written
  std::fclose(f);
  [[maybe_unused]] int rc = std::system(("rm -rf '" + dir + "'").c_str());
}

}  // namespace
}  // namespace solar::testing
