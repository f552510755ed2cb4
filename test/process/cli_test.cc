// The command line: -t checks a config, errors name file:line:col, a second
// instance is refused, a stale pid file does not block a start.
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "server_harness.h"

namespace solar::testing {
namespace {

struct CmdResult {
  int code;
  std::string out;
};

CmdResult RunSolar(const std::string& args) {
  std::string cmd = SolarBin() + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  CmdResult r{-1, ""};
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string WriteTemp(const std::string& name, const std::string& text) {
  std::string path = "/tmp/solar-cli-test-" + std::to_string(getpid()) + "-" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(Cli, CheckAcceptsTheShippedConfig) {
  CmdResult r = RunSolar("-t -c etc/solar.conf");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("is ok"), std::string::npos);
}

TEST(Cli, CheckReportsSyntaxErrorWithFileLineColumn) {
  std::string path = WriteTemp("syntax.conf", "workers: 2\nlisteners: {\n");
  CmdResult r = RunSolar("-t -c " + path);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find(path + ":2:"), std::string::npos) << r.out;
  unlink(path.c_str());
}

TEST(Cli, CheckReportsUnknownFieldWithItsLine) {
  std::string path = WriteTemp("unknown.conf", "workers: 2\n\nwrokers: 3\n");
  CmdResult r = RunSolar("-t -c " + path);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find(path + ":3:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("wrokers"), std::string::npos) << r.out;
  unlink(path.c_str());
}

TEST(Cli, CheckReportsBadValueAtTheField) {
  std::string path = WriteTemp("value.conf", "listen: \"127.0.0.1:7700\"\n  workers: 0\n");
  CmdResult r = RunSolar("-t -c " + path);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find(path + ":2:3: workers must be 1..256"), std::string::npos) << r.out;
  unlink(path.c_str());
}

TEST(Cli, UnknownWorkerIsRefused) {
  std::string path = WriteTemp("worker.conf", "worker { name: \"builtin:nope\" }\n");
  CmdResult r = RunSolar("-t -c " + path);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("builtin:nope"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("builtin:echo"), std::string::npos) << "should list what exists: " << r.out;
  unlink(path.c_str());
}

TEST(Cli, StartWithABadConfigExitsNonZero) {
  std::string path = WriteTemp("bad.conf", "protocol: CARRIER_PIGEON\n");
  CmdResult r = RunSolar("-c " + path);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find(path + ":"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("CARRIER_PIGEON"), std::string::npos) << r.out;
  unlink(path.c_str());
}

TEST(Cli, PrintShowsTheEffectiveConfig) {
  std::string path = WriteTemp("print.conf", "workers: 7\n");
  CmdResult r = RunSolar("-T -c " + path);
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("workers: 7"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("listeners: 1"), std::string::npos) << r.out;  // defaults shown too
  unlink(path.c_str());
}

TEST(Cli, SecondInstanceWithTheSamePidFileIsRefused) {
  ServerHarness first;
  ASSERT_TRUE(first.start()) << first.log();
  CmdResult r = RunSolar("-c " + first.configPath());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("another solar (pid " + std::to_string(first.pid()) + ")"), std::string::npos) << r.out;
  EXPECT_EQ(first.stop(), 0);
}

TEST(Cli, StalePidFileDoesNotBlockAStart) {
  ServerHarness server;
  std::ofstream(server.pidFile()) << "999999\n";  // left by a crash: nobody holds its lock
  ASSERT_TRUE(server.start()) << server.log();
  std::ifstream in(server.pidFile());
  pid_t pid = 0;
  in >> pid;
  EXPECT_EQ(pid, server.pid());
  EXPECT_EQ(server.stop(), 0);
}

std::string ToolBin(const char* env, const std::string& fallback) {
  const char* e = std::getenv(env);
  return e ? e : fallback;
}

CmdResult RunCommand(const std::string& command) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  CmdResult r{-1, ""};
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

TEST(Cli, EveryBinaryPrintsItsVersion) {
  const std::pair<std::string, std::string> tools[] = {
      {"solar", SolarBin()},
      {"solarctl", ToolBin("SOLARCTL", "build/solarctl")},
      {"solar-cli", ToolBin("SOLAR_CLI", "build/solar-cli")},
      {"solar-bench", BenchBin()},
  };
  for (const auto& [name, bin] : tools) {
    CmdResult r = RunCommand(bin + " --version");
    EXPECT_EQ(r.code, 0) << name << ": " << r.out;
    EXPECT_EQ(r.out.rfind(name + " ", 0), 0u) << r.out;
    EXPECT_NE(r.out.find(" (worker API "), std::string::npos) << r.out;
  }
}

TEST(Cli, BadUsageExitsTwoWithTheUsage) {
  const std::string ctl = ToolBin("SOLARCTL", "build/solarctl"), cli = ToolBin("SOLAR_CLI", "build/solar-cli");
  const std::pair<std::string, std::string> cases[] = {
      {SolarBin() + " -x", "solar: unknown option '-x'"},
      {SolarBin() + " -c", "solar: option '-c' needs a value"},
      {SolarBin() + " --test=yes", "solar: option '--test=yes' takes no value"},
      {SolarBin() + " stray", "solar: unexpected argument 'stray'"},
      {ctl + " --frobnicate status", "solarctl: unknown option '--frobnicate'"},
      {ctl + " status stop", "solarctl: unexpected argument 'stop'"},
      {ctl + " restart", "solarctl: unknown command 'restart'"},
      {ctl, "solarctl: missing command"},
      {cli + " -x get k", "solar-cli: unknown option '-x'"},
      {cli + " bench-direct-pg --clients", "solar-cli bench-direct-pg: option '--clients' needs a value"},
  };
  for (const auto& [command, message] : cases) {
    CmdResult r = RunCommand(command);
    EXPECT_EQ(r.code, 2) << command << ": " << r.out;
    EXPECT_NE(r.out.find(message), std::string::npos) << command << ": " << r.out;
    EXPECT_NE(r.out.find("\nusage: "), std::string::npos) << command << ": " << r.out;
  }
  // Long options take --name=value and -cFILE as well as separate words.
  std::string path = WriteTemp("forms.conf", "workers: 2\n");
  EXPECT_EQ(RunSolar("--test --config=" + path).code, 0);
  EXPECT_EQ(RunSolar("-tc" + path).code, 0);
  unlink(path.c_str());
}

}  // namespace
}  // namespace solar::testing
