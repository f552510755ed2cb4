// EchoWorkload ("echo"): random payloads that must come back byte-exact, as
// from solar's builtin:echo worker or any echo server (--proto raw).
// Runs in: solar-bench load threads (one instance each).
#pragma once

#include <string>

#include "workload.h"

namespace solar::bench {

class EchoWorkload : public Workload {
 public:
  explicit EchoWorkload(const WorkloadParams& params);

  void makeRequest(Rng& rng, std::string* request) override;
  ReplyCheck checkReply(std::string_view request, std::string_view reply) const override;

 private:
  // Payloads are slices of this block at random offsets: random enough that a
  // reply from the wrong request or with a flipped byte never matches, and
  // cheap (one copy) where drawing every byte would cost more than the
  // syscalls the bench is trying to measure.
  std::string pool_;
  size_t size_min_;
  size_t size_max_;
};

}  // namespace solar::bench
