// solar-bench's per-connection request logic without sockets: pipeline depth,
// the open-loop schedule (latency from the intended send time), warm-up,
// deadline, budget, reply matching and timeouts.
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "../../tools/bench/request_pipeline.h"
#include "../../tools/bench/workload.h"

namespace solar::bench {
namespace {

constexpr uint64_t kMs = 1'000'000;

class BenchPipelineTest : public ::testing::Test {
 protected:
  BenchPipelineTest() {
    plan_.options.pipeline = 1;
    plan_.options.timeout_ns = 100 * kMs;
    plan_.start_ns = 0;
    plan_.warmup_end_ns = 0;
    plan_.deadline_ns = kNoDeadline;
    workload_ = WorkloadRegistry::Instance().make("echo", WorkloadParams{});
  }

  // interval_ns = 0: closed loop.
  std::unique_ptr<RequestPipeline> Make(uint64_t interval_ns = 0, uint64_t first_ns = 0) {
    return std::make_unique<RequestPipeline>(plan_, *workload_, rng_, stats_, interval_ns, first_ns, 4);
  }

  // Issues at `now`, marks it sent, and returns its payload.
  static std::string IssueAndSend(RequestPipeline& p, uint64_t now) {
    InFlight* r = p.issue(now);
    EXPECT_NE(r, nullptr);
    if (r == nullptr) return "";
    r->sent_ns = now;
    return r->payload;
  }

