// builtin:kv end to end: the real solar binary serving proto/kv.proto over
// frame32 (and UDP), on SQLite and on a real PostgreSQL started for the
// suite (test/support/postgres_harness.h). Each behaviour runs on both
// backends.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "kv_test_client.h"
#include "postgres_harness.h"
#include "server_harness.h"

namespace solar::testing {
namespace {

enum class Backend { kSqlite, kPostgres };

class KvEndToEnd : public ::testing::TestWithParam<Backend> {
 public:
  static void SetUpTestSuite() {
    pg_ = new PostgresHarness();
    std::string error;
    if (!pg_->start(&error)) pg_error_ = new std::string(error);
  }
  static void TearDownTestSuite() {
    delete pg_;
    pg_ = nullptr;
  }

 protected:
  void SetUp() override {
    if (GetParam() == Backend::kPostgres) {
      ASSERT_EQ(pg_error_, nullptr) << *pg_error_;
    }
  }

  // The KV worker's section for this backend, with `extra` settings; each
  // test gets its own table (PostgreSQL) or file (SQLite).
  std::string kvConfig(const KvSettingList& extra = {}) {
    static int n = 0;
    const std::string table = "kv_e2e_" + std::to_string(getpid()) + "_" + std::to_string(++n);
    KvSettingList settings;
    if (GetParam() == Backend::kSqlite) {
      settings = {{"sqlite_path", data_.sqlitePath()}, {"table", table}};
    } else {
      settings = {{"backend", "postgres"}, {"postgres_dsn", pg_->dsn()}, {"table", table}};
    }
    settings.insert(settings.end(), extra.begin(), extra.end());
    return KvWorker(settings);
  }

