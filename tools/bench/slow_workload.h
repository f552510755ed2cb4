// SlowWorkload: what a --slow-connections connection sends, again and again:
// --slow-payload verbatim (by default "sleep:200", which builtin:debug answers
// after sleeping 200 ms). A reply passes when it echoes the request or, for
// "sleep:MS", when it is builtin:debug's "slept:MS"; anything else is a
// mismatch like any other. Not in the --workload registry: it is the
// interference beside a workload, not one to measure.
// Runs in: solar-bench load threads (one instance each).
#pragma once

#include <string>
#include <string_view>

#include "workload.h"

namespace solar::bench {

class SlowWorkload : public Workload {
 public:
  explicit SlowWorkload(std::string payload);

  void makeRequest(Rng& rng, std::string* request) override;
  ReplyCheck checkReply(std::string_view request, std::string_view reply) const override;

 private:
  std::string payload_;
};

}  // namespace solar::bench
