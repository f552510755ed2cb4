// The KV protocol (src/apps/kv/kv_service.h) over a real SQLite store: every
// kind of bad request gets a clear status and error, scans page and respect
// the reply budget, batches are all-or-nothing, and a lost database is
// re-opened with back-off while requests fail fast.
#include "apps/kv/kv_service.h"

#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "apps/kv/postgres_store.h"
#include "apps/kv/sqlite_store.h"

namespace solar::kv {
namespace {

constexpr size_t kTcpBudget = 4u << 20;

class KvServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/solar-kv-service-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    settings_.max_key_bytes = 16;
    settings_.max_value_bytes = 1000;
    settings_.max_scan_limit = 50;
    settings_.default_scan_limit = 10;
    settings_.max_batch_ops = 5;
    service_ = std::make_unique<KvService>(
        settings_, std::make_unique<SqliteStore>(dir_ + "/kv.sqlite3", "kv", 1000, "NORMAL"), "test");
    ASSERT_TRUE(service_->start().ok());
  }
  void TearDown() override {
    service_.reset();
    [[maybe_unused]] int rc = std::system(("rm -rf '" + dir_ + "'").c_str());
  }

  KvResponse call(const KvRequest& req, size_t budget = kTcpBudget) {
    std::string reply;
    service_->handle(req.SerializeAsString(), budget, &reply);
    KvResponse resp;
    EXPECT_TRUE(resp.ParseFromString(reply));
    return resp;
  }
  KvResponse put(const std::string& k, const std::string& v) {
    KvRequest r;
    r.mutable_put()->set_key(k);
    r.mutable_put()->set_value(v);
    return call(r);
  }
  KvResponse get(const std::string& k) {
    KvRequest r;
    r.mutable_get()->set_key(k);
    return call(r);
  }
  KvResponse scan(const std::string& prefix, uint32_t limit, const std::string& after = "", size_t budget = kTcpBudget) {
    KvRequest r;
    r.mutable_scan()->set_prefix(prefix);
    r.mutable_scan()->set_limit(limit);
    r.mutable_scan()->set_start_after(after);
    return call(r, budget);
  }

  std::string dir_;
  KvSettings settings_;
  std::unique_ptr<KvService> service_;
};

TEST_F(KvServiceTest, PutGetDeleteRoundTripEchoesTheRequestId) {
  KvRequest r;
  r.set_id(42);
  r.mutable_put()->set_key("k");
  r.mutable_put()->set_value("v");
  KvResponse resp = call(r);
  EXPECT_EQ(resp.status(), OK);
  EXPECT_EQ(resp.id(), 42u);
  EXPECT_EQ(resp.error(), "");
  resp = get("k");
  EXPECT_EQ(resp.status(), OK);
  EXPECT_EQ(resp.value(), "v");
  KvRequest d;
  d.mutable_del()->set_key("k");
  EXPECT_EQ(call(d).status(), OK);
  EXPECT_EQ(call(d).status(), NOT_FOUND);
}

TEST_F(KvServiceTest, AMissingKeyIsNotFoundWithAnErrorText) {
  KvResponse resp = get("nope");
  EXPECT_EQ(resp.status(), NOT_FOUND);
  EXPECT_EQ(resp.error(), "key not found");
}

TEST_F(KvServiceTest, MalformedBytesAreInvalidArgumentNotACrash) {
  std::string reply;
  service_->handle(std::string("\xff\xff\xff", 3), kTcpBudget, &reply);  // a truncated varint tag
  KvResponse resp;
  ASSERT_TRUE(resp.ParseFromString(reply));
  EXPECT_EQ(resp.status(), INVALID_ARGUMENT);
  EXPECT_NE(resp.error().find("malformed request"), std::string::npos) << resp.error();
}

TEST_F(KvServiceTest, AnUnknownOperationIsInvalidArgument) {
  // Field 9, as a newer client's operation would arrive: parses, sets no op.
  std::string reply;
  service_->handle(std::string("\x08\x07\x4a\x02\x0a\x00", 6), kTcpBudget, &reply);
  KvResponse resp;
  ASSERT_TRUE(resp.ParseFromString(reply));
  EXPECT_EQ(resp.status(), INVALID_ARGUMENT);
  EXPECT_EQ(resp.id(), 7u);
  EXPECT_NE(resp.error().find("no operation"), std::string::npos) << resp.error();
  // An empty message too.
  EXPECT_EQ(call(KvRequest()).status(), INVALID_ARGUMENT);
}

