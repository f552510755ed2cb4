// solar-bench's report: errors counted by kind in the text and the JSON, and
// the exit status that scripts rely on.
#include <string>

#include <gtest/gtest.h>

#include "../../tools/bench/options.h"
#include "../../tools/bench/report.h"

namespace solar::bench {
namespace {

Options SomeOptions() {
  ParseResult r = ParseOptions(std::vector<std::string>{"-c", "4", "-s", "50", "127.0.0.1:7700"});
  EXPECT_TRUE(r.ok()) << r.error;
  return r.options;
}

RunResult CleanRun() {
  RunResult r;
  r.seconds = 2;
  r.stats.requests = 1000;
  r.stats.bytes_sent = 54'000;
  r.stats.bytes_received = 54'000;
  for (int i = 1; i <= 1000; ++i) r.stats.latency.record(static_cast<uint64_t>(i) * 1000);  // 1us..1ms
  return r;
}

TEST(BenchReport, ErrorsAreCountedByKindInTheText) {
  RunResult r = CleanRun();
  r.stats.addError(ErrorKind::kConnect, 1);
  r.stats.addError(ErrorKind::kClosed, 2);
  r.stats.addError(ErrorKind::kMismatch, 3);
  r.stats.addError(ErrorKind::kServer, 4);
  const std::string text = FormatReport(SomeOptions(), r);
  EXPECT_NE(text.find("Errors     10  (connect 1, closed 2, timeout 0, mismatch 3, error 4)"), std::string::npos)
      << text;
}

TEST(BenchReport, ErrorsAreCountedByKindInTheJson) {
  RunResult r = CleanRun();
  r.stats.addError(ErrorKind::kTimeout, 7);
  r.stats.addError(ErrorKind::kMismatch, 1);
  const std::string json = FormatJson(SomeOptions(), r);
  EXPECT_NE(json.find("\"total\": 8"), std::string::npos) << json;
  EXPECT_NE(json.find("\"connect\": 0"), std::string::npos) << json;
  EXPECT_NE(json.find("\"closed\": 0"), std::string::npos) << json;
  EXPECT_NE(json.find("\"timeout\": 7"), std::string::npos) << json;
  EXPECT_NE(json.find("\"mismatch\": 1"), std::string::npos) << json;
}

TEST(BenchReport, JsonCarriesRatesAndLatencyPercentilesInMicroseconds) {
  const std::string json = FormatJson(SomeOptions(), CleanRun());
  EXPECT_NE(json.find("\"requests\": 1000,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"requests_per_second\": 500.000,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"megabytes_per_second\": 0.054000,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"min\": 1.000,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"max\": 1000.000,"), std::string::npos) << json;
  for (const char* key : {"\"p50\": ", "\"p90\": ", "\"p99\": ", "\"p99_9\": ", "\"mean\": "}) {
    EXPECT_NE(json.find(key), std::string::npos) << key;
  }
  EXPECT_EQ(json.front(), '{');
  EXPECT_EQ(json.substr(json.size() - 2), "}\n");
}

TEST(BenchReport, TextShowsRequestsRateAndPercentiles) {
  const std::string text = FormatReport(SomeOptions(), CleanRun());
  EXPECT_NE(text.find("Requests   1,000  (500/s)"), std::string::npos) << text;
  EXPECT_NE(text.find("p99.9"), std::string::npos) << text;
  EXPECT_NE(text.find("1.00ms"), std::string::npos) << text;  // the max
  EXPECT_NE(text.find("Errors     0  (connect 0"), std::string::npos) << text;
}

TEST(BenchReport, ExitCodeIsZeroOnlyWhenRequestsCompletedAndNoneFailed) {
  RunResult r = CleanRun();
  EXPECT_EQ(ExitCodeFor(r), 0);
  r.stats.addError(ErrorKind::kMismatch);
  EXPECT_EQ(ExitCodeFor(r), 1);
  RunResult nothing;
  EXPECT_EQ(ExitCodeFor(nothing), 1);  // no request completed: not a pass
}

TEST(BenchReport, ErrorsDuringWarmUpStillFailTheRun) {
  // Errors are counted for the whole run; only latency waits for the warm-up.
  RunResult r = CleanRun();
  r.warmup_ns = 1'000'000'000;
  r.stats.addError(ErrorKind::kConnect);
  EXPECT_EQ(ExitCodeFor(r), 1);
}

TEST(BenchReport, LatenciesPickReadableUnits) {
  EXPECT_EQ(FormatLatency(850), "850ns");
  EXPECT_EQ(FormatLatency(45'200), "45.2us");
  EXPECT_EQ(FormatLatency(1'204'000), "1.20ms");
  EXPECT_EQ(FormatLatency(3'050'000'000), "3.05s");
  EXPECT_EQ(WithCommas(1234567), "1,234,567");
  EXPECT_EQ(WithCommas(999), "999");
}

TEST(BenchReport, ProgressLineShowsRateP99AndErrors) {
  RunResult r = CleanRun();
  r.stats.addError(ErrorKind::kClosed, 2);
  const std::string line = FormatProgress(3, false, 12345.4, r.stats);
  EXPECT_NE(line.find("12,345 req/s"), std::string::npos) << line;
  EXPECT_NE(line.find("p99"), std::string::npos) << line;
  EXPECT_NE(line.find("errors 2"), std::string::npos) << line;
  EXPECT_EQ(line.back(), '\n');
}

}  // namespace
}  // namespace solar::bench
