// Bad input at the edge: an oversized frame or line closes only its own
// connection; limits on connections and idleness are enforced and logged.
#include <arpa/inet.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include <gtest/gtest.h>

#include "server_harness.h"

namespace solar::testing {
namespace {

TEST(BadFrame, OversizedFrameClosesOnlyThatConnection) {
  ServerHarness server("max_frame_bytes: 1024\n");
  ASSERT_TRUE(server.start()) << server.log();
  int good = ConnectTcp(server.port());
  int bad = ConnectTcp(server.port());
  ASSERT_GE(good, 0);
  ASSERT_GE(bad, 0);
  uint32_t be = htonl(1025);  // one byte over the limit: refused from the header alone
  ASSERT_TRUE(WriteAll(bad, std::string(reinterpret_cast<const char*>(&be), 4)));
  EXPECT_TRUE(WaitClosed(bad, 5000));
  std::string reply;
  ASSERT_TRUE(WriteAll(good, Frame32(std::string(1024, 'x'))));  // exactly at the limit
  ASSERT_TRUE(ReadFrame32(good, &reply));
  EXPECT_EQ(reply, std::string(1024, 'x'));
  EXPECT_TRUE(server.waitForLog("frame over max_frame_bytes (1024)", std::chrono::seconds(5)));
  // New connections are still welcome.
  int later = ConnectTcp(server.port());
  ASSERT_TRUE(WriteAll(later, Frame32("later")));
  ASSERT_TRUE(ReadFrame32(later, &reply));
  EXPECT_EQ(reply, "later");
  close(good);
  close(bad);
  close(later);
  EXPECT_EQ(server.stop(), 0);
}

TEST(BadFrame, OverlongLineClosesTheConnection) {
  ServerHarness server("protocol: LINE\nmax_frame_bytes: 100\n");
  ASSERT_TRUE(server.start()) << server.log();
  int bad = ConnectTcp(server.port());
  ASSERT_TRUE(WriteAll(bad, std::string(500, 'a')));
  EXPECT_TRUE(WaitClosed(bad, 5000));
  int good = ConnectTcp(server.port());
  std::string reply;
  ASSERT_TRUE(WriteAll(good, "short\n"));
  ASSERT_TRUE(ReadExactly(good, 6, &reply));
  EXPECT_EQ(reply, "short\n");
  close(bad);
  close(good);
  EXPECT_EQ(server.stop(), 0);
}

TEST(BadFrame, ConnectionsOverMaxConnectionsAreClosedAtOnce) {
  ServerHarness server("listeners: 1\nmax_connections: 2\n");
  ASSERT_TRUE(server.start()) << server.log();
  int a = ConnectTcp(server.port());
  int b = ConnectTcp(server.port());
  std::string reply;
  ASSERT_TRUE(WriteAll(a, Frame32("a")) && ReadFrame32(a, &reply));
  ASSERT_TRUE(WriteAll(b, Frame32("b")) && ReadFrame32(b, &reply));
  int c = ConnectTcp(server.port());
  ASSERT_GE(c, 0);
  EXPECT_TRUE(WaitClosed(c, 5000));
  EXPECT_TRUE(server.waitForLog("max_connections (2) reached", std::chrono::seconds(5)));
  // Freeing one makes room again.
  close(a);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  int d = ConnectTcp(server.port());
  ASSERT_TRUE(WriteAll(d, Frame32("d")));
  ASSERT_TRUE(ReadFrame32(d, &reply));
  EXPECT_EQ(reply, "d");
  close(b);
  close(c);
  close(d);
  EXPECT_EQ(server.stop(), 0);
}

TEST(BadFrame, IdleConnectionIsClosedAfterIdleTimeout) {
  ServerHarness server("idle_timeout_ms: 300\n");
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  std::string reply;
  ASSERT_TRUE(WriteAll(fd, Frame32("x")) && ReadFrame32(fd, &reply));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(WaitClosed(fd, 5000));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(250));
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST(BadFrame, ABusyRequestIsNotIdle) {
  ServerHarness server("idle_timeout_ms: 300\nworker { name: \"builtin:debug\" }\n");
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  std::string reply;
  ASSERT_TRUE(WriteAll(fd, Frame32("sleep:1500")));
  ASSERT_TRUE(ReadFrame32(fd, &reply, 5000));
  EXPECT_EQ(reply, "slept:1500");
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST(BadFrame, ARequestTrickledByteByByteIsCutOffAtTheReadDeadline) {
  // Slowloris: each byte refreshes the idle timer; the deadline for one
  // request does not move (issue 9).
  ServerHarness server("idle_timeout_ms: 60000\nrequest_read_timeout_ms: 1000\nprotocol: LINE\n");
  ASSERT_TRUE(server.start()) << server.log();
  int slow = ConnectTcp(server.port());
  ASSERT_GE(slow, 0);
  auto t0 = std::chrono::steady_clock::now();
  bool closed = false;
  for (int i = 0; i < 40 && !closed; ++i) {  // a byte every 100 ms, never a newline
    if (!WriteAll(slow, "z")) break;
    closed = WaitClosed(slow, 100);
  }
  if (!closed) closed = WaitClosed(slow, 1000);
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(closed) << "a trickling client kept its connection past the deadline";
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_LT(took, std::chrono::milliseconds(3500));
  close(slow);
  // A client whose lines are whole is untouched, however long it stays.
  int normal = ConnectTcp(server.port());
  ASSERT_GE(normal, 0);
  std::string reply;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(WriteAll(normal, "ping\n"));
    ASSERT_TRUE(ReadExactly(normal, 5, &reply, 5000));
    EXPECT_EQ(reply, "ping\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
  }
  close(normal);
  int status = 0;
  std::string metrics = HttpGet(server.adminPort(), "/metrics", &status);
  EXPECT_NE(metrics.find("read_timeouts"), std::string::npos) << metrics;
  EXPECT_TRUE(server.waitForLog("held part of a request for request_read_timeout_ms", std::chrono::seconds(2)))
      << server.log();
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace solar::testing
