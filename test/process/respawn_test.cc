// kill -9 of a worker: respawned into the same slot; other workers' clients see
// nothing; a client whose request the dead worker had taken is closed, not left
// waiting; requests still queued for the slot are served by the replacement.
#include <signal.h>
#include <unistd.h>

#include <thread>

#include <gtest/gtest.h>

#include "clients.h"
#include "server_harness.h"

namespace solar::testing {
namespace {

// Asks the debug worker behind `fd` for its pid.
pid_t WorkerPidOf(int fd) {
  std::string reply;
  if (!WriteAll(fd, Frame32("pid")) || !ReadFrame32(fd, &reply)) return -1;
  return static_cast<pid_t>(std::stol(reply));
}

TEST(Respawn, KilledWorkerIsReplacedInSameSlot) {
  ServerHarness server("workers: 2\nworker { name: \"builtin:debug\" }\n");
  ASSERT_TRUE(server.start()) << server.log();
  pid_t old = server.childPid("worker 1");
  ASSERT_GT(old, 0);
  ASSERT_EQ(kill(old, SIGKILL), 0);
  pid_t fresh = server.waitRespawn("worker 1", old, std::chrono::seconds(10));
  EXPECT_GT(fresh, 0);
  EXPECT_NE(fresh, old);
  EXPECT_TRUE(server.waitForLog("worker 1 (pid " + std::to_string(old) + ") killed by signal",
                                std::chrono::seconds(5)));
  // The slot serves again: round-robin gives connections to both workers.
  bool saw_fresh = false;
  for (int i = 0; i < 4 && !saw_fresh; ++i) {
    int fd = ConnectTcp(server.port());
    ASSERT_GE(fd, 0);
    saw_fresh = WorkerPidOf(fd) == fresh;
    close(fd);
  }
  EXPECT_TRUE(saw_fresh);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Respawn, ClientWhoseRequestDiedWithTheWorkerIsClosedNotLeftWaiting) {
  ServerHarness server("workers: 2\nworker { name: \"builtin:debug\" }\n");
  ASSERT_TRUE(server.start()) << server.log();
  // Find a connection on each worker.
  int victim = -1, bystander = -1;
  pid_t victim_pid = -1;
  for (int i = 0; i < 8 && (victim < 0 || bystander < 0); ++i) {
    int fd = ConnectTcp(server.port());
    ASSERT_GE(fd, 0);
    pid_t p = WorkerPidOf(fd);
    if (victim < 0) {
      victim = fd;
      victim_pid = p;
    } else if (bystander < 0 && p != victim_pid) {
      bystander = fd;
    } else {
      close(fd);
    }
  }
  ASSERT_GE(victim, 0);
  ASSERT_GE(bystander, 0);
  // The victim's worker takes a long request; kill it while it holds it.
  ASSERT_TRUE(WriteAll(victim, Frame32("sleep:30000")));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(kill(victim_pid, SIGKILL), 0);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(WaitClosed(victim, 5000)) << "the client was left waiting";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  // The other worker's client never noticed.
  std::string reply;
  ASSERT_TRUE(WriteAll(bystander, Frame32("still here")));
  ASSERT_TRUE(ReadFrame32(bystander, &reply));
  EXPECT_EQ(reply, "still here");
  EXPECT_TRUE(server.waitForLog("closed 1 connection(s) whose request it had taken", std::chrono::seconds(5)))
      << server.log();
  close(victim);
  close(bystander);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Respawn, RequestsQueuedForTheDeadWorkerAreServedByItsReplacement) {
  ServerHarness server("workers: 1\nworker { name: \"builtin:debug\" }\n");
  ASSERT_TRUE(server.start()) << server.log();
  int busy = ConnectTcp(server.port());
  int queued = ConnectTcp(server.port());
  ASSERT_GE(busy, 0);
  ASSERT_GE(queued, 0);
  pid_t worker = WorkerPidOf(busy);
  ASSERT_GT(worker, 0);
  std::string reply;
  ASSERT_TRUE(WriteAll(busy, Frame32("sleep:30000")));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // The only worker is busy: these wait in its socketpair, not in the worker.
  ASSERT_TRUE(WriteAll(queued, Frame32("first") + Frame32("second")));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(kill(worker, SIGKILL), 0);
  ASSERT_TRUE(ReadFrame32(queued, &reply, 10000)) << server.log();
  EXPECT_EQ(reply, "first");
  ASSERT_TRUE(ReadFrame32(queued, &reply, 10000));
  EXPECT_EQ(reply, "second");
  EXPECT_TRUE(WaitClosed(busy, 5000));
  close(busy);
  close(queued);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Respawn, KillingAWorkerUnderLoadFailsNoConnectionOnOtherWorkers) {
  ServerHarness server("workers: 3\nlisteners: 2\n");
  ASSERT_TRUE(server.start()) << server.log();
  PipelineResult result;
  std::atomic<size_t> progress{0};
  constexpr size_t kTotal = 30 * 3000;
  std::thread load([&] {
    PipelineOptions o;
    o.connections = 30;
    o.requests_per_connection = 3000;
    o.max_size = 4096;
    o.progress = &progress;
    result = RunPipelined(server.port(), o);
  });
  while (progress.load() < kTotal / 10) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  pid_t w = server.childPid("worker 2");
  ASSERT_GT(w, 0);
  kill(w, SIGKILL);
  const size_t at_kill = progress.load();
  load.join();
  EXPECT_LT(at_kill, kTotal / 2) << "the load should still be running when the worker dies";
  EXPECT_EQ(result.mismatches, 0u);
  EXPECT_FALSE(result.timed_out) << "a client waited forever";
  // Only connections of worker 2 that had a request taken may be closed; all
  // other connections (two thirds) get every reply.
  EXPECT_LE(result.closed, 10u);
  EXPECT_GE(result.answered, 20u * 3000u);
  EXPECT_GT(server.waitRespawn("worker 2", w, std::chrono::seconds(10)), 0);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Respawn, KilledListenerIsReplacedAndServesTheSamePort) {
  ServerHarness server("listeners: 1\n");
  ASSERT_TRUE(server.start()) << server.log();
  pid_t old = server.childPid("listener 0");
  ASSERT_GT(old, 0);
  ASSERT_EQ(kill(old, SIGKILL), 0);
  ASSERT_GT(server.waitRespawn("listener 0", old, std::chrono::seconds(10)), 0);
  // The master kept the socket: a connection made now is served by the replacement.
  int fd = ConnectTcp(server.port());
  ASSERT_GE(fd, 0);
  std::string reply;
  ASSERT_TRUE(WriteAll(fd, Frame32("again")));
  ASSERT_TRUE(ReadFrame32(fd, &reply));
  EXPECT_EQ(reply, "again");
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Respawn, WorkerThatThrowsKeepsServingEveryone) {
  ServerHarness server("workers: 1\nworker { name: \"builtin:debug\" }\n");
  ASSERT_TRUE(server.start()) << server.log();
  const pid_t worker = server.childPid("worker 0");
  int bad = ConnectTcp(server.port());
  int good = ConnectTcp(server.port());
  ASSERT_TRUE(WriteAll(bad, Frame32("throw")));
  std::string reply;
  bool is_error = false;
  ASSERT_TRUE(ReadReply32(bad, &reply, &is_error));
  EXPECT_TRUE(is_error);  // error_reply_test.cc covers the error frame itself
  ASSERT_TRUE(WriteAll(good, Frame32("fine")));
  ASSERT_TRUE(ReadFrame32(good, &reply));
  EXPECT_EQ(reply, "fine");
  EXPECT_TRUE(server.waitForLog("process() threw", std::chrono::seconds(5)));
  EXPECT_EQ(server.childPid("worker 0"), worker);  // a throw is not a crash: no respawn
  close(bad);
  close(good);
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace solar::testing
