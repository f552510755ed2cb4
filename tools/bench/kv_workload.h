// KvWorkload ("kv"): the KV service's get/put mix (proto/kv.proto) against
// solar's builtin:kv. --kv-get-ratio sets the share of gets, --kv-keys the
// key space (uniform), -s the value size. Every reply is checked: a put must
// answer OK; a get OK with exactly the value the bench writes for that key, or
// NOT_FOUND while the key has not been written yet. Any other status (an
// UNAVAILABLE database, say) counts as a failed request.
//
// Keys and values are a function of the key's index (BenchKey, BenchValue),
// so any writer (this bench, solar-cli bench-direct-pg, an earlier run)
// leaves values a later get can check.
//
// With a ledger (--kv-ledger FILE) every put writes a fresh key, LedgerKey(h)
// for a random h, and each one the server acknowledged is appended to FILE;
// gets then read back keys this instance saw acknowledged, so NOT_FOUND or a
// wrong value is a lost write, counted as a failed request. --kv-check-ledger
// FILE reads every key of such a file back once, at the end of a failover
// test, say.
// Runs in: solar-bench load threads (one instance each), solar-cli.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "workload.h"

namespace solar::bench {

// "bench:0000000042"
inline std::string BenchKey(uint64_t index) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "bench:%010llu", static_cast<unsigned long long>(index));
  return buf;
}

// "ledger:00000000deadbeef": a key that was written once, by a ledger run.
inline std::string LedgerKey(uint64_t h) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "ledger:%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// `size` bytes determined by `index`: printable, different for every key.
inline std::string BenchValue(uint64_t index, size_t size) {
  static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  Rng rng(index * 0x9e3779b97f4a7c15ULL + 1);
  std::string v(size, '\0');
  uint64_t bits = 0;
  for (size_t i = 0; i < size; ++i) {
    if (i % 8 == 0) bits = rng.next();
    v[i] = kAlphabet[(bits >> (8 * (i % 8)) & 0xff) % 62];
  }
  return v;
}

// The value size for key `index` within [size_min, size_max]: fixed per key,
// so that every put of a key writes the same bytes.
inline size_t BenchValueSize(uint64_t index, size_t size_min, size_t size_max) {
  if (size_max <= size_min) return size_min;
  Rng rng(index + 0x51);
  return size_min + rng.next() % (size_max - size_min + 1);
}

// The few messages of proto/kv.proto the bench sends and reads, in protobuf's
// wire format by hand: solar-bench links no protobuf library (it stays a
// small load generator), and encoding one get or put is a dozen bytes of
// varints. test/unit/kv_bench_workload_test.cc checks these against the
// generated code, so the two cannot drift apart unnoticed.
namespace kvwire {

inline constexpr int kStatusOk = 1;        // kv.Status.OK
inline constexpr int kStatusNotFound = 2;  // kv.Status.NOT_FOUND

std::string EncodeGet(uint64_t id, std::string_view key);
std::string EncodePut(uint64_t id, std::string_view key, std::string_view value);

// A KvRequest as EncodeGet/EncodePut write it.
struct RequestView {
  uint64_t id = 0;
  bool is_put = false;
  std::string_view key;
};
bool DecodeRequest(std::string_view bytes, RequestView* out);

// The fields of a KvResponse the bench checks; unknown fields are skipped.
struct ResponseView {
  uint64_t id = 0;
  int status = 0;
  std::string_view value;
};
bool DecodeResponse(std::string_view bytes, ResponseView* out);

}  // namespace kvwire

class KvWorkload : public Workload {
 public:
  explicit KvWorkload(const WorkloadParams& params);

  void makeRequest(Rng& rng, std::string* request) override;
  ReplyCheck checkReply(std::string_view request, std::string_view reply) const override;
  void acknowledged(std::string_view request) override;
  ~KvWorkload() override;

  // Parses BenchKey's digits back; false for any other key.
  static bool KeyIndex(std::string_view key, uint64_t* index);
  // Parses LedgerKey's hex digits back; false for any other key.
  static bool LedgerIndex(std::string_view key, uint64_t* h);

 private:
  void flushLedger();

  double get_ratio_;
  uint64_t keys_;
  size_t size_min_;
  size_t size_max_;
  uint64_t next_id_ = 1;

  int ledger_fd_ = -1;
  std::string ledger_pending_;       // acknowledged keys not yet written, one per line
  std::vector<std::string> acked_;  // recently acknowledged keys, for the gets to read back
  size_t acked_next_ = 0;
  const std::vector<std::string>* check_keys_ = nullptr;
  std::atomic<size_t>* check_next_ = nullptr;
};

}  // namespace solar::bench