TEST_F(KvServiceTest, OversizedValuesAndKeysAreTooLargeAndNothingIsWritten) {
  KvResponse resp = put("k", std::string(1001, 'x'));
  EXPECT_EQ(resp.status(), TOO_LARGE);
  EXPECT_EQ(resp.error(), "value is 1001 bytes; the limit is 1000 bytes");
  EXPECT_EQ(get("k").status(), NOT_FOUND);
  EXPECT_EQ(put("k", std::string(1000, 'x')).status(), OK);
  resp = put(std::string(17, 'k'), "v");
  EXPECT_EQ(resp.status(), TOO_LARGE);
  EXPECT_NE(resp.error().find("key is 17 bytes"), std::string::npos) << resp.error();
}

TEST_F(KvServiceTest, AnEmptyKeyIsInvalidArgument) {
  KvResponse resp = put("", "v");
  EXPECT_EQ(resp.status(), INVALID_ARGUMENT);
  EXPECT_EQ(resp.error(), "key is empty");
}

TEST_F(KvServiceTest, ScanPagesThroughAPrefixWithStartAfter) {
  for (int i = 0; i < 25; ++i) {
    char k[16];
    std::snprintf(k, sizeof(k), "user:%02d", i);
    ASSERT_EQ(put(k, "v").status(), OK);
  }
  ASSERT_EQ(put("other", "v").status(), OK);
  ASSERT_EQ(put("user", "v").status(), OK);  // the prefix itself matches
  std::vector<std::string> seen;
  std::string after;
  for (int page = 0; page < 10; ++page) {
    KvResponse resp = scan("user", 10, after);
    ASSERT_EQ(resp.status(), OK) << resp.error();
    for (const Entry& e : resp.entries()) seen.push_back(e.key());
    if (!resp.more()) break;
    after = resp.entries(resp.entries_size() - 1).key();
  }
  ASSERT_EQ(seen.size(), 26u);
  EXPECT_EQ(seen.front(), "user");
  EXPECT_EQ(seen.back(), "user:24");
}

TEST_F(KvServiceTest, ScanUsesTheDefaultLimitAndRefusesOneAboveTheMaximum) {
  for (int i = 0; i < 12; ++i) ASSERT_EQ(put("k" + std::to_string(i), "v").status(), OK);
  KvResponse resp = scan("k", 0);
  EXPECT_EQ(resp.entries_size(), 10);
  EXPECT_TRUE(resp.more());
  resp = scan("k", 51);
  EXPECT_EQ(resp.status(), INVALID_ARGUMENT);
  EXPECT_NE(resp.error().find("above the maximum 50"), std::string::npos) << resp.error();
}

TEST_F(KvServiceTest, ScanStopsBeforeOutgrowingTheReplyAndSaysMore) {
  for (int i = 0; i < 5; ++i) ASSERT_EQ(put("k" + std::to_string(i), std::string(900, 'x')).status(), OK);
  // About two entries fit in 2500 bytes (512 of them are kept for the header).
  KvResponse resp = scan("k", 5, "", 2500);
  ASSERT_EQ(resp.status(), OK);
  EXPECT_EQ(resp.entries_size(), 2);
  EXPECT_TRUE(resp.more());
  EXPECT_LE(resp.ByteSizeLong(), 2500u);
  // When not even one fits: TOO_LARGE, not an empty page that loops forever.
  resp = scan("k", 5, "", 1000);
  EXPECT_EQ(resp.status(), TOO_LARGE);
}

TEST_F(KvServiceTest, AGetTooBigForTheTransportIsTooLarge) {
  ASSERT_EQ(put("big", std::string(1000, 'x')).status(), OK);
  KvRequest r;
  r.mutable_get()->set_key("big");
  KvResponse resp = call(r, 800);
  EXPECT_EQ(resp.status(), TOO_LARGE);
  EXPECT_NE(resp.error().find("use TCP"), std::string::npos) << resp.error();
}

TEST_F(KvServiceTest, ABatchAppliesAllOpsAndReportsEachResult) {
  ASSERT_EQ(put("old", "1").status(), OK);
  KvRequest r;
  Batch* b = r.mutable_batch();
  b->add_ops()->mutable_put()->set_key("a");
  b->add_ops()->mutable_del()->set_key("old");
  b->add_ops()->mutable_get()->set_key("a");
  b->add_ops()->mutable_get()->set_key("missing");
  b->add_ops()->mutable_scan()->set_prefix("a");
  KvResponse resp = call(r);
  ASSERT_EQ(resp.status(), OK) << resp.error();
  ASSERT_EQ(resp.results_size(), 5);
  EXPECT_EQ(resp.results(0).status(), OK);
  EXPECT_EQ(resp.results(1).status(), OK);
  EXPECT_EQ(resp.results(2).status(), OK);
  EXPECT_EQ(resp.results(3).status(), NOT_FOUND);  // a result, not a failure of the batch
  EXPECT_EQ(resp.results(4).entries_size(), 1);
  EXPECT_EQ(get("old").status(), NOT_FOUND);
}

