// solar-bench's command line: what each option sets, and that every bad input
// is refused with a message that names it.
#include <string>
#include <vector>

#include <unistd.h>

#include <cstdlib>

#include <gtest/gtest.h>

#include "../../tools/bench/options.h"

namespace solar::bench {
namespace {

ParseResult Parse(std::vector<std::string> args) { return ParseOptions(args); }

// The error for `args`, which must be refused.
std::string ErrorFor(std::vector<std::string> args) {
  const ParseResult r = Parse(args);
  EXPECT_FALSE(r.ok());
  return r.error;
}

TEST(BenchOptions, DefaultsAreTenConnectionsOneThreadTenSecondsClosedLoopFrame32Echo) {
  const ParseResult r = Parse({"127.0.0.1:7700"});
  ASSERT_TRUE(r.ok()) << r.error;
  const Options& o = r.options;
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, "7700");
  EXPECT_EQ(o.connections, 10);
  EXPECT_EQ(o.threads, 1);
  EXPECT_EQ(o.pipeline, 1);
  EXPECT_EQ(o.size_min, 50u);
  EXPECT_EQ(o.size_max, 50u);
  EXPECT_EQ(o.duration_ns, 10'000'000'000u);
  EXPECT_TRUE(o.hasDeadline());
  EXPECT_EQ(o.requests, 0u);
  EXPECT_EQ(o.warmup_ns, 0u);
  EXPECT_EQ(o.rate, 0);
  EXPECT_EQ(o.proto, Proto::kFrame32);
  EXPECT_EQ(o.workload, "echo");
  EXPECT_EQ(o.timeout_ns, 5'000'000'000u);
  EXPECT_EQ(o.json_path, "");
}

TEST(BenchOptions, ShortOptionsTakeSeparateOrGluedValues) {
  const ParseResult r = Parse({"-c", "100", "-t2", "-P", "8", "-s", "10-1500", "-d", "3s", "-w500ms", "-R", "20k",
                               "localhost:9000"});
  ASSERT_TRUE(r.ok()) << r.error;
  const Options& o = r.options;
  EXPECT_EQ(o.connections, 100);
  EXPECT_EQ(o.threads, 2);
  EXPECT_EQ(o.pipeline, 8);
  EXPECT_EQ(o.size_min, 10u);
  EXPECT_EQ(o.size_max, 1500u);
  EXPECT_EQ(o.duration_ns, 3'000'000'000u);
  EXPECT_EQ(o.warmup_ns, 500'000'000u);
  EXPECT_EQ(o.rate, 20'000);
  EXPECT_EQ(o.host, "localhost");
}

TEST(BenchOptions, LongOptionsTakeSeparateOrEqualsValues) {
  const ParseResult r = Parse({"--connections=4", "--threads", "4", "--pipeline=2", "--size", "1500", "--requests",
                               "1M", "--warmup=1s", "--proto", "udp", "--workload=echo", "--timeout", "250ms",
                               "--json", "out.json", "--seed=42", "[::1]:7700"});
  ASSERT_TRUE(r.ok()) << r.error;
  const Options& o = r.options;
  EXPECT_EQ(o.connections, 4);
  EXPECT_EQ(o.threads, 4);
  EXPECT_EQ(o.pipeline, 2);
  EXPECT_EQ(o.size_min, 1500u);
  EXPECT_EQ(o.size_max, 1500u);
  EXPECT_EQ(o.requests, 1'000'000u);
  EXPECT_FALSE(o.hasDeadline());  // -n alone: run until the requests are done
  EXPECT_EQ(o.proto, Proto::kUdp);
  EXPECT_EQ(o.timeout_ns, 250'000'000u);
  EXPECT_EQ(o.json_path, "out.json");
  EXPECT_EQ(o.seed, 42u);
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, "7700");
}

TEST(BenchOptions, RequestsAndDurationTogetherStopAtWhicheverComesFirst) {
  const ParseResult r = Parse({"-n", "1000", "-d", "2s", "127.0.0.1:1"});
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_TRUE(r.options.hasDeadline());
  EXPECT_EQ(r.options.requests, 1000u);
}

TEST(BenchOptions, EveryProtocolNameIsAccepted) {
  EXPECT_EQ(Parse({"--proto", "frame32", "h:1"}).options.proto, Proto::kFrame32);
  EXPECT_EQ(Parse({"--proto", "line", "h:1"}).options.proto, Proto::kLine);
  EXPECT_EQ(Parse({"--proto", "raw", "h:1"}).options.proto, Proto::kRaw);
  EXPECT_EQ(Parse({"--proto", "udp", "h:1"}).options.proto, Proto::kUdp);
}

TEST(BenchOptions, HelpNeedsNoTarget) {
  const ParseResult r = Parse({"-h"});
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_TRUE(r.options.help);
  EXPECT_NE(UsageText().find("--rate"), std::string::npos);
}

TEST(BenchOptions, VersionNeedsNoTarget) {
  const ParseResult r = Parse({"--version"});
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_TRUE(r.options.version);
  EXPECT_NE(UsageText().find("--version"), std::string::npos);
}

TEST(BenchOptions, OptionsMayFollowTheTargetAndDoubleDashEndsThem) {
  ParseResult r = Parse({"h:1", "-c", "4", "--pipeline=3"});
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.options.target, "h:1");
  EXPECT_EQ(r.options.connections, 4);
  EXPECT_EQ(r.options.pipeline, 3);
  r = Parse({"-c", "2", "--", "h:1"});
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.options.target, "h:1");
  EXPECT_NE(ErrorFor({"--", "-c", "h:1"}).find("more than one target"), std::string::npos);
}

TEST(BenchOptions, AUniquePrefixOfALongOptionIsEnough) {
  const ParseResult r = Parse({"--conn", "6", "--pipe=2", "h:1"});
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.options.connections, 6);
  EXPECT_EQ(r.options.pipeline, 2);
  EXPECT_EQ(ErrorFor({"--kv", "1", "h:1"}), "unknown option '--kv'");  // --kv-get-ratio or --kv-keys?
}

TEST(BenchOptions, EachParseStartsAfresh) {
  // getopt keeps its scan in globals; an error in the middle of "-xc" must
  // not leak into the next parse.
  EXPECT_EQ(ErrorFor({"-xc", "5", "h:1"}), "unknown option '-x'");
  const ParseResult r = Parse({"-c", "3", "h:1"});
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.options.connections, 3);
  EXPECT_EQ(ErrorFor({"h:1", "-hc"}), "option '-c' needs a value");  // -h, then -c without its value
}