  static PostgresHarness* pg_;
  static std::string* pg_error_;
  KvDataDir data_;
};

PostgresHarness* KvEndToEnd::pg_ = nullptr;
std::string* KvEndToEnd::pg_error_ = nullptr;

std::string Name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
}

TEST_P(KvEndToEnd, PutGetScanAndDeleteThroughSolar) {
  ServerHarness server("workers: 2\n" + kvConfig());
  ASSERT_TRUE(server.start()) << server.log();
  const int fd = ConnectTcp(server.port());
  ASSERT_GE(fd, 0);
  for (const char* k : {"user:1", "user:2", "user:3", "order:1"}) {
    kv::KvResponse r = KvCall(fd, KvPut(k, std::string("v-") + k));
    ASSERT_EQ(r.status(), kv::OK) << r.error();
  }
  kv::KvResponse r = KvCall(fd, KvGet("user:2"));
  ASSERT_EQ(r.status(), kv::OK) << r.error();
  EXPECT_EQ(r.value(), "v-user:2");

  r = KvCall(fd, KvScan("user:", 2));
  ASSERT_EQ(r.status(), kv::OK) << r.error();
  ASSERT_EQ(r.entries_size(), 2);
  EXPECT_EQ(r.entries(0).key(), "user:1");
  EXPECT_EQ(r.entries(1).value(), "v-user:2");
  EXPECT_TRUE(r.more());
  r = KvCall(fd, KvScan("user:", 2, "user:2"));
  ASSERT_EQ(r.entries_size(), 1);
  EXPECT_EQ(r.entries(0).key(), "user:3");
  EXPECT_FALSE(r.more());

  EXPECT_EQ(KvCall(fd, KvDel("user:2")).status(), kv::OK);
  EXPECT_EQ(KvCall(fd, KvGet("user:2")).status(), kv::NOT_FOUND);
  EXPECT_EQ(KvCall(fd, KvScan("user:")).entries_size(), 2);
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST_P(KvEndToEnd, EveryBadRequestGetsAnErrorReplyAndTheConnectionStaysUsable) {
  ServerHarness server("workers: 1\n" + kvConfig({{"max_value_bytes", "100000"}}));
  ASSERT_TRUE(server.start()) << server.log();
  const int fd = ConnectTcp(server.port());
  ASSERT_GE(fd, 0);

  kv::KvResponse r = KvCallRaw(fd, std::string("\xff\xff\xff\xff", 4));
  EXPECT_EQ(r.status(), kv::INVALID_ARGUMENT);
  EXPECT_NE(r.error().find("malformed request"), std::string::npos) << r.error();

  r = KvCallRaw(fd, std::string("\x08\x05\x62\x00", 4));  // id 5 and an unknown field 12
  EXPECT_EQ(r.status(), kv::INVALID_ARGUMENT);
  EXPECT_EQ(r.id(), 5u);
  EXPECT_NE(r.error().find("no operation"), std::string::npos) << r.error();

  r = KvCall(fd, KvPut("big", std::string(100001, 'x')));
  EXPECT_EQ(r.status(), kv::TOO_LARGE);
  EXPECT_EQ(r.error(), "value is 100001 bytes; the limit is 100000 bytes");

  r = KvCall(fd, KvGet("never-written"));
  EXPECT_EQ(r.status(), kv::NOT_FOUND);
  EXPECT_EQ(r.error(), "key not found");

  r = KvCall(fd, KvPut("", "x"));
  EXPECT_EQ(r.status(), kv::INVALID_ARGUMENT);

  // The same connection still works.
  ASSERT_EQ(KvCall(fd, KvPut("after", "ok")).status(), kv::OK);
  r = KvCall(fd, KvGet("after"));
  EXPECT_EQ(r.status(), kv::OK);
  EXPECT_EQ(r.value(), "ok");
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST_P(KvEndToEnd, DataWrittenBeforeAWorkerIsKilledIsThereAfter) {
  ServerHarness server("workers: 1\n" + kvConfig());
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(KvCall(fd, KvPut("durable:" + std::to_string(i), std::to_string(i * i))).status(), kv::OK);
  }
  const pid_t old = server.childPid("worker 0");
  ASSERT_GT(old, 0);
  ASSERT_EQ(kill(old, SIGKILL), 0);
  ASSERT_GT(server.waitRespawn("worker 0", old, std::chrono::seconds(10)), 0);
  close(fd);

  fd = ConnectTcp(server.port());
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 50; ++i) {
    kv::KvResponse r = KvCall(fd, KvGet("durable:" + std::to_string(i)));
    ASSERT_EQ(r.status(), kv::OK) << i << ": " << r.error();
    EXPECT_EQ(r.value(), std::to_string(i * i));
  }
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST_P(KvEndToEnd, ConcurrentPutsFromHundredConnectionsAcrossWorkersAllLand) {
  constexpr int kConnections = 100;
  constexpr int kPutsEach = 20;
  ServerHarness server("workers: 4\n" + kvConfig());
  ASSERT_TRUE(server.start()) << server.log();
  std::vector<int> fds;
  for (int c = 0; c < kConnections; ++c) {
    fds.push_back(ConnectTcp(server.port()));
    ASSERT_GE(fds.back(), 0);
  }
  std::atomic<int> failures{0};
  std::string first_error;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int c = 0; c < kConnections; ++c) {
    threads.emplace_back([&, c] {
      for (int i = 0; i < kPutsEach; ++i) {
        const std::string key = "c" + std::to_string(c) + ":" + std::to_string(i);
        kv::KvResponse r = KvCall(fds[static_cast<size_t>(c)], KvPut(key, key + "-value"), 30000);
        if (r.status() != kv::OK) {
          std::lock_guard<std::mutex> lock(mu);
          if (failures++ == 0) first_error = key + ": " + kv::Status_Name(r.status()) + " " + r.error();
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0) << first_error;

  // Every key, read back through one connection, page by page.
  std::set<std::string> seen;
  std::string after;
  for (;;) {
    kv::KvResponse r = KvCall(fds[0], KvScan("c", 1000, after));
    ASSERT_EQ(r.status(), kv::OK) << r.error();
    for (const kv::Entry& e : r.entries()) {
      EXPECT_EQ(e.value(), e.key() + "-value");
      seen.insert(e.key());
    }
    if (!r.more()) break;
    after = r.entries(r.entries_size() - 1).key();
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kConnections * kPutsEach));
  for (int fd : fds) close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST_P(KvEndToEnd, UdpGetWorks) {
  ServerHarness server("workers: 1\nudp { listen: \"127.0.0.1:0\" workers: 1 }\n" + kvConfig());
  ASSERT_TRUE(server.start()) << server.log();
  const int udp = UdpPortFromLog(server.log());
  ASSERT_GT(udp, 0) << server.log();
  const int fd = ConnectTcp(server.port());
  ASSERT_EQ(KvCall(fd, KvPut("udp-key", "udp-value")).status(), kv::OK);
  close(fd);

  kv::KvRequest get = KvGet("udp-key");
  get.set_id(77);
  kv::KvResponse r = KvCallUdp(udp, get);
  ASSERT_EQ(r.status(), kv::OK) << r.error();
  EXPECT_EQ(r.id(), 77u);
  EXPECT_EQ(r.value(), "udp-value");
  EXPECT_EQ(KvCallUdp(udp, KvGet("absent")).status(), kv::NOT_FOUND);
  // A put over UDP lands too.
  EXPECT_EQ(KvCallUdp(udp, KvPut("from-udp", "1")).status(), kv::OK);
  EXPECT_EQ(server.stop(), 0);
}

INSTANTIATE_TEST_SUITE_P(KvBackends, KvEndToEnd, ::testing::Values(Backend::kSqlite, Backend::kPostgres), Name);

}  // namespace
}  // namespace solar::testing
