// A worker slot that cannot start (onStart fails: its database is down, its
// module is broken) must not leave requests waiting in its socketpair while
// it crash-loops (issue 10): the clients waiting on it are closed at once, a
// request for it closes its connection, new connections go to the workers
// that serve, and once a start succeeds the slot takes connections again.
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "clients.h"
#include "server_harness.h"

namespace solar::testing {
namespace {

pid_t WorkerPidOf(int fd) {
  std::string reply;
  if (!WriteAll(fd, Frame32("pid")) || !ReadFrame32(fd, &reply, 5000)) return -1;
  return static_cast<pid_t>(std::stol(reply));
}

TEST(WorkerUnavailable, RequestsForAWorkerThatCannotStartAreRefusedPromptlyAndOthersAreServed) {
  char tmpl[] = "/tmp/solar-fail-start-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  chmod(dir.c_str(), 0755);  // the worker checks for the file as nobody
  const std::string flag = dir + "/fail";
  setenv("SOLAR_DEBUG_FAIL_START", flag.c_str(), 1);  // inherited by the server
  ServerHarness server("workers: 2\nworker { name: \"builtin:debug\" }\n");
  ASSERT_TRUE(server.start()) << server.log();
  unsetenv("SOLAR_DEBUG_FAIL_START");
  const pid_t w1 = server.childPid("worker 1");
  ASSERT_GT(w1, 0);
  // A connection on each worker.
  int on_w1 = -1, on_w0 = -1;
  for (int i = 0; i < 6 && (on_w1 < 0 || on_w0 < 0); ++i) {
    int fd = ConnectTcp(server.port());
    ASSERT_GE(fd, 0);
    pid_t p = WorkerPidOf(fd);
    if (p == w1 && on_w1 < 0) {
      on_w1 = fd;
    } else if (p != w1 && on_w0 < 0) {
      on_w0 = fd;
    } else {
      close(fd);
    }
  }
  ASSERT_GE(on_w1, 0);
  ASSERT_GE(on_w0, 0);

  // From now on every start fails; worker 1 dies and crash-loops.
  std::ofstream(flag) << "x";
  ASSERT_EQ(kill(w1, SIGKILL), 0);
  ASSERT_TRUE(server.waitForLog("worker 1 could not start (builtin:debug)", std::chrono::seconds(10))) << server.log();
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(WriteAll(on_w1, Frame32("anyone there?")));
  EXPECT_TRUE(WaitClosed(on_w1, 2000)) << "a request for a worker that cannot start was left waiting";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  close(on_w1);
  // Worker 0 goes on; new connections all go to it while worker 1 is down.
  std::string reply;
  ASSERT_TRUE(WriteAll(on_w0, Frame32("still")) && ReadFrame32(on_w0, &reply, 5000));
  EXPECT_EQ(reply, "still");
  for (int i = 0; i < 4; ++i) {
    int fd = ConnectTcp(server.port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(WriteAll(fd, Frame32("new " + std::to_string(i))));
    ASSERT_TRUE(ReadFrame32(fd, &reply, 5000)) << "a new connection went to the worker that cannot start";
    EXPECT_EQ(reply, "new " + std::to_string(i));
    close(fd);
  }
  int status = 0;
  const std::string metrics = HttpGet(server.adminPort(), "/metrics", &status);
  EXPECT_NE(metrics.find("solar_unavailable_closed_total{role=\"listener\",slot=\"0\""), std::string::npos) << metrics;

  // Its start succeeds again: worker 1 takes connections again.
  unlink(flag.c_str());
  ASSERT_TRUE(server.waitForLog("worker 1 started and serves again", std::chrono::seconds(15))) << server.log();
  const pid_t fresh = server.childPid("worker 1");
  bool reached = false;
  for (int i = 0; i < 6 && !reached; ++i) {
    int fd = ConnectTcp(server.port());
    reached = WorkerPidOf(fd) == fresh;
    close(fd);
  }
  EXPECT_TRUE(reached) << "the recovered worker got no new connection";
  close(on_w0);
  EXPECT_EQ(server.stop(), 0);
  rmdir(dir.c_str());
}

// Requests that were already queued to a worker when it turned out it cannot
// start belong to connections the listener closed as unavailable: the clients
// were told they failed, so the replacement that does start must not run them
// afterwards (a KV put would land after its client saw an error).
TEST(WorkerUnavailable, RequestsQueuedBeforeTheWorkerWentDownAreNotRunByItsRecovery) {
  char tmpl[] = "/tmp/solar-fail-start-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  chmod(dir.c_str(), 0755);
  const std::string flag = dir + "/fail";
  setenv("SOLAR_DEBUG_FAIL_START", flag.c_str(), 1);
  ServerHarness server("workers: 1\nrespawn_backoff_max_ms: 500\nworker { name: \"builtin:debug\" }\n");
  ASSERT_TRUE(server.start()) << server.log();
  unsetenv("SOLAR_DEBUG_FAIL_START");
  const pid_t w0 = server.childPid("worker 0");
  ASSERT_GT(w0, 0);
  int busy = ConnectTcp(server.port());
  int queued = ConnectTcp(server.port());
  ASSERT_GE(busy, 0);
  ASSERT_GE(queued, 0);
  ASSERT_TRUE(WriteAll(busy, Frame32("sleep:3000")));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the worker is inside it
  std::string five;
  for (int i = 0; i < 5; ++i) five += Frame32("queued " + std::to_string(i));
  ASSERT_TRUE(WriteAll(queued, five));  // wait in the socketpair behind the sleep
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::ofstream(flag) << "x";
  ASSERT_EQ(kill(w0, SIGKILL), 0);
  ASSERT_TRUE(server.waitForLog("worker 0 could not start (builtin:debug)", std::chrono::seconds(10))) << server.log();
  EXPECT_TRUE(WaitClosed(queued, 3000)) << "its requests wait for a worker that cannot start";
  unlink(flag.c_str());
  ASSERT_TRUE(server.waitForLog("worker 0 started and serves again", std::chrono::seconds(15))) << server.log();
  EXPECT_TRUE(server.waitForLog("worker 0: dropped 5 request(s) queued while it could not start",
                                std::chrono::seconds(1)))
      << server.log();
  // The recovered worker ran none of them: the first request it serves is this one.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int fd = ConnectTcp(server.port());
  ASSERT_GE(fd, 0);
  std::string reply;
  ASSERT_TRUE(WriteAll(fd, Frame32("fresh")) && ReadFrame32(fd, &reply, 5000));
  EXPECT_EQ(reply, "fresh");
  int status = 0;
  const std::string metrics = HttpGet(server.adminPort(), "/metrics", &status);
  EXPECT_NE(metrics.find("solar_requests_total{role=\"worker\",slot=\"0\""), std::string::npos) << metrics;
  const size_t at = metrics.find("solar_requests_total{role=\"worker\",slot=\"0\"");
  const size_t end = metrics.find('\n', at);
  EXPECT_EQ(metrics.substr(end - 2, 2), " 1") << metrics.substr(at, end - at);
  close(fd);
  close(busy);
  close(queued);
  EXPECT_EQ(server.stop(), 0);
  rmdir(dir.c_str());
}

}  // namespace
}  // namespace solar::testing
