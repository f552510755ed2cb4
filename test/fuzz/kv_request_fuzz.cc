// The KV service's request decoding (src/apps/kv/kv_service.h): the bytes of
// requests, as a KV worker gets them from a frame or a datagram, in, replies
// out. The store is an in-memory map with the KvStore contract (memcmp key
// order, all-or-nothing batches) that can be told to fail, so the service's
// error and reconnect paths run too; each input starts from an empty store.
//
// Input: one byte of settings (reply budget, small limits, failing store),
// one byte that says which store calls fail, then requests, each as a 2-byte
// big-endian length and that many bytes (the last takes what is left).
// Beyond "no crash": every reply parses as a KvResponse with a status, echoes
// the request's id, and fits the reply budget; what a get or scan returns is
// what the store holds.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "apps/kv/kv_service.h"
#include "fuzz_support.h"

namespace solar::kv {
namespace {

class MemoryStore : public KvStore {
 public:
  explicit MemoryStore(uint8_t fail_mask) : fail_mask_(fail_mask) {}

  StoreResult open() override {
    if (failNext()) return StoreResult::Unavailable("cannot connect: refused");
    open_ = true;
    return StoreResult::Ok();
  }
  bool isOpen() const override { return open_; }
  void close() override {
    rollback();
    open_ = false;
  }
  StoreResult get(std::string_view key, std::string* value) override {
    if (StoreResult r; fail(&r)) return r;
    auto it = data_.find(std::string(key));
    if (it == data_.end()) return StoreResult::NotFound();
    *value = it->second;
    return StoreResult::Ok();
  }
  StoreResult put(std::string_view key, std::string_view value) override {
    if (StoreResult r; fail(&r)) return r;
    data_[std::string(key)] = std::string(value);
    return StoreResult::Ok();
  }
  StoreResult remove(std::string_view key) override {
    if (StoreResult r; fail(&r)) return r;
    return data_.erase(std::string(key)) ? StoreResult::Ok() : StoreResult::NotFound();
  }
  StoreResult scan(const KeyRange& range, size_t limit, bool keys_only, std::vector<ScanRow>* rows) override {
    if (StoreResult r; fail(&r)) return r;
    rows->clear();
    for (auto it = data_.lower_bound(range.lower); it != data_.end() && rows->size() < limit; ++it) {
      if (!range.unbounded && it->first >= range.upper) break;
      rows->push_back({it->first, keys_only ? "" : it->second});
    }
    return StoreResult::Ok();
  }
  StoreResult begin(bool) override {
    if (StoreResult r; fail(&r)) return r;
    saved_ = data_;
    in_tx_ = true;
    return StoreResult::Ok();
  }
  StoreResult commit() override {
    if (StoreResult r; fail(&r)) return r;
    in_tx_ = false;
    return StoreResult::Ok();
  }
  void rollback() override {
    if (in_tx_) data_ = saved_;
    in_tx_ = false;
  }

  // std::string compares as unsigned bytes (char_traits<char>::compare is memcmp).
  const std::map<std::string, std::string>& data() const { return data_; }

 private:
  bool failNext() { return (fail_mask_ >> (calls_++ % 8)) & 1; }
  // Every other failure is a lost connection, the rest a refused statement.
  bool fail(StoreResult* r) {
    if (!open_) {
      *r = StoreResult::Unavailable("connection lost");
      return true;
    }
    if (!failNext()) return false;
    if (++failures_ % 2) {
      open_ = false;
      *r = StoreResult::Unavailable("connection lost");
    } else {
      *r = StoreResult::Error("disk full");
    }
    return true;
  }

  uint8_t fail_mask_;
  unsigned calls_ = 0, failures_ = 0;
  bool open_ = false, in_tx_ = false;
  std::map<std::string, std::string> data_, saved_;
};

constexpr size_t kBudgets[] = {4u << 20, 65507, 4096, 1024};

}  // namespace
}  // namespace solar::kv

using namespace solar::kv;  // NOLINT: a fuzz target's one function

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  solar::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  solar::fuzz::Bytes in(data, size);
  const uint8_t mode = in.u8();
  const uint8_t fail_bits = in.u8();
  const uint8_t fail_mask = (mode & 8) ? fail_bits : 0;
  const size_t budget = kBudgets[mode & 3];
  KvSettings settings;
  if (mode & 4) {
    settings.max_key_bytes = 16;
    settings.max_value_bytes = 256;
    settings.max_scan_limit = 8;
    settings.default_scan_limit = 4;
    settings.max_batch_ops = 4;
  }
  settings.reconnect_min_ms = 100;
  settings.reconnect_max_ms = 400;
  auto owned = std::make_unique<MemoryStore>(fail_mask);
  const MemoryStore* store = owned.get();
  int64_t now = 1000;
  KvService service(settings, std::move(owned), "fuzz", [&] { return now; });
  (void)service.start();

  std::string reply;
  while (in.left() > 0) {
    const size_t high = in.u8();
    const size_t low = in.u8();
    const size_t n = std::min(in.left(), (high << 8) | low);
    const std::string_view payload(reinterpret_cast<const char*>(in.rest()), n);
    in.skip(n);
    now += 50;
    service.handle(payload, budget, &reply);

    KvResponse resp;
    FUZZ_CHECK(resp.ParseFromString(reply));
    FUZZ_CHECK(resp.status() != STATUS_UNSPECIFIED);
    FUZZ_CHECK(reply.size() <= budget);
    KvRequest req;
    if (!req.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      FUZZ_CHECK(resp.status() == INVALID_ARGUMENT && resp.id() == 0);
      continue;
    }
    FUZZ_CHECK(resp.id() == req.id());
    if (resp.status() != OK) {
      FUZZ_CHECK(!resp.error().empty());
      FUZZ_CHECK(resp.results_size() == 0);
      continue;
    }
    FUZZ_CHECK(resp.error().empty());
    const auto& held = store->data();
    switch (req.op_case()) {
      case KvRequest::kGet: {
        auto it = held.find(req.get().key());
        FUZZ_CHECK(it != held.end() && it->second == resp.value());
        break;
      }
      case KvRequest::kPut: {
        auto it = held.find(req.put().key());
        FUZZ_CHECK(it != held.end() && it->second == req.put().value());
        break;
      }
      case KvRequest::kDel:
        FUZZ_CHECK(held.count(req.del().key()) == 0);
        break;
      case KvRequest::kScan: {
        const Scan& scan = req.scan();
        FUZZ_CHECK(static_cast<size_t>(resp.entries_size()) <= (scan.limit() ? scan.limit() : settings.default_scan_limit));
        std::string last;
        for (const Entry& e : resp.entries()) {
          FUZZ_CHECK(e.key().compare(0, scan.prefix().size(), scan.prefix()) == 0);
          FUZZ_CHECK(e.key() > scan.start_after() && (last.empty() || e.key() > last));
          auto it = held.find(e.key());
          FUZZ_CHECK(it != held.end() && (scan.keys_only() ? e.value().empty() : e.value() == it->second));
          last = e.key();
        }
        break;
      }
      case KvRequest::kBatch:
        FUZZ_CHECK(resp.results_size() == req.batch().ops_size());
        break;
      case KvRequest::OP_NOT_SET:
        FUZZ_CHECK(false);  // refused above
    }
  }
  return 0;
}
