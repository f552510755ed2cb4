// The KV backends (src/apps/kv/kv_store.h) against real databases: SQLite in
// a temp dir, and a real PostgreSQL server that the test starts as an
// unprivileged user (test/support/postgres_harness.h), once for the suite.
// Every behaviour is checked on both, so the backends stay interchangeable.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "apps/kv/postgres_store.h"
#include "apps/kv/sqlite_store.h"
#include "postgres_harness.h"

namespace solar::kv {
namespace {

using solar::testing::PostgresHarness;

enum class Backend { kSqlite, kPostgres };

class KvStoreTest : public ::testing::TestWithParam<Backend> {
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
    char tmpl[] = "/tmp/solar-kv-store-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    if (GetParam() == Backend::kPostgres) {
      ASSERT_EQ(pg_error_, nullptr) << *pg_error_;
      ASSERT_EQ(pg_->exec("DROP TABLE IF EXISTS kv_test"), "");
    }
    store_ = make();
    const StoreResult r = store_->open();
    ASSERT_TRUE(r.ok()) << r.message;
  }
  void TearDown() override {
    store_.reset();
    [[maybe_unused]] int rc = std::system(("rm -rf '" + dir_ + "'").c_str());
  }

  std::unique_ptr<KvStore> make(uint32_t request_timeout_ms = 5000) const {
    if (GetParam() == Backend::kSqlite) {
      return std::make_unique<SqliteStore>(dir_ + "/kv.sqlite3", "kv_test", 2000, "NORMAL");
    }
    return std::make_unique<PostgresStore>(pg_->dsn(), "kv_test", 2000, request_timeout_ms, "kv_store_test");
  }

  std::vector<ScanRow> scanAll(const KeyRange& range, size_t limit = 100, bool keys_only = false) {
    std::vector<ScanRow> rows;
    const StoreResult r = store_->scan(range, limit, keys_only, &rows);
    EXPECT_TRUE(r.ok()) << r.message;
    return rows;
  }

  static PostgresHarness* pg_;
  static std::string* pg_error_;
  std::string dir_;
  std::unique_ptr<KvStore> store_;
};

PostgresHarness* KvStoreTest::pg_ = nullptr;
std::string* KvStoreTest::pg_error_ = nullptr;

std::string Name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
}

TEST_P(KvStoreTest, PutThenGetReturnsTheValue) {
  ASSERT_TRUE(store_->put("k1", "v1").ok());
  std::string v;
  ASSERT_TRUE(store_->get("k1", &v).ok());
  EXPECT_EQ(v, "v1");
}

TEST_P(KvStoreTest, PutReplacesAnExistingValue) {
  ASSERT_TRUE(store_->put("k", "old").ok());
  ASSERT_TRUE(store_->put("k", "new").ok());
  std::string v;
  ASSERT_TRUE(store_->get("k", &v).ok());
  EXPECT_EQ(v, "new");
}

TEST_P(KvStoreTest, GetOfAMissingKeyIsNotFound) {
  std::string v;
  EXPECT_EQ(store_->get("missing", &v).code, StoreResult::kNotFound);
}

TEST_P(KvStoreTest, BinaryKeysAndValuesRoundTripByteExact) {
  const std::string key("a\0b\xff\x01", 5);
  std::string value(70000, '\0');
  for (size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>(i * 7);
  ASSERT_TRUE(store_->put(key, value).ok());
  std::string v;
  ASSERT_TRUE(store_->get(key, &v).ok());
  EXPECT_EQ(v, value);
  EXPECT_EQ(store_->get(std::string("a\0b", 3), &v).code, StoreResult::kNotFound);
}

TEST_P(KvStoreTest, AnEmptyValueIsStoredAsEmptyNotMissing) {
  ASSERT_TRUE(store_->put("empty", "").ok());
  std::string v = "junk";
  ASSERT_TRUE(store_->get("empty", &v).ok());
  EXPECT_EQ(v, "");
}

TEST_P(KvStoreTest, RemoveDeletesAndReportsAMissingKey) {
  ASSERT_TRUE(store_->put("k", "v").ok());
  EXPECT_TRUE(store_->remove("k").ok());
  std::string v;
  EXPECT_EQ(store_->get("k", &v).code, StoreResult::kNotFound);
  EXPECT_EQ(store_->remove("k").code, StoreResult::kNotFound);
}

TEST_P(KvStoreTest, ScanReturnsTheRangeInBytewiseKeyOrderUpToTheLimit) {
  for (const char* k : {"b2", "a", "b1", "b\xff", "c", "b"}) ASSERT_TRUE(store_->put(k, std::string("v") + k).ok());
  KeyRange b{"b", "c", false};
  std::vector<ScanRow> rows = scanAll(b);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].key, "b");
  EXPECT_EQ(rows[1].key, "b1");
  EXPECT_EQ(rows[2].key, "b2");
  EXPECT_EQ(rows[3].key, "b\xff");  // bytewise: 0xff sorts last, whatever the collation
  EXPECT_EQ(rows[3].value, "vb\xff");
  EXPECT_EQ(scanAll(b, 2).size(), 2u);
  KeyRange all{"", "", true};
  EXPECT_EQ(scanAll(all).size(), 6u);
  KeyRange from_b{"b1", "", true};
  EXPECT_EQ(scanAll(from_b).size(), 4u);  // b1 b2 b\xff c
}

