// solar-bench's kv workload (tools/bench/kv_workload.h): its hand-written
// wire format must agree with the generated protobuf code of proto/kv.proto,
// and its reply check must accept exactly the right answers.
#include "../../tools/bench/kv_workload.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kv.pb.h"

namespace solar::bench {
namespace {

WorkloadParams Params(double get_ratio, uint64_t keys, size_t size) {
  WorkloadParams p;
  p.kv_get_ratio = get_ratio;
  p.kv_keys = keys;
  p.size_min = p.size_max = size;
  return p;
}

TEST(KvBenchWorkload, RequestsParseAsKvRequestsWithTheConfiguredMix) {
  KvWorkload w(Params(0.75, 50, 100));
  Rng rng(7);
  int gets = 0, puts = 0;
  uint64_t last_id = 0;
  std::string bytes;
  for (int i = 0; i < 4000; ++i) {
    w.makeRequest(rng, &bytes);
    kv::KvRequest r;
    ASSERT_TRUE(r.ParseFromString(bytes));
    EXPECT_GT(r.id(), last_id);
    last_id = r.id();
    if (r.has_get()) {
      ++gets;
      EXPECT_EQ(r.get().key().rfind("bench:", 0), 0u);
    } else {
      ASSERT_TRUE(r.has_put());
      ++puts;
      EXPECT_EQ(r.put().value().size(), 100u);
      EXPECT_LT(std::stoull(r.put().key().substr(6)), 50u);
    }
  }
  EXPECT_NEAR(gets / 4000.0, 0.75, 0.03);
  EXPECT_EQ(gets + puts, 4000);
}

TEST(KvBenchWorkload, HandEncodingMatchesTheGeneratedCode) {
  kv::KvRequest r;
  r.set_id(300);
  r.mutable_put()->set_key("key");
  r.mutable_put()->set_value(std::string(200, 'v'));
  EXPECT_EQ(kvwire::EncodePut(300, "key", std::string(200, 'v')), r.SerializeAsString());
  kv::KvRequest g;
  g.set_id(1);
  g.mutable_get()->set_key("k");
  EXPECT_EQ(kvwire::EncodeGet(1, "k"), g.SerializeAsString());
  EXPECT_EQ(kvwire::kStatusOk, kv::OK);
  EXPECT_EQ(kvwire::kStatusNotFound, kv::NOT_FOUND);

  kv::KvResponse resp;
  resp.set_id(99);
  resp.set_status(kv::OK);
  resp.set_error("e");
  resp.set_value("value");
  resp.add_entries()->set_key("skipped");
  kvwire::ResponseView view;
  const std::string wire = resp.SerializeAsString();  // the view points into it
  ASSERT_TRUE(kvwire::DecodeResponse(wire, &view));
  EXPECT_EQ(view.id, 99u);
  EXPECT_EQ(view.status, kv::OK);
  EXPECT_EQ(view.value, "value");
  EXPECT_FALSE(kvwire::DecodeResponse("\x0a\x05" "ab", &view));  // truncated
}

TEST(KvBenchWorkload, ChecksRepliesByIdStatusAndValue) {
  KvWorkload w(Params(1.0, 10, 64));
  Rng rng(1);
  std::string get;
  w.makeRequest(rng, &get);
  kv::KvRequest req;
  ASSERT_TRUE(req.ParseFromString(get));
  const uint64_t index = std::stoull(req.get().key().substr(6));

  kv::KvResponse ok;
  ok.set_id(req.id());
  ok.set_status(kv::OK);
  ok.set_value(BenchValue(index, 64));
  EXPECT_EQ(w.checkReply(get, ok.SerializeAsString()), ReplyCheck::kOk);

  kv::KvResponse wrong = ok;
  wrong.set_value(BenchValue(index + 1, 64));
  EXPECT_EQ(w.checkReply(get, wrong.SerializeAsString()), ReplyCheck::kMismatch);
  wrong = ok;
  wrong.set_id(req.id() + 1);  // another request's reply (UDP)
  EXPECT_EQ(w.checkReply(get, wrong.SerializeAsString()), ReplyCheck::kMismatch);

  kv::KvResponse missing;
  missing.set_id(req.id());
  missing.set_status(kv::NOT_FOUND);
  EXPECT_EQ(w.checkReply(get, missing.SerializeAsString()), ReplyCheck::kOk);
  kv::KvResponse down;
  down.set_id(req.id());
  down.set_status(kv::UNAVAILABLE);
  EXPECT_EQ(w.checkReply(get, down.SerializeAsString()), ReplyCheck::kMismatch);
}

TEST(KvBenchWorkload, ValuesArePerKeyAndPrefixConsistent) {
  EXPECT_EQ(BenchKey(42), "bench:0000000042");
  EXPECT_NE(BenchValue(1, 32), BenchValue(2, 32));
  EXPECT_EQ(BenchValue(5, 100).substr(0, 10), BenchValue(5, 10));
  const size_t s = BenchValueSize(3, 10, 20);
  EXPECT_GE(s, 10u);
  EXPECT_LE(s, 20u);
  EXPECT_EQ(BenchValueSize(3, 10, 20), s);
}

std::string Reply(const kv::KvRequest& request, kv::Status status, const std::string& value = "") {
  kv::KvResponse r;
  r.set_id(request.id());
  r.set_status(status);
  r.set_value(value);
  return r.SerializeAsString();
}

TEST(KvBenchWorkload, TheLedgerRecordsExactlyTheAcknowledgedPutsAndReadsThemBack) {
  char path[] = "/tmp/solar-ledger-test-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  WorkloadParams p = Params(0.5, 10, 20);
  p.kv_ledger = path;
  std::vector<std::string> acked;
  {
    KvWorkload w(p);
    Rng rng(3);
    std::string bytes;
    int refused = 0;
    for (int i = 0; i < 400; ++i) {
      w.makeRequest(rng, &bytes);
      kv::KvRequest r;
      ASSERT_TRUE(r.ParseFromString(bytes));
      if (r.has_put()) {
        ASSERT_EQ(r.put().key().rfind("ledger:", 0), 0u) << "a ledger run writes fresh keys";
        EXPECT_EQ(w.checkReply(bytes, Reply(r, kv::OK)), ReplyCheck::kOk);
        if (i % 3 == 0) {  // the server refused this one: not acknowledged, not in the ledger
          ++refused;
          continue;
        }
        w.acknowledged(bytes);
        acked.push_back(r.put().key());
      } else {
        // A read-back: only of a key acknowledged before, and NOT_FOUND is a lost write.
        ASSERT_TRUE(r.has_get());
        EXPECT_NE(std::find(acked.begin(), acked.end(), r.get().key()), acked.end()) << r.get().key();
        uint64_t h = 0;
        ASSERT_TRUE(KvWorkload::LedgerIndex(r.get().key(), &h));
        EXPECT_EQ(w.checkReply(bytes, Reply(r, kv::NOT_FOUND)), ReplyCheck::kMismatch);
        EXPECT_EQ(w.checkReply(bytes, Reply(r, kv::OK, BenchValue(h, 20))), ReplyCheck::kOk);
        EXPECT_EQ(w.checkReply(bytes, Reply(r, kv::OK, BenchValue(h + 1, 20))), ReplyCheck::kMismatch);
      }
    }
    EXPECT_GT(refused, 0);
  }  // the destructor writes what is pending
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  unlink(path);
  EXPECT_EQ(lines, acked);
}

TEST(KvBenchWorkload, ACheckReadsEveryLedgerKeyOnceAcrossInstances) {
  const std::vector<std::string> keys = {LedgerKey(1), LedgerKey(2), LedgerKey(3), LedgerKey(4)};
  std::atomic<size_t> next{0};
  WorkloadParams p = Params(0.9, 10, 20);
  p.kv_check_keys = &keys;
  p.kv_check_next = &next;
  KvWorkload a(p), b(p);
  Rng rng(1);
  std::vector<std::string> asked;
  std::string bytes;
  for (int i = 0; i < 4; ++i) {
    (i % 2 ? a : b).makeRequest(rng, &bytes);
    kv::KvRequest r;
    ASSERT_TRUE(r.ParseFromString(bytes));
    ASSERT_TRUE(r.has_get());
    asked.push_back(r.get().key());
    EXPECT_EQ(a.checkReply(bytes, Reply(r, kv::NOT_FOUND)), ReplyCheck::kMismatch) << "a missing key is a lost write";
  }
  EXPECT_EQ(asked, keys);
}

}  // namespace
}  // namespace solar::bench