TEST(BenchOptions, UnknownOptionIsNamed) {
  EXPECT_EQ(ErrorFor({"--frobnicate", "h:1"}), "unknown option '--frobnicate'");
  EXPECT_EQ(ErrorFor({"-x", "h:1"}), "unknown option '-x'");
}

TEST(BenchOptions, OptionWithoutItsValueIsRefused) {
  EXPECT_EQ(ErrorFor({"h:1", "-c"}), "option '-c' needs a value");
  EXPECT_EQ(ErrorFor({"h:1", "--duration"}), "option '--duration' needs a value");
  EXPECT_EQ(ErrorFor({"--help=yes"}), "option '--help=yes' takes no value");
}

TEST(BenchOptions, BadNumbersAreRefusedWithTheValueQuoted) {
  EXPECT_NE(ErrorFor({"-c", "ten", "h:1"}).find("invalid connections 'ten'"), std::string::npos);
  EXPECT_NE(ErrorFor({"-c", "0", "h:1"}).find("invalid connections '0'"), std::string::npos);
  EXPECT_NE(ErrorFor({"-c", "-5", "h:1"}).find("connections"), std::string::npos);
  EXPECT_NE(ErrorFor({"-c", "2.5", "h:1"}).find("connections"), std::string::npos);
  EXPECT_NE(ErrorFor({"-P", "0", "h:1"}).find("invalid pipeline depth '0'"), std::string::npos);
  EXPECT_NE(ErrorFor({"-n", "0", "h:1"}).find("invalid requests '0'"), std::string::npos);
  EXPECT_NE(ErrorFor({"-R", "0", "h:1"}).find("invalid rate '0'"), std::string::npos);
  EXPECT_NE(ErrorFor({"-R", "fast", "h:1"}).find("invalid rate 'fast'"), std::string::npos);
  EXPECT_NE(ErrorFor({"--seed", "x", "h:1"}).find("invalid seed 'x'"), std::string::npos);
}

TEST(BenchOptions, BadDurationsAreRefused) {
  EXPECT_NE(ErrorFor({"-d", "10 s", "h:1"}).find("invalid duration '10 s'"), std::string::npos);
  EXPECT_NE(ErrorFor({"-d", "0", "h:1"}).find("invalid duration '0'"), std::string::npos);
  EXPECT_NE(ErrorFor({"-d", "3days", "h:1"}).find("invalid duration"), std::string::npos);
  EXPECT_NE(ErrorFor({"--timeout", "0s", "h:1"}).find("invalid timeout"), std::string::npos);
  EXPECT_NE(ErrorFor({"-w", "soon", "h:1"}).find("invalid warm-up 'soon'"), std::string::npos);
}

