// solar-bench's head-of-line load (--slow-connections, --slow-payload,
// --stall-threshold): the options, the slow connections' requests and reply
// check, each connection's median, the stalled share, and the report. No
// sockets: the parts are pure.
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "../../tools/bench/options.h"
#include "../../tools/bench/report.h"
#include "../../tools/bench/request_pipeline.h"
#include "../../tools/bench/slow_workload.h"
#include "../../tools/bench/stall_summary.h"
#include "../../tools/bench/workload.h"

namespace solar::bench {
namespace {

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kUs = 1'000;

Options Parsed(std::vector<std::string> args) {
  const ParseResult r = ParseOptions(args);
  EXPECT_TRUE(r.ok()) << r.error;
  return r.options;
}

std::string ErrorFor(std::vector<std::string> args) {
  const ParseResult r = ParseOptions(args);
  EXPECT_FALSE(r.ok());
  return r.error;
}

// --- options ---

TEST(BenchHeadOfLineOptions, OffByDefaultWithSleep200AndA20msThreshold) {
  const Options o = Parsed({"h:1"});
  EXPECT_EQ(o.slow_connections, 0);
  EXPECT_EQ(o.slow_payload, "sleep:200");
  EXPECT_EQ(o.stall_threshold_ns, 20 * kMs);
  EXPECT_FALSE(o.perConnectionReport());
}

TEST(BenchHeadOfLineOptions, SlowConnectionsPayloadAndThresholdAreRead) {
  const Options o = Parsed({"-c", "24", "--slow-connections", "2", "--slow-payload=sleep:50", "--stall-threshold",
                            "5ms", "h:1"});
  EXPECT_EQ(o.connections, 24);  // the -c connections stay what they were
  EXPECT_EQ(o.slow_connections, 2);
  EXPECT_EQ(o.slow_payload, "sleep:50");
  EXPECT_EQ(o.stall_threshold_ns, 5 * kMs);
  EXPECT_TRUE(o.perConnectionReport());
}

TEST(BenchHeadOfLineOptions, ZeroSlowConnectionsStillAsksForTheReportAsABaseline) {
  EXPECT_TRUE(Parsed({"--slow-connections", "0", "h:1"}).perConnectionReport());
  EXPECT_TRUE(Parsed({"--stall-threshold", "1s", "h:1"}).perConnectionReport());
}

TEST(BenchHeadOfLineOptions, BadValuesAreRefusedWithTheValueQuoted) {
  EXPECT_NE(ErrorFor({"--slow-connections", "-1", "h:1"}).find("invalid slow connections '-1'"), std::string::npos);
  EXPECT_NE(ErrorFor({"--slow-connections", "two", "h:1"}).find("invalid slow connections 'two'"),
            std::string::npos);
  EXPECT_NE(ErrorFor({"--slow-payload=", "h:1"}).find("invalid slow payload"), std::string::npos);
  EXPECT_NE(ErrorFor({"--stall-threshold", "soon", "h:1"}).find("invalid stall threshold 'soon'"),
            std::string::npos);
}

TEST(BenchHeadOfLineOptions, ALineBreakInTheSlowPayloadIsRefusedOverTheLineProtocol) {
  EXPECT_NE(ErrorFor({"--proto", "line", "--slow-payload", "sleep:1\n", "h:1"}).find("line break"),
            std::string::npos);
  Parsed({"--proto", "frame32", "--slow-payload", "sleep:1\n", "h:1"});  // frame32 carries any bytes
}

TEST(BenchHeadOfLineOptions, UsageNamesTheOptions) {
  for (const char* name : {"--slow-connections", "--slow-payload", "--stall-threshold"}) {
    EXPECT_NE(UsageText().find(name), std::string::npos) << name;
  }
}

// --- the slow workload ---

TEST(BenchSlowWorkload, SendsThePayloadVerbatimEveryTime) {
  SlowWorkload w("sleep:200");
  Rng rng(1);
  std::string request = "leftover from before";
  w.makeRequest(rng, &request);
  EXPECT_EQ(request, "sleep:200");
  w.makeRequest(rng, &request);
  EXPECT_EQ(request, "sleep:200");
}

TEST(BenchSlowWorkload, AcceptsAnEchoOrBuiltinDebugsSleptReply) {
  SlowWorkload w("sleep:200");
  EXPECT_EQ(w.checkReply("sleep:200", "sleep:200"), ReplyCheck::kOk);  // an echo server
  EXPECT_EQ(w.checkReply("sleep:200", "slept:200"), ReplyCheck::kOk);  // builtin:debug
  EXPECT_EQ(w.checkReply("sleep:0200", "slept:200"), ReplyCheck::kOk);  // as the worker's atoi reads it
  EXPECT_EQ(w.checkReply("hello", "hello"), ReplyCheck::kOk);
}

TEST(BenchSlowWorkload, AnyOtherReplyIsAMismatch) {
  SlowWorkload w("sleep:200");
  EXPECT_EQ(w.checkReply("sleep:200", "slept:20"), ReplyCheck::kMismatch);
  EXPECT_EQ(w.checkReply("sleep:200", "slept:2000"), ReplyCheck::kMismatch);
  EXPECT_EQ(w.checkReply("sleep:200", ""), ReplyCheck::kMismatch);
  EXPECT_EQ(w.checkReply("hello", "slept:0"), ReplyCheck::kMismatch);  // "slept" answers only "sleep"
  EXPECT_EQ(w.checkReply("hello", "hellO"), ReplyCheck::kMismatch);
}

// --- per-connection medians and the stalled share ---

TEST(BenchStallSummary, AConnectionsMedianIsItsOwnP50) {
  Histogram h;
  EXPECT_EQ(ConnectionMedian(h), kNoMedian);
  for (int i = 0; i < 9; ++i) h.record(100 * kUs);
  for (int i = 0; i < 2; ++i) h.record(200 * kMs);  // two slow replies do not move the median
  const uint64_t median = ConnectionMedian(h);
  EXPECT_GE(median, 100 * kUs);
  EXPECT_LE(median, 100 * kUs + 100 * kUs / 128);  // the histogram's precision
}

TEST(BenchStallSummary, CountsConnectionsWhoseMedianIsAboveTheThreshold) {
  const std::vector<uint64_t> medians = {400 * kUs, 201 * kMs, 450 * kUs, 200 * kMs, 500 * kUs, 380 * kUs};
  const StallSummary s = SummarizeStalls(medians, 20 * kMs);
  EXPECT_EQ(s.connections, 6);
  EXPECT_EQ(s.stalled, 2);
  EXPECT_EQ(s.silent, 0);
  EXPECT_DOUBLE_EQ(s.share(), 2.0 / 6);
  EXPECT_EQ(s.lowest_median_ns, 380 * kUs);
  EXPECT_EQ(s.highest_median_ns, 201 * kMs);
}

TEST(BenchStallSummary, AMedianEqualToTheThresholdIsNotStalled) {
  EXPECT_EQ(SummarizeStalls({20 * kMs}, 20 * kMs).stalled, 0);
  EXPECT_EQ(SummarizeStalls({20 * kMs + 1}, 20 * kMs).stalled, 1);
}

TEST(BenchStallSummary, AConnectionWithoutAnyReplyIsStalledAndCountedAsSilent) {
  const StallSummary s = SummarizeStalls({kNoMedian, 1 * kMs, kNoMedian}, 20 * kMs);
  EXPECT_EQ(s.connections, 3);
  EXPECT_EQ(s.stalled, 2);
  EXPECT_EQ(s.silent, 2);
  EXPECT_EQ(s.lowest_median_ns, 1 * kMs);  // the silent ones have no median to show
  EXPECT_EQ(s.highest_median_ns, 1 * kMs);
}

TEST(BenchStallSummary, NoConnectionsMeansAZeroShare) {
  const StallSummary s = SummarizeStalls({}, 20 * kMs);
  EXPECT_EQ(s.connections, 0);
  EXPECT_EQ(s.stalled, 0);
  EXPECT_EQ(s.share(), 0);
}

// --- the slow connections' pipeline ---

class BenchSlowPipelineTest : public ::testing::Test {
 protected:
  BenchSlowPipelineTest() {
    plan_.options.pipeline = 4;
    plan_.options.timeout_ns = 1000 * kMs;
    plan_.deadline_ns = kNoDeadline;
  }