TEST_F(KvServiceTest, ABatchWithOneBadOpAppliesNothing) {
  KvRequest r;
  r.mutable_batch()->add_ops()->mutable_put()->set_key("first");
  Put* bad = r.mutable_batch()->add_ops()->mutable_put();
  bad->set_key("second");
  bad->set_value(std::string(1001, 'x'));
  KvResponse resp = call(r);
  EXPECT_EQ(resp.status(), TOO_LARGE);
  EXPECT_NE(resp.error().find("batch op 1: value is 1001 bytes"), std::string::npos) << resp.error();
  EXPECT_EQ(resp.results_size(), 0);
  EXPECT_EQ(get("first").status(), NOT_FOUND);
}

TEST_F(KvServiceTest, ABatchOverTheOpLimitOrWithAnEmptyOpIsRefused) {
  KvRequest r;
  for (int i = 0; i < 6; ++i) r.mutable_batch()->add_ops()->mutable_get()->set_key("k");
  EXPECT_EQ(call(r).status(), INVALID_ARGUMENT);
  KvRequest e;
  e.mutable_batch()->add_ops();
  KvResponse resp = call(e);
  EXPECT_EQ(resp.status(), INVALID_ARGUMENT);
  EXPECT_NE(resp.error().find("batch op 0: no operation"), std::string::npos) << resp.error();
}

TEST_F(KvServiceTest, ABatchWhoseResultsWouldNotFitIsRefusedAndRolledBack) {
  ASSERT_EQ(put("v", std::string(900, 'x')).status(), OK);
  KvRequest r;
  r.mutable_batch()->add_ops()->mutable_put()->set_key("written");
  r.mutable_batch()->add_ops()->mutable_get()->set_key("v");
  r.mutable_batch()->add_ops()->mutable_get()->set_key("v");
  KvResponse resp = call(r, 2000);
  EXPECT_EQ(resp.status(), TOO_LARGE);
  EXPECT_EQ(get("written").status(), NOT_FOUND);
}

TEST_F(KvServiceTest, GetsAndScansGoToTheReadStoreAndBatchesAndWritesToTheMainOne) {
  // The read store is a second database here, so where an answer came from shows.
  auto reads = std::make_unique<SqliteStore>(dir_ + "/replica.sqlite3", "kv", 1000, "NORMAL");
  ASSERT_TRUE(reads->open().ok());
  ASSERT_TRUE(reads->put("k", "from the replica").ok());
  service_->setReadStore(std::move(reads));
  ASSERT_EQ(put("k", "from the primary").status(), OK);
  EXPECT_EQ(get("k").value(), "from the replica");
  ASSERT_EQ(scan("k", 10).entries_size(), 1);
  EXPECT_EQ(scan("k", 10).entries(0).value(), "from the replica");
  KvRequest batch;
  batch.mutable_batch()->add_ops()->mutable_get()->set_key("k");
  const KvResponse b = call(batch);
  ASSERT_EQ(b.results_size(), 1);
  EXPECT_EQ(b.results(0).value(), "from the primary");
}

TEST_F(KvServiceTest, AReadStoreThatCannotConnectSendsReadsToTheMainStore) {
  // TEST-NET-1 (RFC 5737): nothing answers, so every attempt times out.
  service_->setReadStore(
      std::make_unique<PostgresStore>("host=192.0.2.1 port=5432 dbname=x user=x", "kv", 100, 100, "test"));
  ASSERT_EQ(put("k", "v").status(), OK);
  const KvResponse first = get("k");
  EXPECT_EQ(first.status(), OK) << first.error();
  EXPECT_EQ(first.value(), "v");
  // Within the back-off no new attempt is made: the read is not slowed down.
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(get("k").value(), "v");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(80));
}

