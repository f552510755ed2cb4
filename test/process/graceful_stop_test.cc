// TERM: no new connections, every request already sent is answered, then all
// processes exit and the pid file is removed. A second TERM stops at once.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "clients.h"
#include "server_harness.h"

namespace solar::testing {
namespace {

bool FileExists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

TEST(GracefulStop, TermUnderLoadAnswersEveryRequestAlreadySent) {
  ServerHarness server("listeners: 2\nworkers: 2\nworker { name: \"builtin:debug\" }\n");
  ASSERT_TRUE(server.start()) << server.log();
  ASSERT_TRUE(FileExists(server.pidFile()));
  auto kids = server.children();
  ASSERT_EQ(kids.size(), 5u);  // 2 listeners, 2 workers, the admin process
  // 50 connections each with 20 requests written, some of them slow, all sent
  // before the signal.
  constexpr int kConns = 50, kReqs = 20;
  std::vector<int> fds;
  for (int i = 0; i < kConns; ++i) {
    int fd = ConnectTcp(server.port());
    ASSERT_GE(fd, 0);
    std::string batch;
    for (int r = 0; r < kReqs; ++r) batch += Frame32(r == 0 && i % 10 == 0 ? "sleep:300" : "req-" + std::to_string(r));
    ASSERT_TRUE(WriteAll(fd, batch));
    fds.push_back(fd);
  }
  ASSERT_EQ(kill(server.pid(), SIGTERM), 0);
  int answered = 0;
  for (int i = 0; i < kConns; ++i) {
    for (int r = 0; r < kReqs; ++r) {
      std::string reply;
      if (!ReadFrame32(fds[i], &reply, 10000)) break;
      std::string want = r == 0 && i % 10 == 0 ? "slept:300" : "req-" + std::to_string(r);
      if (reply == want) ++answered;
    }
  }
  EXPECT_EQ(answered, kConns * kReqs);
  for (int fd : fds) EXPECT_TRUE(WaitClosed(fd, 5000));  // then the server closes
  for (int fd : fds) close(fd);
  EXPECT_EQ(server.wait(std::chrono::seconds(15)), 0) << server.log();
  for (pid_t k : kids) EXPECT_FALSE(ProcessExists(k));
  EXPECT_FALSE(FileExists(server.pidFile()));
  EXPECT_EQ(ConnectTcp(server.port()), -1) << "the port still accepts after the stop";
}

TEST(GracefulStop, NewConnectionsAreRefusedDuringTheDrain) {
  ServerHarness server("listeners: 2\nworkers: 1\nworker { name: \"builtin:debug\" }\n");
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  ASSERT_TRUE(WriteAll(fd, Frame32("sleep:1500")));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  kill(server.pid(), SIGTERM);
  ASSERT_TRUE(server.waitForLog("draining", std::chrono::seconds(5)));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(ConnectTcp(server.port()), -1);
  std::string reply;
  ASSERT_TRUE(ReadFrame32(fd, &reply, 5000));
  EXPECT_EQ(reply, "slept:1500");
  close(fd);
  EXPECT_EQ(server.wait(std::chrono::seconds(15)), 0);
}

TEST(GracefulStop, ABusyClientDoesNotHoldTheStopUntilTheTimeout) {
  ServerHarness server("workers: 1\ngraceful_timeout_ms: 20000\n");
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  std::atomic<bool> stop_sending{false};
  std::atomic<int> sent{0};
  std::thread sender([&] {
    while (!stop_sending.load() && WriteAll(fd, Frame32("tick"))) {
      ++sent;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto t0 = std::chrono::steady_clock::now();
  kill(server.pid(), SIGTERM);
  int answered = 0;
  std::string reply;
  while (ReadFrame32(fd, &reply, 5000)) ++answered;  // until the server closes
  stop_sending = true;
  sender.join();
  EXPECT_EQ(server.wait(std::chrono::seconds(10)), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5))
      << "a client sending every 10 ms kept the drain going";
  EXPECT_GT(answered, 20);
  EXPECT_EQ(server.log().find("graceful_timeout_ms"), std::string::npos) << "nothing should need killing";
  close(fd);
}

TEST(GracefulStop, ChildrenIgnoreTheTerminalsInterrupt) {
  // Ctrl-C reaches the whole process group; only the master may act on it.
  ServerHarness server("workers: 1\n");
  ASSERT_TRUE(server.start()) << server.log();
  const pid_t worker = server.childPid("worker 0"), listener = server.childPid("listener 0");
  kill(worker, SIGINT);
  kill(listener, SIGINT);
  kill(worker, SIGQUIT);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(server.childPid("worker 0"), worker);
  EXPECT_EQ(server.childPid("listener 0"), listener);
  int fd = ConnectTcp(server.port());
  std::string reply;
  ASSERT_TRUE(WriteAll(fd, Frame32("still up")) && ReadFrame32(fd, &reply));
  EXPECT_EQ(reply, "still up");
  close(fd);
  kill(server.pid(), SIGINT);  // the master's INT is a graceful stop
  EXPECT_EQ(server.wait(std::chrono::seconds(10)), 0);
}

TEST(GracefulStop, SecondTermDuringTheDrainStopsAtOnce) {
  ServerHarness server("workers: 1\nworker { name: \"builtin:debug\" }\ngraceful_timeout_ms: 60000\n");
  ASSERT_TRUE(server.start()) << server.log();
  auto kids = server.children();
  int fd = ConnectTcp(server.port());
  ASSERT_TRUE(WriteAll(fd, Frame32("sleep:30000")));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  kill(server.pid(), SIGTERM);
  ASSERT_TRUE(server.waitForLog("draining", std::chrono::seconds(5)));
  auto t0 = std::chrono::steady_clock::now();
  kill(server.pid(), SIGTERM);
  EXPECT_GE(server.wait(std::chrono::seconds(5)), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  for (pid_t k : kids) EXPECT_FALSE(ProcessExists(k));
  EXPECT_FALSE(FileExists(server.pidFile()));
  close(fd);
}

TEST(GracefulStop, GracefulTimeoutBoundsTheDrain) {
  ServerHarness server("workers: 1\nworker { name: \"builtin:debug\" }\ngraceful_timeout_ms: 500\n");
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  ASSERT_TRUE(WriteAll(fd, Frame32("sleep:30000")));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto t0 = std::chrono::steady_clock::now();
  kill(server.pid(), SIGTERM);
  EXPECT_GE(server.wait(std::chrono::seconds(10)), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_NE(server.log().find("graceful_timeout_ms (500) passed"), std::string::npos) << server.log();
  close(fd);
}

TEST(GracefulStop, AWorkerThatTakesTimeToTearDownIsNotCutShortByTheRepeatedTerm) {
  // The master repeats TERM every 100 ms while it waits; a worker past its
  // loop (closing its database in a destructor) must finish and exit 0.
  ServerHarness server("workers: 2\nworker {\n  name: \"builtin:debug\"\n"
                       "  settings { key: \"teardown_ms\" value: \"600\" }\n}\n");
  ASSERT_TRUE(server.start()) << server.log();
  EXPECT_EQ(server.stop(), 0);
  EXPECT_EQ(server.log().find("killed by signal"), std::string::npos) << server.log();
}

}  // namespace
}  // namespace solar::testing