TEST_P(KvStoreTest, ScanKeysOnlyLeavesValuesEmpty) {
  ASSERT_TRUE(store_->put("k", "value").ok());
  std::vector<ScanRow> rows = scanAll({"", "", true}, 10, true);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].key, "k");
  EXPECT_EQ(rows[0].value, "");
}

TEST_P(KvStoreTest, RolledBackBatchLeavesNothingAndCommittedBatchEverything) {
  ASSERT_TRUE(store_->begin(true).ok());
  ASSERT_TRUE(store_->put("t1", "x").ok());
  store_->rollback();
  std::string v;
  EXPECT_EQ(store_->get("t1", &v).code, StoreResult::kNotFound);

  ASSERT_TRUE(store_->begin(true).ok());
  ASSERT_TRUE(store_->put("t1", "x").ok());
  ASSERT_TRUE(store_->put("t2", "y").ok());
  ASSERT_TRUE(store_->commit().ok());
  EXPECT_TRUE(store_->get("t2", &v).ok());
}

TEST_P(KvStoreTest, DataSurvivesClosingAndReopening) {
  ASSERT_TRUE(store_->put("durable", "yes").ok());
  store_->close();
  EXPECT_FALSE(store_->isOpen());
  ASSERT_TRUE(store_->open().ok());
  std::string v;
  ASSERT_TRUE(store_->get("durable", &v).ok());
  EXPECT_EQ(v, "yes");
}

TEST_P(KvStoreTest, TwoConnectionsSeeEachOthersWrites) {
  // As two worker processes do: each with its own connection (and, for
  // SQLite, its own handle on the same WAL-mode file).
  std::unique_ptr<KvStore> other = make();
  ASSERT_TRUE(other->open().ok());
  ASSERT_TRUE(store_->put("shared", "1").ok());
  std::string v;
  ASSERT_TRUE(other->get("shared", &v).ok());
  EXPECT_EQ(v, "1");
  ASSERT_TRUE(other->put("shared", "2").ok());
  ASSERT_TRUE(store_->get("shared", &v).ok());
  EXPECT_EQ(v, "2");
}

INSTANTIATE_TEST_SUITE_P(KvBackends, KvStoreTest, ::testing::Values(Backend::kSqlite, Backend::kPostgres), Name);

// --- SQLite only ---

TEST(KvSqliteStore, UsesWalModeSoReadersNeverWaitForAWriter) {
  char tmpl[] = "/tmp/solar-kv-sqlite-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  {
    SqliteStore store(dir + "/kv.sqlite3", "kv", 1000, "NORMAL");
    ASSERT_TRUE(store.open().ok());
    ASSERT_TRUE(store.put("k", "v").ok());
    struct stat st;
    EXPECT_EQ(stat((dir + "/kv.sqlite3-wal").c_str(), &st), 0) << "no WAL file beside the database";

    // A writer holds the write lock in an open transaction; another
    // connection still reads the last committed value.
    SqliteStore reader(dir + "/kv.sqlite3", "kv", 200, "NORMAL");
    ASSERT_TRUE(reader.open().ok());
    ASSERT_TRUE(store.begin(true).ok());
    ASSERT_TRUE(store.put("k", "uncommitted").ok());
    std::string v;
    ASSERT_TRUE(reader.get("k", &v).ok());
    EXPECT_EQ(v, "v");
    // ...and a second writer waits for the busy timeout, then gets
    // kUnavailable (retryable), not a hang and not a hard error.
    const StoreResult blocked = reader.put("k2", "x");
    EXPECT_EQ(blocked.code, StoreResult::kUnavailable) << blocked.message;
    store.rollback();
  }
  [[maybe_unused]] int rc = std::system(("rm -rf '" + dir + "'").c_str());
}

TEST(KvSqliteStore, CreatesTheFilesOwnDirectoryButNotItsParents) {
  char tmpl[] = "/tmp/solar-kv-sqlite-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  SqliteStore ok(dir + "/kv/kv.sqlite3", "kv", 1000, "NORMAL");
  EXPECT_TRUE(ok.open().ok());
  SqliteStore deep(dir + "/a/b/kv.sqlite3", "kv", 1000, "NORMAL");
  const StoreResult r = deep.open();
  EXPECT_EQ(r.code, StoreResult::kError);
  EXPECT_NE(r.message.find(dir + "/a/b"), std::string::npos) << r.message;
  [[maybe_unused]] int rc = std::system(("rm -rf '" + dir + "'").c_str());
}