TEST(KvPrefixRange, CoversExactlyTheKeysWithThePrefix) {
  KeyRange r = PrefixRange("ab", "");
  EXPECT_EQ(r.lower, "ab");
  EXPECT_EQ(r.upper, "ac");
  EXPECT_FALSE(r.unbounded);
  r = PrefixRange("a\xff\xff", "");
  EXPECT_EQ(r.upper, "b");
  r = PrefixRange("\xff", "");
  EXPECT_TRUE(r.unbounded);
  r = PrefixRange("", "");
  EXPECT_TRUE(r.unbounded);
  EXPECT_EQ(r.lower, "");
  r = PrefixRange("ab", "abc");
  EXPECT_EQ(r.lower, std::string("abc\0", 4));
  r = PrefixRange("ab", "a");  // before the prefix: the prefix wins
  EXPECT_EQ(r.lower, "ab");
}

// --- the connection's life: a store that can be told to be down ---

class DownableStore : public KvStore {
 public:
  StoreResult open() override {
    ++opens;
    open_ = up;
    return up ? StoreResult::Ok() : StoreResult::Unavailable("cannot connect: refused");
  }
  bool isOpen() const override { return open_; }
  void close() override { open_ = false; }
  StoreResult get(std::string_view, std::string*) override {
    if (!up) {
      open_ = false;
      return StoreResult::Unavailable("connection lost");
    }
    return StoreResult::NotFound();
  }
  StoreResult put(std::string_view, std::string_view) override { return StoreResult::Ok(); }
  StoreResult remove(std::string_view) override { return StoreResult::Ok(); }
  StoreResult scan(const KeyRange&, size_t, bool, std::vector<ScanRow>*) override { return StoreResult::Ok(); }
  StoreResult begin(bool) override { return StoreResult::Ok(); }
  StoreResult commit() override { return StoreResult::Ok(); }
  void rollback() override {}

  bool up = true;
  int opens = 0;

 private:
  bool open_ = false;
};

TEST(KvServiceReconnect, ALostConnectionFailsFastThenReopensWithBackoff) {
  KvSettings s;
  s.reconnect_min_ms = 100;
  s.reconnect_max_ms = 400;
  int64_t now = 1000;
  auto owned = std::make_unique<DownableStore>();
  DownableStore* store = owned.get();
  KvService service(s, std::move(owned), "test", [&] { return now; });
  ASSERT_TRUE(service.start().ok());
  KvRequest get;
  get.mutable_get()->set_key("k");
  KvResponse resp;
  auto status = [&] {
    service.handle(get, kTcpBudget, &resp);
    return resp.status();
  };
  EXPECT_EQ(status(), NOT_FOUND);

  store->up = false;
  EXPECT_EQ(status(), UNAVAILABLE);  // the request that finds the connection gone
  EXPECT_EQ(resp.error(), "connection lost");
  EXPECT_EQ(status(), UNAVAILABLE);  // the next one re-opens at once, and fails
  EXPECT_EQ(store->opens, 2);
  EXPECT_EQ(status(), UNAVAILABLE);  // within the 100 ms back-off: no attempt
  EXPECT_EQ(store->opens, 2);
  EXPECT_NE(resp.error().find("next connection attempt in 100 ms"), std::string::npos) << resp.error();
  now += 100;
  EXPECT_EQ(status(), UNAVAILABLE);
  EXPECT_EQ(store->opens, 3);  // then 200 ms
  now += 199;
  EXPECT_EQ(status(), UNAVAILABLE);
  EXPECT_EQ(store->opens, 3);
  now += 1;
  status();
  now += 400;
  status();
  now += 400;  // capped at 400
  status();
  EXPECT_EQ(store->opens, 6);

  store->up = true;
  now += 400;
  EXPECT_EQ(status(), NOT_FOUND);
  EXPECT_EQ(store->opens, 7);
  EXPECT_EQ(status(), NOT_FOUND);
  EXPECT_EQ(store->opens, 7);  // open stays open
}

TEST(KvReconnectBackoff, DoublesFromMinToMaxAndResetsOnSuccess) {
  ReconnectBackoff b(100, 1000);
  EXPECT_TRUE(b.due(0));
  b.failed(0);
  EXPECT_EQ(b.delayMs(), 100u);
  EXPECT_FALSE(b.due(99));
  EXPECT_TRUE(b.due(100));
  for (uint32_t want : {200u, 400u, 800u, 1000u, 1000u}) {
    b.failed(0);
    EXPECT_EQ(b.delayMs(), want);
  }
  b.succeeded();
  EXPECT_TRUE(b.due(0));
  b.failed(0);
  EXPECT_EQ(b.delayMs(), 100u);
}

}  // namespace
}  // namespace solar::kv
