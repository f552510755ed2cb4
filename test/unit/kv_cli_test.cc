// solar-cli's command line (tools/cli/cli_command.h): what each command sends,
// what it prints, and the exit codes scripts rely on.
#include "../../tools/cli/cli_command.h"

#include <gtest/gtest.h>

namespace solar::cli {
namespace {

CliParse Parse(std::vector<std::string> args, const std::string& env = "") { return ParseCli(args, env); }

TEST(KvCli, GetPutDelAndScanBuildTheirRequests) {
  CliParse p = Parse({"get", "k"});
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_EQ(p.command.request.get().key(), "k");
  EXPECT_EQ(p.command.server, "127.0.0.1:7700");

  p = Parse({"-s", "10.0.0.1:9", "put", "k", "v"});
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_EQ(p.command.server, "10.0.0.1:9");
  EXPECT_EQ(p.command.request.put().value(), "v");

  p = Parse({"put", "k", "-"});
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_TRUE(p.command.value_from_stdin);

  p = Parse({"del", "k"}, "db:1");
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_TRUE(p.command.request.has_del());
  EXPECT_EQ(p.command.server, "db:1");  // $SOLAR_SERVER

  p = Parse({"scan", "user:", "--limit", "5", "--start-after", "user:3", "--keys-only", "--udp"});
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_EQ(p.command.request.scan().prefix(), "user:");
  EXPECT_EQ(p.command.request.scan().limit(), 5u);
  EXPECT_EQ(p.command.request.scan().start_after(), "user:3");
  EXPECT_TRUE(p.command.request.scan().keys_only());
  EXPECT_TRUE(p.command.udp);

  p = Parse({"scan"});
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_EQ(p.command.request.scan().prefix(), "");

  p = Parse({"get", "--", "-dash-key"});
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_EQ(p.command.request.get().key(), "-dash-key");
}

TEST(KvCli, MistakesAreUsageErrorsWithAReason) {
  EXPECT_EQ(Parse({}).error, "missing command: get, put, del or scan");
  EXPECT_EQ(Parse({"fetch", "k"}).error, "unknown command 'fetch': get, put, del or scan");
  EXPECT_EQ(Parse({"put", "k"}).error, "put takes KEY VALUE");
  EXPECT_EQ(Parse({"get"}).error, "get takes one KEY");
  EXPECT_EQ(Parse({"get", "k", "--limit", "3"}).error, "--limit, --start-after and --keys-only go with scan");
  EXPECT_EQ(Parse({"--timeout", "0", "get", "k"}).error, "invalid timeout '0': milliseconds, 1..3600000");
  EXPECT_EQ(Parse({"--bogus"}).error, "unknown option '--bogus'");
  EXPECT_EQ(Parse({"get", "k", "-s"}).error, "option -s needs a value");
}

TEST(KvCli, OutputAndExitCodesFollowTheStatus) {
  CliCommand get = Parse({"get", "k"}).command;
  kv::KvResponse r;
  r.set_status(kv::OK);
  r.set_value("hello");
  CliOutput o = FormatReply(get, r);
  EXPECT_EQ(o.out, "hello\n");
  EXPECT_EQ(o.code, kExitOk);
  get.raw = true;
  EXPECT_EQ(FormatReply(get, r).out, "hello");

  r.Clear();
  r.set_status(kv::NOT_FOUND);
  r.set_error("key not found");
  o = FormatReply(get, r);
  EXPECT_EQ(o.code, kExitNotFound);
  EXPECT_EQ(o.err, "solar-cli: NOT_FOUND: key not found\n");
  EXPECT_EQ(o.out, "");

  r.set_status(kv::UNAVAILABLE);
  r.set_error("database unavailable");
  EXPECT_EQ(FormatReply(get, r).code, kExitError);

  CliCommand put = Parse({"put", "k", "v"}).command;
  r.Clear();
  r.set_status(kv::OK);
  o = FormatReply(put, r);
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(o.code, kExitOk);
}

TEST(KvCli, ScanPrintsOneEscapedLinePerEntryAndHowToContinue) {
  CliCommand scan = Parse({"scan", "k"}).command;
  kv::KvResponse r;
  r.set_status(kv::OK);
  kv::Entry* e = r.add_entries();
  e->set_key("k1");
  e->set_value("a\tb\n");
  e = r.add_entries();
  e->set_key(std::string("k\0\\", 3));
  e->set_value("v");
  r.set_more(true);
  CliOutput o = FormatReply(scan, r);
  EXPECT_EQ(o.out, "k1\ta\\x09b\\x0a\nk\\x00\\\\\tv\n");
  EXPECT_EQ(o.err, "solar-cli: more keys follow; continue with --start-after 'k\\x00\\\\'\n");
}

TEST(KvCli, EscapeBytesKeepsPrintableAsciiOnly) {
  EXPECT_EQ(EscapeBytes("plain text!"), "plain text!");
  EXPECT_EQ(EscapeBytes("\xc3\xa9"), "\\xc3\\xa9");
}

}  // namespace
}  // namespace solar::cli
