// build/direct-echo, make bench's reference server (tools/direct_echo): it must
// be a correct echo server over TCP and UDP, or every ratio in the bench table
// compares solar with something broken. Driven by solar-bench, which checks
// every reply byte for byte.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
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
  ASSERT_GT(port, 0);
  EXPECT_EQ(RunBench("-c 20 -P 4 -s 1-70000 -n 4000 127.0.0.1:" + std::to_string(port)), 0);
  EXPECT_EQ(RunBench("--proto line -c 5 -s 1-3000 -n 2000 127.0.0.1:" + std::to_string(port)), 0);
  Stop(pid);
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