  RunPlan plan_;
  std::unique_ptr<Workload> workload_;
  Rng rng_{7};
  Stats stats_;
};

TEST_F(BenchPipelineTest, ClosedLoopKeepsThePipelineDepthInFlight) {
  plan_.options.pipeline = 3;
  auto p = Make();
  for (int i = 0; i < 3; ++i) IssueAndSend(*p, 1);
  EXPECT_EQ(p->issue(1), nullptr);
  p->complete(0, p->at(0).payload, 54, 2);
  EXPECT_NE(p->issue(2), nullptr);
  EXPECT_EQ(p->issue(2), nullptr);
}

TEST_F(BenchPipelineTest, ClosedLoopLatencyRunsFromTheSend) {
  auto p = Make();
  const std::string payload = IssueAndSend(*p, 1 * kMs);
  EXPECT_EQ(p->complete(0, payload, payload.size() + 4, 6 * kMs), ReplyCheck::kOk);
  EXPECT_EQ(stats_.requests, 1u);
  EXPECT_EQ(stats_.latency.max(), 5 * kMs);
  EXPECT_EQ(stats_.bytes_sent, payload.size() + 4);
  EXPECT_EQ(stats_.bytes_received, payload.size() + 4);
}

TEST_F(BenchPipelineTest, OpenLoopSendsNothingBeforeItsDueTime) {
  auto p = Make(/*interval_ns=*/kMs, /*first_ns=*/10 * kMs);
  EXPECT_EQ(p->issue(9 * kMs), nullptr);
  EXPECT_EQ(p->nextDue(), 10 * kMs);
  EXPECT_NE(p->issue(10 * kMs), nullptr);
  EXPECT_EQ(p->nextDue(), 0u);  // depth 1 and one in flight: nothing can be sent on time
}

TEST_F(BenchPipelineTest, OpenLoopLatencyRunsFromTheIntendedSendTimeNotTheActualOne) {
  // One request every 1 ms; the server takes 5 ms over the first one. The
  // requests due at 1, 2, 3 ms could not go out (depth 1): when they finally
  // do, their latency still counts from when they were due.
  auto p = Make(/*interval_ns=*/kMs, /*first_ns=*/0);
  std::string payload = IssueAndSend(*p, 0);
  p->complete(0, payload, 54, 5 * kMs);
  EXPECT_EQ(stats_.latency.max(), 5 * kMs);

  payload = IssueAndSend(*p, 5 * kMs);  // due at 1 ms
  EXPECT_EQ(p->at(0).intended_ns, 1 * kMs);
  p->complete(0, payload, 54, 5 * kMs + 100'000);
  payload = IssueAndSend(*p, 5 * kMs + 100'000);  // due at 2 ms
  p->complete(0, payload, 54, 5 * kMs + 200'000);

  EXPECT_EQ(stats_.requests, 3u);
  EXPECT_EQ(stats_.latency.min(), 3 * kMs + 200'000);  // 5.2 ms - 2 ms, not 0.1 ms
}

TEST_F(BenchPipelineTest, WarmUpRequestsAreNotMeasured) {
  plan_.warmup_end_ns = 10 * kMs;
  auto p = Make();
  std::string payload = IssueAndSend(*p, 5 * kMs);
  p->complete(0, payload, 54, 12 * kMs);  // sent during the warm-up: not measured
  EXPECT_EQ(stats_.requests, 0u);
  payload = IssueAndSend(*p, 12 * kMs);
  p->complete(0, payload, 54, 13 * kMs);
  EXPECT_EQ(stats_.requests, 1u);
  EXPECT_EQ(stats_.latency.max(), 1 * kMs);
  EXPECT_EQ(stats_.answered, 2u);  // the progress line's rate counts the warm-up too
}

TEST_F(BenchPipelineTest, NothingIsSentOrCountedAfterTheDeadline) {
  plan_.deadline_ns = 10 * kMs;
  auto p = Make();
  const std::string payload = IssueAndSend(*p, 9 * kMs);
  p->complete(0, payload, 54, 11 * kMs);  // the reply came too late to count
  EXPECT_EQ(stats_.requests, 0u);
  EXPECT_EQ(p->issue(10 * kMs), nullptr);
  EXPECT_TRUE(p->finished());
}

TEST_F(BenchPipelineTest, BudgetLimitsMeasuredRequestsAcrossPipelines) {
  plan_.options.requests = 3;
  plan_.budget.store(3);
  auto a = Make();
  auto b = Make();
  std::string pa = IssueAndSend(*a, 1);
  std::string pb = IssueAndSend(*b, 1);
  a->complete(0, pa, 54, 2);
  IssueAndSend(*a, 2);
  b->complete(0, pb, 54, 2);
  EXPECT_EQ(b->issue(3), nullptr);  // the third went to a
  EXPECT_TRUE(b->finished());
  EXPECT_FALSE(a->finished());  // its last one is still in flight
}

TEST_F(BenchPipelineTest, MismatchIsCountedAndNotMeasured) {
  auto p = Make();
  std::string payload = IssueAndSend(*p, 1);
  payload[0] ^= 1;
  EXPECT_EQ(p->complete(0, payload, 54, 2), ReplyCheck::kMismatch);
  EXPECT_EQ(stats_.error(ErrorKind::kMismatch), 1u);
  EXPECT_EQ(stats_.requests, 0u);
  EXPECT_EQ(p->size(), 0u);
}

TEST_F(BenchPipelineTest, OutOfOrderReplyIsMatchedToItsRequest) {
  plan_.options.pipeline = 4;
  auto p = Make();
  IssueAndSend(*p, 1);
  const std::string second = IssueAndSend(*p, 1);
  IssueAndSend(*p, 1);
  const std::string unsent = p->issue(1)->payload;  // issued, not on the wire
  EXPECT_EQ(p->match(second), 1);
  EXPECT_EQ(p->match(unsent), 0);  // a reply to nothing on the wire is judged against the oldest
  EXPECT_EQ(p->match("garbage"), 0);
}

TEST_F(BenchPipelineTest, ExpiredCountsOnlyRequestsOnTheWireLongerThanTheTimeout) {
  plan_.options.pipeline = 3;
  auto p = Make();
  IssueAndSend(*p, 1 * kMs);  // (sent_ns 0 means "not sent"; MonoNanos() is never 0)
  IssueAndSend(*p, 50 * kMs);
  p->issue(50 * kMs);  // never sent: cannot time out
  EXPECT_EQ(p->expired(101 * kMs), 0u);
  EXPECT_EQ(p->expired(102 * kMs), 1u);
  EXPECT_EQ(p->expired(151 * kMs), 2u);
  EXPECT_EQ(p->abandon(), 3u);
  EXPECT_EQ(p->size(), 0u);
}

}  // namespace
}  // namespace solar::bench
