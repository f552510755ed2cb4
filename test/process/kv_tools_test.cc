// The KV tools against a real server: solar-cli's commands, output and exit
// codes as a script sees them, and solar-bench's kv workload checking every
// reply. The binaries are $SOLAR_CLI and $SOLAR_BENCH (else build/...).
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "kv_test_client.h"
#include "server_harness.h"

namespace solar::testing {
namespace {

std::string CliBin() {
  const char* e = std::getenv("SOLAR_CLI");
  return e ? e : "build/solar-cli";
}

struct CmdRun {
  int code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `cmd` with sh; stdin from `input`.
CmdRun Shell(const std::string& cmd, const std::string& input = "") {
  char tmpl[] = "/tmp/solar-kv-tools-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  std::ofstream(dir + "/in") << input;
  const std::string full = cmd + " <" + dir + "/in >" + dir + "/out 2>" + dir + "/err";
  const int st = std::system(full.c_str());
  CmdRun r;
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  std::stringstream o, e;
  o << std::ifstream(dir + "/out").rdbuf();
  e << std::ifstream(dir + "/err").rdbuf();
  r.out = o.str();
  r.err = e.str();
  [[maybe_unused]] int rc = std::system(("rm -rf '" + dir + "'").c_str());
  return r;
}

class KvTools : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerHarness>("workers: 2\nudp { listen: \"127.0.0.1:0\" workers: 1 }\n" +
                                              KvWorker({{"sqlite_path", data_.sqlitePath()}}));
    ASSERT_TRUE(server_->start()) << server_->log();
    target_ = "127.0.0.1:" + std::to_string(server_->port());
  }
  CmdRun cli(const std::string& args, const std::string& input = "") {
    return Shell(CliBin() + " -s " + target_ + " " + args, input);
  }

  KvDataDir data_;
  std::unique_ptr<ServerHarness> server_;
  std::string target_;
};

TEST_F(KvTools, CliPutGetScanDelWithScriptFriendlyOutputAndExitCodes) {
  CmdRun r = cli("put greeting hello");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  r = cli("get greeting");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "hello\n");
  r = cli("--raw get greeting");
  EXPECT_EQ(r.out, "hello");

  r = cli("put blob -", std::string("line1\nline2\t\x01", 13));  // the value from stdin
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(cli("put greeting2 hi").code, 0);
  r = cli("scan greet");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "greeting\thello\ngreeting2\thi\n");
  r = cli("scan --keys-only");
  EXPECT_EQ(r.out, "blob\ngreeting\ngreeting2\n");
  r = cli("scan --limit 1 greet");
  EXPECT_EQ(r.out, "greeting\thello\n");
  EXPECT_NE(r.err.find("--start-after 'greeting'"), std::string::npos) << r.err;
  r = cli("scan blob");
  EXPECT_EQ(r.out, "blob\tline1\\x0aline2\\x09\\x01\n");

  r = cli("del greeting");
  EXPECT_EQ(r.code, 0) << r.err;
  r = cli("get greeting");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "solar-cli: NOT_FOUND: key not found\n");
  EXPECT_EQ(cli("del greeting").code, 1);

  r = cli("get");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("get takes one KEY"), std::string::npos) << r.err;
}

TEST_F(KvTools, CliReportsServerErrorsAndUnreachableServers) {
  CmdRun r = cli("put big -", std::string(2 << 20, 'x'));  // over the 1 MiB default value limit
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("TOO_LARGE: value is 2097152 bytes; the limit is 1048576 bytes"), std::string::npos) << r.err;

  r = Shell(CliBin() + " -s 127.0.0.1:1 --timeout 1000 get k");
  EXPECT_EQ(r.code, 4);
  EXPECT_NE(r.err.find("127.0.0.1:1"), std::string::npos) << r.err;
}

TEST_F(KvTools, CliOverUdp) {
  const int udp = UdpPortFromLog(server_->log());
  ASSERT_GT(udp, 0);
  ASSERT_EQ(cli("put u v").code, 0);
  CmdRun r = Shell(CliBin() + " --udp -s 127.0.0.1:" + std::to_string(udp) + " get u");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "v\n");
}

TEST_F(KvTools, BenchKvWorkloadChecksEveryReplyWithoutErrors) {
  CmdRun r = Shell(BenchBin() + " --workload kv --kv-get-ratio 0.5 --kv-keys 200 -s 64 -c 8 -t 2 -d 1s " + target_);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  // Values written by the bench are the bench's: a get after it must match.
  CmdRun get = cli("--raw get bench:0000000007");
  EXPECT_EQ(get.code, 0) << get.err;  // 1 s of 50% puts over 200 keys writes them all
  EXPECT_EQ(get.out.size(), 64u);
}

}  // namespace
}  // namespace solar::testing

namespace solar::testing {
namespace {

// The DSN's password lives in the config: the file can stay root-only, since
// workers get their settings from the master (WorkerInfo::settings) instead
// of re-reading the file.
TEST(KvConfig, RootOnlyConfigFileStillServesKv) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for a file the workers cannot read";
  KvDataDir data;
  ServerHarness server(KvWorker({{"sqlite_path", data.sqlitePath()}}));
  server.setConfigMode(0600);
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  ASSERT_GE(fd, 0);
  EXPECT_EQ(KvCall(fd, KvPut("secret-config", "works")).status(), kv::OK);
  kv::KvResponse got = KvCall(fd, KvGet("secret-config"));
  EXPECT_EQ(got.status(), kv::OK);
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST(KvConfig, CheckRefusesBadKvSettingsBeforeAnyWorkerStarts) {
  ServerHarness server(KvWorker({{"backend", "postgres"}}));
  EXPECT_FALSE(server.start(std::chrono::seconds(5)));
  EXPECT_NE(server.log().find("builtin:kv refuses the configuration"), std::string::npos) << server.log();
  EXPECT_NE(server.log().find("settings.postgres_dsn is required"), std::string::npos) << server.log();
  EXPECT_EQ(server.wait(std::chrono::seconds(5)), 1);
}

TEST(KvConfig, AnUnknownSettingIsRefusedWithTheKnownOnesListed) {
  ServerHarness server(KvWorker({{"postgres_dns", "host=db"}}));
  EXPECT_FALSE(server.start(std::chrono::seconds(5)));
  EXPECT_NE(server.log().find("builtin:kv refuses the configuration: settings.postgres_dns: unknown KV setting; "
                              "known: backend, sqlite_path, "),
            std::string::npos)
      << server.log();
  EXPECT_EQ(server.wait(std::chrono::seconds(5)), 1);
}

// A file written for an older solar, with the KV settings in a `kv` section:
// refused at start, saying where they go now, rather than started on SQLite
// with the section silently ignored.
TEST(KvConfig, TheRetiredKvSectionIsRefusedAtStartWithWhereItsSettingsGoNow) {
  ServerHarness server("worker { name: \"builtin:kv\" }\nkv { backend: POSTGRES postgres_dsn: \"host=db\" }\n");
  EXPECT_FALSE(server.start(std::chrono::seconds(5)));
  EXPECT_NE(server.log().find("\"kv\" is no longer a section of the config"), std::string::npos) << server.log();
  EXPECT_NE(server.log().find("settings { key: \"backend\" value: \"postgres\" }"), std::string::npos) << server.log();
  EXPECT_EQ(server.wait(std::chrono::seconds(5)), 1);
}

}  // namespace
}  // namespace solar::testing
