// builtin:kv across a PostgreSQL restart: while the database is down every
// request gets a prompt UNAVAILABLE reply (no hang, no closed connection, no
// crashed worker); once it is back, every worker serves again on its own.
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "kv_test_client.h"
#include "postgres_harness.h"
#include "server_harness.h"

namespace solar::testing {
namespace {

int64_t ElapsedMs(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since).count();
}

TEST(KvPostgresRestart, RequestsFailDuringTheOutageAndSucceedAfterWithNoWorkerStuck) {
  PostgresHarness pg;
  std::string error;
  ASSERT_TRUE(pg.start(&error)) << error;
  constexpr int kWorkers = 3;
  ServerHarness server("workers: " + std::to_string(kWorkers) +
                       "\n" +
                       KvWorker({{"backend", "postgres"},
                                 {"postgres_dsn", pg.dsn()},
                                 {"reconnect_min_ms", "50"},
                                 {"reconnect_max_ms", "400"},
                                 {"request_timeout_ms", "2000"},
                                 {"connect_timeout_ms", "1000"}}));
  ASSERT_TRUE(server.start()) << server.log();
  std::vector<pid_t> workers;
  for (int w = 0; w < kWorkers; ++w) workers.push_back(server.childPid("worker " + std::to_string(w)));

  // Round-robin dispatch: two connections per worker.
  std::vector<int> fds;
  for (int c = 0; c < 2 * kWorkers; ++c) {
    fds.push_back(ConnectTcp(server.port()));
    ASSERT_GE(fds.back(), 0);
    ASSERT_EQ(KvCall(fds.back(), KvPut("before:" + std::to_string(c), "1")).status(), kv::OK);
  }

  ASSERT_TRUE(pg.stop());
  // Several rounds, so each worker both discovers the loss and then fails
  // fast under back-off; every reply must come, and promptly.
  for (int round = 0; round < 3; ++round) {
    for (size_t c = 0; c < fds.size(); ++c) {
      const auto t0 = std::chrono::steady_clock::now();
      kv::KvResponse r = KvCall(fds[c], KvGet("before:" + std::to_string(c)), 5000);
      EXPECT_EQ(r.status(), kv::UNAVAILABLE) << "round " << round << " connection " << c << ": " << r.error();
      EXPECT_FALSE(r.error().empty());
      EXPECT_LT(ElapsedMs(t0), 2500) << "a request during the outage took too long";
    }
  }

  ASSERT_TRUE(pg.startAgain(&error)) << error;
  // Each connection (so each worker) comes back by itself within the back-off.
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t c = 0; c < fds.size(); ++c) {
    kv::KvResponse r;
    while (ElapsedMs(t0) < 10000) {
      r = KvCall(fds[c], KvGet("before:" + std::to_string(c)), 5000);
      if (r.status() == kv::OK) break;
      EXPECT_EQ(r.status(), kv::UNAVAILABLE) << r.error();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_EQ(r.status(), kv::OK) << "connection " << c << " never recovered: " << r.error();
    EXPECT_EQ(r.value(), "1");
    EXPECT_EQ(KvCall(fds[c], KvPut("after:" + std::to_string(c), "2")).status(), kv::OK);
  }
  // No worker crashed or was replaced on the way.
  for (int w = 0; w < kWorkers; ++w) EXPECT_EQ(server.childPid("worker " + std::to_string(w)), workers[w]);
  for (int fd : fds) close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST(KvPostgresRestart, IdleWorkersAnswerTheirFirstRequestAfterARestartWithoutAnError) {
  // A restart ends every pooled connection while the workers are idle; the
  // first request of each worker then meets a dead connection. It is retried
  // once on a fresh one (issue 10), so no client sees the restart.
  PostgresHarness pg;
  std::string error;
  ASSERT_TRUE(pg.start(&error)) << error;
  constexpr int kWorkers = 2;
  ServerHarness server("workers: " + std::to_string(kWorkers) +
                       "\n" + KvWorker({{"backend", "postgres"}, {"postgres_dsn", pg.dsn()}}));
  ASSERT_TRUE(server.start()) << server.log();
  std::vector<int> fds;
  for (int c = 0; c < 2 * kWorkers; ++c) {  // round-robin: two connections per worker
    fds.push_back(ConnectTcp(server.port()));
    ASSERT_GE(fds.back(), 0);
    ASSERT_EQ(KvCall(fds.back(), KvPut("idle:" + std::to_string(c), "before")).status(), kv::OK);
  }
  ASSERT_TRUE(pg.stop());
  ASSERT_TRUE(pg.startAgain(&error)) << error;
  // Reads, an upsert and a delete, each the first statement on some worker.
  for (size_t c = 0; c < fds.size(); ++c) {
    const std::string key = "idle:" + std::to_string(c);
    kv::KvResponse r = c < 2 ? KvCall(fds[c], KvGet(key)) : c == 2 ? KvCall(fds[c], KvPut(key, "after"))
                                                                   : KvCall(fds[c], KvDel(key));
    EXPECT_EQ(r.status(), kv::OK) << "connection " << c << ": " << r.error() << "\n" << server.log();
  }
  EXPECT_TRUE(server.waitForLog("retried once on a fresh connection", std::chrono::seconds(2))) << server.log();
  EXPECT_EQ(KvCall(fds[0], KvGet("idle:2")).value(), "after");
  EXPECT_EQ(KvCall(fds[0], KvGet("idle:3")).status(), kv::NOT_FOUND);
  for (int fd : fds) close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST(KvPostgresRestart, ServerStartsWhileTheDatabaseIsDownAndServesOnceItIsUp) {
  PostgresHarness pg;
  std::string error;
  ASSERT_TRUE(pg.start(&error)) << error;
  ASSERT_TRUE(pg.stop());
  ServerHarness server("workers: 1\n" + KvWorker({{"backend", "postgres"},
                                                 {"postgres_dsn", pg.dsn()},
                                                 {"reconnect_min_ms", "50"},
                                                 {"reconnect_max_ms", "200"}}));
  ASSERT_TRUE(server.start()) << server.log();
  const int fd = ConnectTcp(server.port());
  kv::KvResponse r = KvCall(fd, KvGet("k"));
  EXPECT_EQ(r.status(), kv::UNAVAILABLE);
  EXPECT_NE(r.error().find("cannot connect to PostgreSQL"), std::string::npos) << r.error();

  ASSERT_TRUE(pg.startAgain(&error)) << error;
  const auto t0 = std::chrono::steady_clock::now();
  while (ElapsedMs(t0) < 5000 && (r = KvCall(fd, KvPut("k", "v"))).status() != kv::OK) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(r.status(), kv::OK) << r.error();
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace solar::testing
