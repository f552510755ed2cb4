// The TCP path end to end: the real binary on loopback, echo worker.
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "clients.h"
#include "server_harness.h"

namespace solar::testing {
namespace {

TEST(Echo, HundredPipeliningConnectionsGetEveryReplyByteExactInOrder) {
  ServerHarness server("listeners: 2\nworkers: 3\n");
  ASSERT_TRUE(server.start()) << server.log();
  PipelineOptions o;
  o.connections = 100;
  o.requests_per_connection = 30;
  o.min_size = 1;
  o.max_size = 64 * 1024;
  PipelineResult r = RunPipelined(server.port(), o);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.mismatches, 0u) << r.first_error;
  EXPECT_EQ(r.closed, 0u) << r.first_error;
  EXPECT_EQ(r.answered, 100u * 30u);
  EXPECT_EQ(server.stop(), 0) << server.log();
}

TEST(Echo, OneMebibyteRequestRoundTrips) {
  ServerHarness server;
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  ASSERT_GE(fd, 0);
  std::string big = RandomBytes(1 << 20, 42);
  ASSERT_TRUE(WriteAll(fd, Frame32(big)));
  std::string reply;
  ASSERT_TRUE(ReadFrame32(fd, &reply));
  EXPECT_TRUE(reply == big);
  // And the connection still works for a small one after it.
  ASSERT_TRUE(WriteAll(fd, Frame32("after")));
  ASSERT_TRUE(ReadFrame32(fd, &reply));
  EXPECT_EQ(reply, "after");
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Echo, FourMebibyteRequestAtTheDefaultLimitRoundTrips) {
  ServerHarness server;
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  ASSERT_GE(fd, 0);
  std::string big = RandomBytes(4 << 20, 7);
  std::thread writer([&] { WriteAll(fd, Frame32(big)); });
  std::string reply;
  EXPECT_TRUE(ReadFrame32(fd, &reply, 30000));
  writer.join();
  EXPECT_TRUE(reply == big);
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

// A reply the client's socket cannot take at once: the listener writes what
// fits straight from the worker's datagram and buffers the rest. A request
// sent while that rest waits must be answered after it, byte-exact.
TEST(Echo, ReplyLeftHalfWrittenByASlowReaderStaysAheadOfTheNextOne) {
  ServerHarness server("max_frame_bytes: 16777216\n");
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  ASSERT_GE(fd, 0);
  // More than the socket buffers take while the client does not read (the
  // sender's queue holds up to tcp_wmem's 4 MiB; a receive buffer set small
  // after connect would stall loopback TCP in retransmissions instead).
  const std::string big = RandomBytes(12 << 20, 11);
  ASSERT_TRUE(WriteAll(fd, Frame32(big)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // not reading: the reply stalls
  ASSERT_TRUE(WriteAll(fd, Frame32("after")));
  std::string reply;
  ASSERT_TRUE(ReadFrame32(fd, &reply, 30000));
  EXPECT_TRUE(reply == big) << "the first reply came back " << reply.size() << " bytes long, or changed";
  ASSERT_TRUE(ReadFrame32(fd, &reply));
  EXPECT_EQ(reply, "after");
  close(fd);
  EXPECT_EQ(server.stop(), 0) << server.log();
}

TEST(Echo, LineProtocolAnswersEachLine) {
  ServerHarness server("protocol: LINE\n");
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(WriteAll(fd, "hello\r\nwor"));
  ASSERT_TRUE(WriteAll(fd, "ld\n\n"));
  std::string reply;
  ASSERT_TRUE(ReadExactly(fd, 13, &reply));
  EXPECT_EQ(reply, "hello\nworld\n\n");
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Echo, RawProtocolEchoesEveryByte) {
  ServerHarness server("protocol: RAW\n");
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  ASSERT_GE(fd, 0);
  std::string data = RandomBytes(200000, 3);
  std::thread writer([&] { WriteAll(fd, data); });
  std::string reply;
  EXPECT_TRUE(ReadExactly(fd, data.size(), &reply));
  writer.join();
  EXPECT_TRUE(reply == data);
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Echo, Ipv6ListenAddressServes) {
  ServerHarness server("listen: \"[::1]:0\"\n");
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port(), /*ipv6=*/true);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(WriteAll(fd, Frame32("over v6")));
  std::string reply;
  ASSERT_TRUE(ReadFrame32(fd, &reply));
  EXPECT_EQ(reply, "over v6");
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Echo, ClientHalfCloseStillGetsItsReplies) {
  ServerHarness server;
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(WriteAll(fd, Frame32("one") + Frame32("two")));
  shutdown(fd, SHUT_WR);
  std::string a, b;
  ASSERT_TRUE(ReadFrame32(fd, &a));
  ASSERT_TRUE(ReadFrame32(fd, &b));
  EXPECT_EQ(a, "one");
  EXPECT_EQ(b, "two");
  EXPECT_TRUE(WaitClosed(fd, 5000));  // then the server closes
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Echo, WorkerCanCloseTheConnectionAfterItsReply) {
  ServerHarness server("worker { name: \"builtin:debug\" }\n");
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(WriteAll(fd, Frame32("close")));
  std::string reply;
  ASSERT_TRUE(ReadFrame32(fd, &reply));
  EXPECT_EQ(reply, "bye");
  EXPECT_TRUE(WaitClosed(fd, 5000));
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace solar::testing
