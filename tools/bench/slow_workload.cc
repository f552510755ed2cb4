#include "slow_workload.h"

#include <cstdlib>
#include <utility>

namespace solar::bench {
namespace {

// builtin:debug's command and answer (src/apps/debug/debug_worker.cc).
constexpr std::string_view kSleepPrefix = "sleep:";
constexpr std::string_view kSleptPrefix = "slept:";

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

}  // namespace

SlowWorkload::SlowWorkload(std::string payload) : payload_(std::move(payload)) {}

void SlowWorkload::makeRequest(Rng&, std::string* request) { request->assign(payload_); }

ReplyCheck SlowWorkload::checkReply(std::string_view request, std::string_view reply) const {
  if (reply == request) return ReplyCheck::kOk;
  if (!StartsWith(request, kSleepPrefix) || !StartsWith(reply, kSleptPrefix)) return ReplyCheck::kMismatch;
  // The worker answers with the number as atoi() read it ("sleep:0200" comes
  // back as "slept:200"), so compare numbers the same way.
  const std::string asked(request.substr(kSleepPrefix.size()));
  const std::string answered(reply.substr(kSleptPrefix.size()));
  return std::to_string(std::atoi(asked.c_str())) == answered ? ReplyCheck::kOk : ReplyCheck::kMismatch;
}

}  // namespace solar::bench
