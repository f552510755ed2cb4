// `solar -t` refuses what a start could not survive, with a message that says
// what to change (issue 10): addresses this machine does not have, an admin
// address equal to the listen address, a pid file in a missing directory, a
// log_dir that cannot be written; enum errors list the accepted values; the
// usual slips (an unquoted address, "10s" for a millisecond field) get a hint;
// a KV refusal points at its line like every other error.
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "server_harness.h"

namespace solar::testing {
namespace {

struct Checked {
  int code;
  std::string out;
};

// solar -t on a file holding `text`, from the test's directory.
Checked Check(const std::string& text) {
  char tmpl[] = "/tmp/solar-check-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string path = dir + "/c.conf";
  std::ofstream out(path);
  if (text.find("pid_file") == std::string::npos) out << "pid_file: \"" << dir << "/solar.pid\"\n";
  out << text;
  out.close();
  FILE* p = popen((SolarBin() + " -t -c " + path + " 2>&1").c_str(), "r");
  Checked r{-1, ""};
  std::array<char, 4096> buf;
  size_t n;
  while (p != nullptr && (n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int st = p != nullptr ? pclose(p) : -1;
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  [[maybe_unused]] int rc = std::system(("rm -rf '" + dir + "'").c_str());
  return r;
}

void ExpectRefused(const std::string& text, const std::string& needle) {
  Checked r = Check(text);
  EXPECT_EQ(r.code, 1) << text << "\n" << r.out;
  EXPECT_NE(r.out.find(needle), std::string::npos) << text << "\n" << r.out;
  EXPECT_NE(r.out.find("configuration test failed"), std::string::npos) << r.out;
}

TEST(ConfigCheck, AnAddressThisMachineDoesNotHaveIsRefused) {
  ExpectRefused("listen: \"192.0.2.77:7700\"\n",
                "listen cannot be bound: 192.0.2.77:7700: Cannot assign requested address (not an address of this machine)");
  ExpectRefused("admin_listen: \"192.0.2.77:7702\"\n", "admin_listen cannot be bound");
  ExpectRefused("udp { listen: \"192.0.2.77:7701\" }\n", "udp.listen cannot be bound");
}

TEST(ConfigCheck, ARunningInstancesPortIsNotAReasonToFailTheCheck) {
  ServerHarness server;
  ASSERT_TRUE(server.start()) << server.log();
  Checked r = Check("listen: \"127.0.0.1:" + std::to_string(server.port()) + "\"\nadmin_listen: \"\"\n");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(server.stop(), 0);
}

TEST(ConfigCheck, AnAdminAddressEqualToTheListenAddressIsRefused) {
  ExpectRefused("listen: \"127.0.0.1:7790\"\nadmin_listen: \"127.0.0.1:7790\"\n",
                ":3:1: admin_listen (127.0.0.1:7790) is the listen address");
}

TEST(ConfigCheck, APidFileInAMissingDirectoryIsRefusedAndNotCreated) {
  ExpectRefused("pid_file: \"/tmp/solar-no-such-dir-for-check/solar.pid\"\n",
                "its directory /tmp/solar-no-such-dir-for-check does not exist");
  EXPECT_NE(access("/tmp/solar-no-such-dir-for-check", F_OK), 0);
}

TEST(ConfigCheck, ALogDirThatCannotBeCreatedIsRefused) {
  // Its parent is a file: even root cannot create it.
  ExpectRefused("log_dir: \"/etc/hostname/logs\"\n", "log_dir /etc/hostname/logs: cannot be created");
}

TEST(ConfigCheck, EnumErrorsListTheAcceptedValues) {
  ExpectRefused("dispatch: RANDOM\n", "Accepted: ROUND_ROBIN, LEAST_CONNECTIONS or PER_REQUEST.");
  ExpectRefused("protocol: HTTP\n", "Accepted: FRAME32, LINE or RAW.");
}

TEST(ConfigCheck, CommonSlipsGetAHint) {
  ExpectRefused("listen: 127.0.0.1:7700\n", "Addresses and other strings are quoted");
  ExpectRefused("idle_timeout_ms: 10s\n", "plain numbers in the unit the field's name gives");
}

TEST(ConfigCheck, LocalhostIsAcceptedAndOtherNamesAreRefusedWithTheReason) {
  Checked r = Check("listen: \"localhost:0\"\nadmin_listen: \"\"\n");
  EXPECT_EQ(r.code, 0) << r.out;
  ExpectRefused("listen: \"db1.example:7700\"\n", "names are not resolved");
}

TEST(ConfigCheck, AKvRefusalNamesItsFileLineAndColumn) {
  Checked r = Check("worker {\n  name: \"builtin:kv\"\n  settings { key: \"backend\" value: \"sqlite\" }\n"
                    "  settings { key: \"table\" value: \"Bad-Name\" }\n}\n");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("c.conf:5:3: worker: builtin:kv refuses the configuration: settings.table:"),
            std::string::npos)
      << r.out;
}

TEST(ConfigCheck, TheRetiredKvSectionIsRefusedWithWhereItsSettingsGoNow) {
  Checked r = Check("kv {\n  table: \"t\"\n}\n");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("c.conf:2:1: \"kv\" is no longer a section of the config: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("worker { name: \"builtin:kv\" settings { key: "), std::string::npos) << r.out;
}

}  // namespace
}  // namespace solar::testing