  RunPlan plan_;
  SlowWorkload slow_{"sleep:200"};
  Rng rng_{7};
  Stats stats_;
};

TEST_F(BenchSlowPipelineTest, KeepsOneRequestInFlightWhateverThePipelineDepth) {
  RequestPipeline p(plan_, slow_, rng_, stats_, 0, 0, 4, Traffic::kSlow);
  InFlight* r = p.issue(1);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->payload, "sleep:200");
  r->sent_ns = 1;
  EXPECT_EQ(p.issue(1), nullptr);
  EXPECT_EQ(p.complete(0, "slept:200", 13, 200 * kMs), ReplyCheck::kOk);
  EXPECT_NE(p.issue(200 * kMs), nullptr);  // and the next one at once: a closed loop
  EXPECT_EQ(stats_.requests, 1u);
}

TEST_F(BenchSlowPipelineTest, IgnoresTheOpenLoopSchedule) {
  // -R applies to the -c connections; a slow one sends as soon as it may.
  RequestPipeline p(plan_, slow_, rng_, stats_, /*interval_ns=*/kMs, /*first_ns=*/50 * kMs, 4, Traffic::kSlow);
  EXPECT_NE(p.issue(1), nullptr);
  EXPECT_EQ(p.nextDue(), 0u);
}

TEST_F(BenchSlowPipelineTest, TakesNothingFromTheRequestBudgetButStopsWhenItIsSpent) {
  plan_.options.requests = 1;
  plan_.budget.store(1);
  RequestPipeline slow(plan_, slow_, rng_, stats_, 0, 0, 4, Traffic::kSlow);
  InFlight* r = slow.issue(1);
  ASSERT_NE(r, nullptr);
  r->sent_ns = 1;
  EXPECT_EQ(plan_.budget.load(), 1);

  std::unique_ptr<Workload> echo = WorkloadRegistry::Instance().make("echo", WorkloadParams{});
  Stats load_stats;
  RequestPipeline load(plan_, *echo, rng_, load_stats, 0, 0, 4);
  ASSERT_NE(load.issue(1), nullptr);
  EXPECT_EQ(plan_.budget.load(), 0);

  slow.complete(0, "slept:200", 13, 200 * kMs);
  EXPECT_EQ(slow.issue(200 * kMs), nullptr);
  EXPECT_TRUE(slow.finished());
}

TEST(BenchConnectionLatency, ALoadPipelineAlsoRecordsIntoItsConnectionsHistogram) {
  RunPlan plan;
  plan.options.pipeline = 1;
  plan.deadline_ns = kNoDeadline;
  plan.warmup_end_ns = 10 * kMs;
  std::unique_ptr<Workload> echo = WorkloadRegistry::Instance().make("echo", WorkloadParams{});
  Rng rng(3);
  Stats stats;
  Histogram own;
  RequestPipeline p(plan, *echo, rng, stats, 0, 0, 4, Traffic::kLoad, &own);

  InFlight* r = p.issue(5 * kMs);  // in the warm-up: not measured, not in either histogram
  ASSERT_NE(r, nullptr);
  r->sent_ns = 5 * kMs;
  std::string payload = r->payload;
  p.complete(0, payload, payload.size() + 4, 11 * kMs);
  r = p.issue(11 * kMs);
  ASSERT_NE(r, nullptr);
  r->sent_ns = 11 * kMs;
  payload = r->payload;
  p.complete(0, payload, payload.size() + 4, 14 * kMs);

  EXPECT_EQ(own.count(), 1u);
  EXPECT_EQ(own.max(), 3 * kMs);
  EXPECT_EQ(stats.latency.count(), 1u);
}

// --- the report ---

RunResult HeadOfLineRun() {
  RunResult r;
  r.seconds = 5;
  r.stats.requests = 1000;
  for (int i = 0; i < 1000; ++i) r.stats.latency.record(500 * kUs);
  r.slow.requests = 48;
  for (int i = 0; i < 48; ++i) r.slow.latency.record(201 * kMs);
  r.connection_medians_ns = {500 * kUs, 201 * kMs, 450 * kUs, 200 * kMs, 480 * kUs, 520 * kUs, 470 * kUs, 490 * kUs};
  return r;
}

TEST(BenchHeadOfLineReport, TextAddsTheSlowConnectionsAndTheStalledShare) {
  const Options o = Parsed({"-c", "8", "--slow-connections", "2", "h:1"});
  const std::string text = FormatReport(o, HeadOfLineRun());
  EXPECT_NE(text.find("+ 2 connections looping \"sleep:200\""), std::string::npos) << text;
  EXPECT_NE(text.find("Slow       48 requests, p50 "), std::string::npos) << text;
  EXPECT_NE(text.find("Stalled    2/8 connections (25.0%) with a median latency > 20.00ms"), std::string::npos)
      << text;
}

TEST(BenchHeadOfLineReport, ABaselineRunHasTheStalledLineButNoSlowLine) {
  const Options o = Parsed({"-c", "8", "--slow-connections", "0", "h:1"});
  RunResult r = HeadOfLineRun();
  r.slow = Stats();
  r.connection_medians_ns = std::vector<uint64_t>(8, 450 * kUs);
  const std::string text = FormatReport(o, r);
  EXPECT_EQ(text.find("Slow "), std::string::npos) << text;
  EXPECT_EQ(text.find("looping"), std::string::npos) << text;
  EXPECT_NE(text.find("Stalled    0/8 connections (0.0%)"), std::string::npos) << text;
}

TEST(BenchHeadOfLineReport, WithoutTheOptionsTheReportIsAsBefore) {
  const Options plain = Parsed({"-c", "8", "h:1"});
  RunResult r = HeadOfLineRun();
  r.slow = Stats();
  r.connection_medians_ns.clear();
  const std::string text = FormatReport(plain, r);
  EXPECT_EQ(text.find("Stalled"), std::string::npos) << text;
  EXPECT_EQ(text.find("Slow"), std::string::npos) << text;
  const std::string json = FormatJson(plain, r);
  EXPECT_EQ(json.find("head_of_line"), std::string::npos) << json;
  EXPECT_EQ(json.substr(json.size() - 6), "  }\n}\n");
}

TEST(BenchHeadOfLineReport, JsonPutsItsFieldsLastSoTheFirstP50StaysTheLoads) {
  const Options o = Parsed({"-c", "8", "--slow-connections", "2", "h:1"});
  RunResult r = HeadOfLineRun();
  r.connection_medians_ns[7] = kNoMedian;
  const std::string json = FormatJson(o, r);
  const size_t block = json.find("\"head_of_line\": {");
  ASSERT_NE(block, std::string::npos) << json;
  EXPECT_GT(block, json.find("\"errors\": {")) << json;
  EXPECT_LT(json.find("\"p50\": "), block) << json;
  EXPECT_EQ(json.find("\"p50\": ", block), std::string::npos) << json;  // no second "p50" to mistake
  EXPECT_EQ(json.find("\"requests\": ", block), std::string::npos) << json;
  for (const char* field : {"\"slow_connections\": 2,", "\"slow_payload\": \"sleep:200\",", "\"slow_requests\": 48,",
                            "\"slow_errors\": 0,", "\"stall_threshold_us\": 20000.000,", "\"judged_connections\": 8,",
                            "\"stalled_connections\": 3,", "\"stalled_share\": 0.375000,",
                            "\"silent_connections\": 1,", "\"slow_p50_us\": ", "\"slow_max_us\": "}) {
    EXPECT_NE(json.find(field, block), std::string::npos) << field << "\n" << json;
  }
  EXPECT_NE(json.find("\"connection_medians_us\": [", block), std::string::npos) << json;
  EXPECT_NE(json.find(", null]"), std::string::npos) << json;  // the silent connection
  const std::string end = "]\n  }\n}\n";
  EXPECT_EQ(json.substr(json.size() - end.size()), end) << json;
}

TEST(BenchHeadOfLineReport, SlowConnectionErrorsFailTheRun) {
  // The runner folds the slow connections' errors into stats; the exit status
  // follows them.
  RunResult r = HeadOfLineRun();
  r.slow.addError(ErrorKind::kTimeout);
  r.stats.mergeErrors(r.slow);
  EXPECT_EQ(ExitCodeFor(r), 1);
  const std::string text = FormatReport(Parsed({"--slow-connections", "2", "h:1"}), r);
  EXPECT_NE(text.find("Errors     1  (connect 0, closed 0, timeout 1, mismatch 0, error 0)"), std::string::npos) << text;
  EXPECT_NE(text.find(", errors 1\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace solar::bench