TEST(KvSqliteStore, AnUnwritableDirectoryIsNamedInTheError) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to act as another user";
  char tmpl[] = "/tmp/solar-kv-sqlite-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  // As the KV worker does after the privilege drop: open as nobody, in a
  // directory only root may write.
  const pid_t pid = fork();
  if (pid == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
    SqliteStore store(dir + "/kv.sqlite3", "kv", 1000, "NORMAL");
    const StoreResult r = store.open();
    const bool named = r.message.find("not writable by nobody") != std::string::npos &&
                       r.message.find("install -d -o nobody " + dir) != std::string::npos;
    _exit(r.code == StoreResult::kError && named ? 0 : 1);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  [[maybe_unused]] int rc = std::system(("rm -rf '" + dir + "'").c_str());
}

// --- PostgreSQL only: failures are bounded and reported, never a hang ---

class KvPostgresStore : public ::testing::Test {
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
  void SetUp() override { ASSERT_EQ(pg_error_, nullptr) << *pg_error_; }
  static PostgresHarness* pg_;
  static std::string* pg_error_;
};

PostgresHarness* KvPostgresStore::pg_ = nullptr;
std::string* KvPostgresStore::pg_error_ = nullptr;

TEST_F(KvPostgresStore, AServerRestartIsReportedAsUnavailableAndTheStoreReopens) {
  PostgresStore store(pg_->dsn(), "kv", 2000, 5000, "test");
  ASSERT_TRUE(store.open().ok());
  ASSERT_TRUE(store.put("before", "1").ok());
  ASSERT_TRUE(pg_->stop());
  std::string v;
  const StoreResult r = store.get("before", &v);
  EXPECT_EQ(r.code, StoreResult::kUnavailable) << r.message;
  EXPECT_FALSE(store.isOpen()) << "a lost connection must be closed so that it is re-opened";
  const StoreResult reopen = store.open();
  EXPECT_EQ(reopen.code, StoreResult::kUnavailable) << reopen.message;
  EXPECT_NE(reopen.message.find("cannot connect"), std::string::npos) << reopen.message;

  std::string error;
  ASSERT_TRUE(pg_->startAgain(&error)) << error;
  ASSERT_TRUE(store.open().ok());
  ASSERT_TRUE(store.get("before", &v).ok());
  EXPECT_EQ(v, "1");
}

TEST_F(KvPostgresStore, AServerThatStopsAnsweringTimesOutInsteadOfHanging) {
  PostgresStore store(pg_->dsn(), "kv", 500, 300, "test");
  ASSERT_TRUE(store.open().ok());
  // Freeze every PostgreSQL process: the connection stays up but nothing answers.
  pg_->freeze(true);
  const auto t0 = std::chrono::steady_clock::now();
  std::string v;
  const StoreResult r = store.get("k", &v);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  const StoreResult connect = store.open();  // bounded by the connect timeout
  const auto ms2 =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count() - ms;
  pg_->freeze(false);
  EXPECT_EQ(r.code, StoreResult::kUnavailable) << r.message;
  EXPECT_NE(r.message.find("did not answer"), std::string::npos) << r.message;
  EXPECT_GE(ms, 250);
  EXPECT_LT(ms, 2000);
  EXPECT_EQ(connect.code, StoreResult::kUnavailable) << connect.message;
  EXPECT_LT(ms2, 2500);
  ASSERT_TRUE(store.open().ok());
  EXPECT_EQ(store.get("k", &v).code, StoreResult::kNotFound);
}

TEST_F(KvPostgresStore, AStatementErrorIsAnErrorAndKeepsTheConnection) {
  ASSERT_EQ(pg_->exec("CREATE TABLE IF NOT EXISTS kv_small (k bytea PRIMARY KEY, v bytea NOT NULL "
                      "CHECK (length(v) < 4))"),
            "");
  PostgresStore store(pg_->dsn(), "kv_small", 2000, 5000, "test");
  ASSERT_TRUE(store.open().ok());
  const StoreResult r = store.put("k", "too long");
  EXPECT_EQ(r.code, StoreResult::kError) << r.message;
  EXPECT_NE(r.message.find("23514"), std::string::npos) << r.message;  // check_violation
  EXPECT_TRUE(store.isOpen());
  EXPECT_TRUE(store.put("k", "ok").ok());
}

