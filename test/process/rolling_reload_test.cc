// Rolling reload (USR1), worker modules, a refused replacement, and the
// watch-triggered reload.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "clients.h"
#include "server_harness.h"

namespace solar::testing {
namespace {

TEST(RollingReload, ReloadUnderLoadFailsZeroRequests) {
  // The module where the worker user can read it (the build tree may not be).
  ServerHarness placeholder;
  const std::string module = placeholder.dir() + "/libecho.so";
  ASSERT_TRUE(CopyFile(ModulePath("echo"), module));
  ServerHarness server("workers: 3\nlisteners: 2\nworker { module: \"" + module + "\" }\n");
  ASSERT_TRUE(server.start()) << server.log();
  auto before = server.workerPids(3);
  std::atomic<size_t> progress{0};
  PipelineResult result;
  PipelineOptions o;
  o.connections = 100;
  o.requests_per_connection = 2000;
  o.max_size = 2048;
  o.progress = &progress;
  const size_t total = 100u * 2000u;
  std::thread load([&] { result = RunPipelined(server.port(), o); });
  while (progress.load() < total / 10) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(kill(server.pid(), SIGUSR1), 0);
  ASSERT_TRUE(server.waitForLog("reload (USR1) done: 3 worker(s) replaced", std::chrono::seconds(20))) << server.log();
  const size_t at_reload_done = progress.load();
  kill(server.pid(), SIGUSR1);  // and once more while the load still runs
  load.join();
  EXPECT_LT(at_reload_done, total) << "the load should outlast the reload";
  EXPECT_EQ(result.answered, total);
  EXPECT_EQ(result.closed, 0u) << result.first_error;
  EXPECT_EQ(result.mismatches, 0u);
  EXPECT_FALSE(result.timed_out);
  auto after = server.workerPids(3);
  for (int i = 0; i < 3; ++i) EXPECT_NE(before[i], after[i]) << "worker " << i << " was not replaced";
  EXPECT_EQ(server.stop(), 0);
}

TEST(RollingReload, RequestsLargerThanADatagramSurviveAReload) {
  // 100-600 KiB requests travel as several chunks; a retiring worker must read
  // the rest of one it has started before it lets go of the slot.
  ServerHarness server("workers: 2\n");
  ASSERT_TRUE(server.start()) << server.log();
  std::atomic<size_t> progress{0};
  PipelineResult result;
  PipelineOptions o;
  o.connections = 8;
  o.requests_per_connection = 60;
  o.min_size = 100 * 1024;
  o.max_size = 600 * 1024;
  o.progress = &progress;
  std::thread load([&] { result = RunPipelined(server.port(), o); });
  while (progress.load() < 40) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  kill(server.pid(), SIGUSR1);
  ASSERT_TRUE(server.waitForLog("reload (USR1) done", std::chrono::seconds(20))) << server.log();
  kill(server.pid(), SIGUSR1);
  load.join();
  EXPECT_EQ(result.answered, 8u * 60u);
  EXPECT_EQ(result.closed, 0u) << result.first_error;
  EXPECT_EQ(result.mismatches, 0u);
  EXPECT_EQ(server.stop(), 0);
}

TEST(RollingReload, BrokenModuleIsRefusedAndOldWorkersKeepServing) {
  ServerHarness server;
  const std::string module = server.dir() + "/libecho.so";
  ASSERT_TRUE(CopyFile(ModulePath("echo"), module));
  ServerHarness real("workers: 2\nworker { module: \"" + module + "\" }\n");
  ASSERT_TRUE(real.start()) << real.log();
  auto before = real.workerPids(2);
  {
    std::ofstream garbage(module + ".tmp");
    garbage << "this is not an ELF file";
  }
  std::rename((module + ".tmp").c_str(), module.c_str());
  kill(real.pid(), SIGUSR1);
  ASSERT_TRUE(real.waitForLog("reload (USR1) stopped", std::chrono::seconds(10))) << real.log();
  EXPECT_NE(real.log().find("cannot load module"), std::string::npos) << real.log();
  EXPECT_EQ(real.workerPids(2), before) << "the old workers must keep their slots";
  int fd = ConnectTcp(real.port());
  std::string reply;
  ASSERT_TRUE(WriteAll(fd, Frame32("still served")));
  ASSERT_TRUE(ReadFrame32(fd, &reply));
  EXPECT_EQ(reply, "still served");
  close(fd);
  EXPECT_EQ(real.stop(), 0);
}

TEST(RollingReload, ReplacementWhoseOnStartFailsStopsTheReload) {
  ServerHarness server("workers: 2\nworker { name: \"builtin:debug\" }\n");
  const std::string flag = server.dir() + "/fail-start";
  setenv("SOLAR_DEBUG_FAIL_START", flag.c_str(), 1);
  ASSERT_TRUE(server.start()) << server.log();
  unsetenv("SOLAR_DEBUG_FAIL_START");
  auto before = server.workerPids(2);
  std::ofstream(flag) << "1";
  kill(server.pid(), SIGUSR1);
  ASSERT_TRUE(server.waitForLog("reload (USR1) stopped", std::chrono::seconds(10))) << server.log();
  EXPECT_NE(server.log().find("onStart failed"), std::string::npos);
  EXPECT_EQ(server.workerPids(2), before);
  // Once the cause is gone, the next reload goes through.
  unlink(flag.c_str());
  kill(server.pid(), SIGUSR1);
  EXPECT_TRUE(server.waitForLog("reload (USR1) done", std::chrono::seconds(10))) << server.log();
  EXPECT_EQ(server.stop(), 0);
}

TEST(RollingReload, ReplacingAWatchedModuleReloadsTheWorkers) {
  ServerHarness placeholder;
  const std::string module = placeholder.dir() + "/libmod.so";
  ASSERT_TRUE(CopyFile(ModulePath("echo"), module));
  ServerHarness server("workers: 2\nworker { module: \"" + module + "\" watch: true }\n");
  ASSERT_TRUE(server.start()) << server.log();
  auto before = server.workerPids(2);
  // New code: the debug worker (answers "pid"), where echo would echo "pid".
  ASSERT_TRUE(CopyFile(ModulePath("debug"), module));
  ASSERT_TRUE(server.waitForLog("changed) done: 2 worker(s) replaced", std::chrono::seconds(10))) << server.log();
  auto after = server.workerPids(2);
  EXPECT_NE(before, after);
  int fd = ConnectTcp(server.port());
  std::string reply;
  ASSERT_TRUE(WriteAll(fd, Frame32("pid")));
  ASSERT_TRUE(ReadFrame32(fd, &reply));
  EXPECT_TRUE(reply == std::to_string(after[0]) || reply == std::to_string(after[1])) << "old code answered: " << reply;
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST(RollingReload, ConnectionsSurviveAReloadAndKeepTheirOrder) {
  ServerHarness server("workers: 1\nworker { name: \"builtin:debug\" }\n");
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  std::string reply;
  // A slow request is in the old worker when the reload starts; the ones
  // behind it queue in the socketpair and go to the replacement, in order.
  ASSERT_TRUE(WriteAll(fd, Frame32("sleep:500") + Frame32("a") + Frame32("b")));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  kill(server.pid(), SIGUSR1);
  ASSERT_TRUE(ReadFrame32(fd, &reply, 10000));
  EXPECT_EQ(reply, "slept:500");
  ASSERT_TRUE(ReadFrame32(fd, &reply, 10000));
  EXPECT_EQ(reply, "a");
  ASSERT_TRUE(ReadFrame32(fd, &reply, 10000));
  EXPECT_EQ(reply, "b");
  ASSERT_TRUE(server.waitForLog("reload (USR1) done", std::chrono::seconds(10)));
  ASSERT_TRUE(WriteAll(fd, Frame32("after")));
  ASSERT_TRUE(ReadFrame32(fd, &reply));
  EXPECT_EQ(reply, "after");
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace solar::testing
