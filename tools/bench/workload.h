// Workload: what solar-bench sends and how it judges a reply; selected with
// --workload NAME. The transport (TCP framing or UDP) is not its business: it
// deals in payloads only.
//
// To add one (the KV service's get/put mix, say), implement Workload in
// tools/bench/NAME_workload.cc and register it there:
//
//   SOLAR_BENCH_REGISTER_WORKLOAD("kv", [](const WorkloadParams& p) {
//     return std::make_unique<KvWorkload>(p);
//   });
//
// Runs in: solar-bench. Each load thread makes its own instance, so an
// implementation needs no locking; the registry is filled at static
// initialisation and only read afterwards.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rng.h"

namespace solar::bench {

enum class ReplyCheck { kOk, kMismatch };

struct WorkloadParams {
  size_t size_min = 50;  // request payload size range (--size)
  size_t size_max = 50;
  // Line protocol: a payload must contain neither '\n' (it ends the line) nor
  // '\r' (line servers, solar included, accept "\r\n" as an end of line and
  // drop the '\r', so a payload ending in one would not come back whole).
  bool line_safe = false;
  // The kv workload (--kv-get-ratio, --kv-keys): the share of gets among
  // get/put requests, and how many distinct keys they use. The value size is
  // the size range above.
  double kv_get_ratio = 0.9;
  uint64_t kv_keys = 10000;
  // --kv-ledger: the file acknowledged puts are appended to ("" = off).
  std::string kv_ledger;
  // --kv-check-ledger: the keys to read back, and the next one to take
  // (shared by every thread's instance).
  const std::vector<std::string>* kv_check_keys = nullptr;
  std::atomic<size_t>* kv_check_next = nullptr;
};

class Workload {
 public:
  virtual ~Workload() = default;

  // Replaces *request with the next request's payload (no framing). Reuse of
  // the string's capacity is the point of passing it in.
  virtual void makeRequest(Rng& rng, std::string* request) = 0;

  // kOk when `reply` is a valid answer to `request`, else kMismatch. Must be a
  // pure function of its arguments: over UDP, where replies may come back out
  // of order, the bench tries it against each request in flight.
  virtual ReplyCheck checkReply(std::string_view request, std::string_view reply) const = 0;

  // Called once for each request whose reply passed checkReply: the server
  // acknowledged it (the kv workload's ledger of acknowledged writes).
  virtual void acknowledged(std::string_view request) {}
};

class WorkloadRegistry {
 public:
  using Factory = std::function<std::unique_ptr<Workload>(const WorkloadParams&)>;

  static WorkloadRegistry& Instance();

  // Returns true (for use in a static initialiser); a second `name` replaces the first.
  bool add(const std::string& name, Factory factory);
  bool contains(const std::string& name) const { return factories_.count(name) != 0; }
  // nullptr when `name` is unknown.
  std::unique_ptr<Workload> make(const std::string& name, const WorkloadParams& params) const;
  std::vector<std::string> names() const;
  std::string namesForHelp() const;  // "echo, kv"

 private:
  WorkloadRegistry() = default;
  std::map<std::string, Factory> factories_;
};

}  // namespace solar::bench

#define SOLAR_BENCH_WORKLOAD_CONCAT2(a, b) a##b
#define SOLAR_BENCH_WORKLOAD_CONCAT(a, b) SOLAR_BENCH_WORKLOAD_CONCAT2(a, b)
#define SOLAR_BENCH_REGISTER_WORKLOAD(name, factory)                                       \
  static const bool SOLAR_BENCH_WORKLOAD_CONCAT(solar_bench_workload_registered_, __LINE__) = \
      ::solar::bench::WorkloadRegistry::Instance().add(name, factory)