TEST_F(KvPostgresStore, AnUnreachableServerFailsWithinTheConnectTimeout) {
  // A TEST-NET-1 address (RFC 5737): nothing answers there, so the connect
  // hangs until our own deadline.
  PostgresStore store("host=192.0.2.1 port=5432 dbname=x user=x", "kv", 300, 300, "test");
  const auto t0 = std::chrono::steady_clock::now();
  const StoreResult r = store.open();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.code, StoreResult::kUnavailable) << r.message;
  EXPECT_LT(ms, 2000);
}

// A host that takes the connection and then never answers (a hung or
// frozen server): a listening socket nobody accepts from. The kernel
// completes the handshake, libpq sends its start-up packet and waits.
class SilentHost {
 public:
  SilentHost() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(fd_, 16) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ADD_FAILURE() << "cannot set up the silent host: " << std::strerror(errno);
    }
    port_ = ntohs(a.sin_port);
  }
  ~SilentHost() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST_F(KvPostgresStore, AMultiHostDsnSkipsAHostThatNeverAnswersWithinItsOwnTimeout) {
  // libpq alone would spend the whole attempt on the silent first host. Each
  // host gets the connect timeout.
  SilentHost silent;
  const std::string dsn = "host=127.0.0.1,127.0.0.1 port=" + std::to_string(silent.port()) + "," +
                          std::to_string(pg_->port()) + " dbname=postgres user=postgres target_session_attrs=read-write";
  PostgresStore store(dsn, "kv", 300, 5000, "test");
  auto t0 = std::chrono::steady_clock::now();
  const StoreResult r = store.open();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_GE(ms, 250);
  EXPECT_LT(ms, 2000);
  ASSERT_TRUE(store.put("multi", "host").ok());
  // The next attempt starts with the host that answered.
  t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(store.open().ok());
  ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(ms, 250);
}

TEST_F(KvPostgresStore, WhenNoHostAnswersTheErrorNamesEachHost) {
  SilentHost silent;
  const std::string dsn =
      "host=localhost,127.0.0.1 port=" + std::to_string(silent.port()) + " dbname=x user=x";
  PostgresStore store(dsn, "kv", 100, 100, "test");
  const StoreResult r = store.open();
  const std::string port = std::to_string(silent.port());
  EXPECT_EQ(r.code, StoreResult::kUnavailable);
  EXPECT_NE(r.message.find("localhost:" + port + ": no answer within 100 ms"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("127.0.0.1:" + port + ": no answer within 100 ms"), std::string::npos) << r.message;
}

TEST_F(KvPostgresStore, PreferStandbyTakesThePrimaryWhenNoStandbyExists) {
  const std::string dsn = "host=192.0.2.1,127.0.0.1 port=5432," + std::to_string(pg_->port()) +
                          " dbname=postgres user=postgres target_session_attrs=prefer-standby";
  PostgresStore store(dsn, "kv", 200, 5000, "test");
  const StoreResult r = store.open();
  ASSERT_TRUE(r.ok()) << r.message;
  std::string v;
  EXPECT_NE(store.get("anything", &v).code, StoreResult::kUnavailable);
}

TEST_F(KvPostgresStore, AWriteRefusedByAServerTurnedReadOnlyDropsTheConnectionUntilItIsWritable) {
  // What a demoted primary looks like to a connection that stays up: every
  // write fails with SQLSTATE 25006. The store must let go of it, and a
  // read-write DSN must refuse to settle on it again.
  const std::string dsn = pg_->dsn() + " target_session_attrs=read-write";
  PostgresStore store(dsn, "kv", 2000, 5000, "test");
  ASSERT_TRUE(store.open().ok());
  ASSERT_EQ(pg_->exec("ALTER SYSTEM SET default_transaction_read_only = on"), "");
  ASSERT_EQ(pg_->exec("SELECT pg_reload_conf()"), "");
  StoreResult r;
  for (int i = 0; i < 50; ++i) {  // the reload reaches the session at its next statement
    r = store.put("k", "v");
    if (!r.ok()) break;
    // No open() here: the connection made before the reload must be the one
    // that meets the refusal (an open() after the reload would be refused by
    // target_session_attrs instead, and the 25006 path never tried).
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::string reset = pg_->exec("ALTER SYSTEM RESET default_transaction_read_only");
  EXPECT_EQ(r.code, StoreResult::kUnavailable) << r.message;
  EXPECT_NE(r.message.find("25006"), std::string::npos) << r.message;
  EXPECT_FALSE(store.isOpen());
  // Still read-only: the read-write DSN does not connect.
  const StoreResult again = store.open();
  EXPECT_EQ(again.code, StoreResult::kUnavailable) << again.message;
  ASSERT_EQ(reset, "");
  ASSERT_EQ(pg_->exec("SELECT pg_reload_conf()"), "");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(store.open().ok());
  EXPECT_TRUE(store.put("k", "v").ok());
}

}  // namespace
}  // namespace solar::kv
