// What a new user meets first (issue 10): the default setup works from a
// checkout that the worker user cannot enter (root's home, a mktemp -d
// folder); a second instance on a port that is already served is refused, as
// nginx refuses it, instead of silently sharing it through SO_REUSEPORT.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "clients.h"
#include "kv_test_client.h"
#include "server_harness.h"

namespace solar::testing {
namespace {

// A temp dir with mode 0700 holding a "checkout" subdirectory: what `nobody`
// meets under /root or a mktemp -d folder.
class PrivateParent {
 public:
  PrivateParent() {
    char tmpl[] = "/tmp/solar-test-private-XXXXXX";
    parent_ = mkdtemp(tmpl);
    chmod(parent_.c_str(), 0700);
    checkout_ = parent_ + "/checkout";
    mkdir(checkout_.c_str(), 0755);
    mkdir((checkout_ + "/var").c_str(), 0755);  // a clone has var/ (var/.gitkeep) for the pid file
  }
  ~PrivateParent() { [[maybe_unused]] int rc = std::system(("rm -rf '" + parent_ + "'").c_str()); }
  const std::string& parent() const { return parent_; }
  const std::string& checkout() const { return checkout_; }

 private:
  std::string parent_, checkout_;
};

TEST(FirstContact, KvOnDefaultsServesFromACheckoutTheWorkerUserCannotEnter) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root: only then do workers run as another user";
  PrivateParent dir;
  // As `make run` does: the embedded defaults, run from inside the checkout
  // (relative pid file there too); only the ports are the test's own, and the
  // table, so the test leaves the default state's data alone.
  ServerHarness server("pid_file: \"var/solar.pid\"\n" +
                       KvWorker({{"table", "first_contact_" + std::to_string(getpid())}}));
  server.setWorkingDir(dir.checkout());
  server.useDefaultStateDir();
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  ASSERT_GE(fd, 0);
  kv::KvResponse r = KvCall(fd, KvPut("first", "contact"));
  EXPECT_EQ(r.status(), kv::OK) << r.ShortDebugString() << "\n" << server.log();
  r = KvCall(fd, KvGet("first"));
  EXPECT_EQ(r.status(), kv::OK) << r.ShortDebugString();
  EXPECT_EQ(r.value(), "contact");
  close(fd);
  EXPECT_EQ(server.log().find("cannot open SQLite"), std::string::npos) << server.log();
  // The state lives where the worker user can reach it, and is that user's.
  struct stat st;
  ASSERT_EQ(stat("/var/lib/solar/kv/kv.sqlite3", &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(server.stop(), 0);
}

TEST(FirstContact, AStateDirTheWorkerUserCannotReachIsRefusedNamingTheBlocker) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root: only then do workers run as another user";
  PrivateParent dir;
  ServerHarness server("state_dir: \"" + dir.checkout() + "/var\"\n");
  EXPECT_FALSE(server.start());
  EXPECT_EQ(server.wait(std::chrono::seconds(10)), 1);
  const std::string log = server.log();
  EXPECT_NE(log.find("cannot start: state_dir " + dir.checkout() + "/var"), std::string::npos) << log;
  EXPECT_NE(log.find(dir.parent() + " (a parent directory it cannot enter)"), std::string::npos) << log;
}

TEST(FirstContact, ASecondInstanceOnAServedPortFailsWithAddressInUse) {
  ServerHarness first;
  ASSERT_TRUE(first.start()) << first.log();
  // Another pid file (so the lock does not refuse it first), the same port.
  ServerHarness second("listen: \"127.0.0.1:" + std::to_string(first.port()) + "\"\n");
  EXPECT_FALSE(second.start());
  EXPECT_EQ(second.wait(std::chrono::seconds(10)), 1);
  EXPECT_NE(second.log().find("Address already in use"), std::string::npos) << second.log();
  // Every connection still reaches the first server, and it still serves.
  for (int i = 0; i < 6; ++i) {
    int fd = ConnectTcp(first.port());
    ASSERT_GE(fd, 0);
    std::string reply;
    ASSERT_TRUE(WriteAll(fd, Frame32("mine " + std::to_string(i))));
    ASSERT_TRUE(ReadFrame32(fd, &reply, 5000));
    EXPECT_EQ(reply, "mine " + std::to_string(i));
    close(fd);
  }
  EXPECT_EQ(first.stop(), 0);
}

TEST(FirstContact, ASecondInstanceOnAServedUdpPortFailsWithAddressInUse) {
  ServerHarness first("udp { listen: \"127.0.0.1:0\" workers: 1 }\n");
  ASSERT_TRUE(first.start()) << first.log();
  const int udp_port = UdpPortFromLog(first.log());
  ASSERT_GT(udp_port, 0);
  ServerHarness second("udp { listen: \"127.0.0.1:" + std::to_string(udp_port) + "\" workers: 1 }\n");
  EXPECT_FALSE(second.start());
  EXPECT_EQ(second.wait(std::chrono::seconds(10)), 1);
  EXPECT_NE(second.log().find("Address already in use"), std::string::npos) << second.log();
  EXPECT_EQ(first.stop(), 0);
}

TEST(FirstContact, ListenersOfOneServerStillShareThePortAndSurviveARespawn) {
  // The probe must not stop the server's own SO_REUSEPORT group.
  ServerHarness server("listeners: 2\n");
  ASSERT_TRUE(server.start()) << server.log();
  pid_t old = server.childPid("listener 1");
  ASSERT_GT(old, 0);
  ASSERT_EQ(kill(old, SIGKILL), 0);
  ASSERT_GT(server.waitRespawn("listener 1", old, std::chrono::seconds(10)), 0);
  for (int i = 0; i < 8; ++i) {
    int fd = ConnectTcp(server.port());
    ASSERT_GE(fd, 0);
    std::string reply;
    ASSERT_TRUE(WriteAll(fd, Frame32("x")));
    ASSERT_TRUE(ReadFrame32(fd, &reply, 5000));
    close(fd);
  }
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace solar::testing
