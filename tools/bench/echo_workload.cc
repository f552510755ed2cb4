#include "echo_workload.h"

#include <memory>

namespace solar::bench {
namespace {

constexpr size_t kPoolSlack = 64 * 1024;  // room for distinct offsets beyond the largest payload
constexpr uint64_t kPoolSeed = 0x736f6c6172;  // "solar": the pool is the same on every run

}  // namespace

EchoWorkload::EchoWorkload(const WorkloadParams& params)
    : size_min_(params.size_min), size_max_(params.size_max) {
  Rng rng(kPoolSeed);
  pool_.resize(size_max_ + kPoolSlack);
  for (char& c : pool_) {
    c = static_cast<char>(rng.next());
    if (params.line_safe && (c == '\n' || c == '\r')) c = ' ';
  }
}

void EchoWorkload::makeRequest(Rng& rng, std::string* request) {
  const size_t size = rng.uniform(size_min_, size_max_);
  const size_t offset = rng.uniform(0, pool_.size() - size);
  request->assign(pool_, offset, size);
}

ReplyCheck EchoWorkload::checkReply(std::string_view request, std::string_view reply) const {
  return request == reply ? ReplyCheck::kOk : ReplyCheck::kMismatch;
}

SOLAR_BENCH_REGISTER_WORKLOAD("echo", [](const WorkloadParams& params) {
  return std::unique_ptr<Workload>(std::make_unique<EchoWorkload>(params));
});

}  // namespace solar::bench