TEST(BenchOptions, BadSizesAreRefused) {
  EXPECT_NE(ErrorFor({"-s", "0", "h:1"}).find("invalid size '0'"), std::string::npos);
  EXPECT_NE(ErrorFor({"-s", "1500-50", "h:1"}).find("invalid size '1500-50'"), std::string::npos);
  EXPECT_NE(ErrorFor({"-s", "1k", "h:1"}).find("invalid size"), std::string::npos);
  EXPECT_NE(ErrorFor({"-s", "10-", "h:1"}).find("invalid size"), std::string::npos);
  EXPECT_NE(ErrorFor({"--proto", "udp", "-s", "65508", "h:1"}).find("one UDP datagram"), std::string::npos);
  EXPECT_TRUE(Parse({"--proto", "udp", "-s", "65507", "h:1"}).ok());
}

TEST(BenchOptions, UnknownProtocolAndWorkloadListTheChoices) {
  EXPECT_NE(ErrorFor({"--proto", "http", "h:1"}).find("frame32, line, raw or udp"), std::string::npos);
  const std::string error = ErrorFor({"--workload", "nope", "h:1"});
  EXPECT_NE(error.find("invalid workload 'nope'"), std::string::npos);
  EXPECT_NE(error.find("echo"), std::string::npos);
}

TEST(BenchOptions, MoreThreadsThanConnectionsIsRefused) {
  EXPECT_EQ(ErrorFor({"-c", "2", "-t", "3", "h:1"}), "threads (3) must not exceed connections (2)");
}

TEST(BenchOptions, TargetMustBeOneHostPort) {
  EXPECT_EQ(ErrorFor({"-c", "5"}), "missing target HOST:PORT");
  EXPECT_NE(ErrorFor({"a:1", "b:2"}).find("more than one target"), std::string::npos);
  for (const char* bad : {"localhost", "host:", ":80", "host:0", "host:65536", "host:http", "::1:80", "[::1]80", "[::1]"}) {
    EXPECT_NE(ErrorFor({bad}).find("invalid target"), std::string::npos) << bad;
  }
}

TEST(BenchOptions, DurationsTakeUnits) {
  uint64_t ns = 0;
  ASSERT_TRUE(ParseDuration("10", &ns));
  EXPECT_EQ(ns, 10'000'000'000u);
  ASSERT_TRUE(ParseDuration("1.5s", &ns));
  EXPECT_EQ(ns, 1'500'000'000u);
  ASSERT_TRUE(ParseDuration("250ms", &ns));
  EXPECT_EQ(ns, 250'000'000u);
  ASSERT_TRUE(ParseDuration("100us", &ns));
  EXPECT_EQ(ns, 100'000u);
  ASSERT_TRUE(ParseDuration("2m", &ns));
  EXPECT_EQ(ns, 120'000'000'000u);
  EXPECT_FALSE(ParseDuration("", &ns));
  EXPECT_FALSE(ParseDuration("s", &ns));
  EXPECT_FALSE(ParseDuration("-1s", &ns));
  EXPECT_FALSE(ParseDuration("5 ms", &ns));
}

TEST(BenchOptions, CountsTakeDecimalSuffixes) {
  double v = 0;
  ASSERT_TRUE(ParseCount("2.5k", &v));
  EXPECT_EQ(v, 2500);
  ASSERT_TRUE(ParseCount("3M", &v));
  EXPECT_EQ(v, 3'000'000);
  EXPECT_FALSE(ParseCount("3m", &v));  // m would read as milli or mega: refuse it
  EXPECT_FALSE(ParseCount("k", &v));
}

TEST(BenchOptions, AKvLedgerCheckSendsOneGetPerKeyAndNeedsTheKvWorkload) {
  char path[] = "/tmp/solar-ledger-options-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "ledger:0000000000000001\nledger:0000000000000002\n", 48), 48);
  close(fd);
  const ParseResult r = Parse({"--workload", "kv", "--kv-check-ledger", path, "127.0.0.1:7700"});
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.options.requests, 2u);
  ASSERT_NE(r.options.kv_check_keys, nullptr);
  EXPECT_EQ((*r.options.kv_check_keys)[1], "ledger:0000000000000002");
  EXPECT_EQ(Parse({"--kv-check-ledger", path, "127.0.0.1:7700"}).error,
            "--kv-ledger and --kv-check-ledger need --workload kv");
  EXPECT_EQ(Parse({"--workload", "kv", "--kv-check-ledger", path, "--kv-ledger", path, "127.0.0.1:7700"}).error,
            "--kv-ledger and --kv-check-ledger do not go together");
  unlink(path);
  EXPECT_EQ(Parse({"--workload", "kv", "--kv-check-ledger", path, "127.0.0.1:7700"}).error.rfind(
                "kv check ledger: cannot read", 0),
            0u);
  EXPECT_EQ(Parse({"--workload", "kv", "--kv-ledger", "/nonexistent-dir/ledger", "127.0.0.1:7700"}).error.rfind(
                "kv ledger: cannot append to", 0),
            0u);
}

}  // namespace
}  // namespace solar::bench
