// Error replies (issue 14, item 4): a request that fails in Worker::process
// (a throw, Response::error, a reply past max_frame_bytes) is answered on the
// same FRAME32 connection with an error frame (length word with bit 31 set),
// in request order, and the connection keeps serving. LINE and RAW have no
// error frame: the connection is closed after the replies before it, as is
// every protocol's with error_replies: false. UDP sends nothing back. Every
// error counts in solar_errors_total.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "kv_test_client.h"  // UdpPortFromLog
#include "server_harness.h"

namespace solar::testing {
namespace {

// The sum of the solar_errors_total lines of /metrics; -1 if it does not answer.
int64_t ErrorsTotal(const ServerHarness& s) {
  int status = 0;
  const std::string body = HttpGet(s.adminPort(), "/metrics", &status);
  if (status != 200) return -1;
  std::istringstream in(body);
  int64_t sum = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("solar_errors_total{", 0) == 0) sum += std::stoll(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

// Scoreboard counters reach /metrics as the worker writes them; poll briefly.
int64_t WaitForErrors(const ServerHarness& s, int64_t want) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int64_t v = ErrorsTotal(s);
  while (v != want && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    v = ErrorsTotal(s);
  }
  return v;
}

struct Reply {
  bool ok = false;  // a whole frame was read
  bool error = false;
  std::string payload;
};

Reply Read(int fd) {
  Reply r;
  r.ok = ReadReply32(fd, &r.payload, &r.error, 5000);
  return r;
}

TEST(ErrorReply, ThrowIsAnsweredWithAnErrorFrameAndTheConnectionKeepsServing) {
  ServerHarness server("workers: 1\nworker { name: \"builtin:debug\" }\n");
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  ASSERT_GE(fd, 0);
  // Pipelined: the error takes its place in the reply order.
  ASSERT_TRUE(WriteAll(fd, Frame32("before") + Frame32("throw") + Frame32("after")));
  Reply a = Read(fd), b = Read(fd), c = Read(fd);
  ASSERT_TRUE(a.ok && b.ok && c.ok);
  EXPECT_FALSE(a.error);
  EXPECT_EQ(a.payload, "before");
  EXPECT_TRUE(b.error);
  EXPECT_EQ(b.payload, "asked to throw");
  EXPECT_FALSE(c.error);
  EXPECT_EQ(c.payload, "after");
  // And again, later, on the same connection.
  ASSERT_TRUE(WriteAll(fd, Frame32("throw") + Frame32("still here")));
  Reply d = Read(fd), e = Read(fd);
  ASSERT_TRUE(d.ok && e.ok);
  EXPECT_TRUE(d.error);
  EXPECT_FALSE(e.error);
  EXPECT_EQ(e.payload, "still here");
  EXPECT_EQ(WaitForErrors(server, 2), 2);
  EXPECT_TRUE(server.waitForLog("process() threw", std::chrono::seconds(5)));
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST(ErrorReply, ResponseErrorAndAnOversizedReplyAreErrorFrames) {
  ServerHarness server("workers: 1\nmax_frame_bytes: 1000\nworker { name: \"builtin:debug\" }\n");
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(WriteAll(fd, Frame32("error:no such key") + Frame32("big:1001") + Frame32("big:1000")));
  Reply a = Read(fd), b = Read(fd), c = Read(fd);
  ASSERT_TRUE(a.ok && b.ok && c.ok);
  EXPECT_TRUE(a.error);
  EXPECT_EQ(a.payload, "no such key");
  EXPECT_TRUE(b.error);
  EXPECT_NE(b.payload.find("over max_frame_bytes"), std::string::npos) << b.payload;
  EXPECT_FALSE(c.error);
  EXPECT_EQ(c.payload, std::string(1000, 'b'));
  EXPECT_EQ(WaitForErrors(server, 2), 2);
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST(ErrorReply, PerRequestDispatchKeepsTheErrorInRequestOrder) {
  ServerHarness server(
      "workers: 3\ndispatch: PER_REQUEST\nmax_in_flight_per_connection: 3\n"
      "worker { name: \"builtin:debug\" }\n");
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  ASSERT_GE(fd, 0);
  // The error and the last echo finish long before the first request.
  ASSERT_TRUE(WriteAll(fd, Frame32("sleep:300") + Frame32("throw") + Frame32("last")));
  Reply a = Read(fd), b = Read(fd), c = Read(fd);
  ASSERT_TRUE(a.ok && b.ok && c.ok);
  EXPECT_FALSE(a.error);
  EXPECT_EQ(a.payload, "slept:300");
  EXPECT_TRUE(b.error);
  EXPECT_EQ(b.payload, "asked to throw");
  EXPECT_EQ(c.payload, "last");
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST(ErrorReply, WithErrorRepliesOffAThrowClosesOnlyThatConnection) {
  ServerHarness server("workers: 1\nerror_replies: false\nworker { name: \"builtin:debug\" }\n");
  ASSERT_TRUE(server.start()) << server.log();
  int bad = ConnectTcp(server.port());
  int good = ConnectTcp(server.port());
  ASSERT_TRUE(WriteAll(bad, Frame32("first") + Frame32("throw") + Frame32("never")));
  std::string reply;
  ASSERT_TRUE(ReadFrame32(bad, &reply));
  EXPECT_EQ(reply, "first");  // the replies before the error still go out ...
  // ... and none after it: a client would take "never" for the answer to "throw".
  std::string rest;
  EXPECT_FALSE(ReadExactly(bad, 1, &rest, 5000)) << "after the failed request: " << rest;
  EXPECT_TRUE(WaitClosed(bad, 5000));
  ASSERT_TRUE(WriteAll(good, Frame32("fine")));
  ASSERT_TRUE(ReadFrame32(good, &reply));
  EXPECT_EQ(reply, "fine");
  EXPECT_EQ(WaitForErrors(server, 1), 1);
  close(bad);
  close(good);
  EXPECT_EQ(server.stop(), 0);
}

TEST(ErrorReply, LineProtocolHasNoErrorFrameSoTheConnectionClosesAfterEarlierReplies) {
  ServerHarness server("workers: 1\nprotocol: LINE\nworker { name: \"builtin:debug\" }\n");
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(WriteAll(fd, "one\nthrow\nnever\n"));
  std::string got;
  ASSERT_TRUE(ReadExactly(fd, 4, &got, 5000));
  EXPECT_EQ(got, "one\n");
  std::string rest;  // nothing after the failed request, then EOF
  EXPECT_FALSE(ReadExactly(fd, 1, &rest, 5000)) << "after the failed request: " << rest;
  EXPECT_TRUE(WaitClosed(fd, 5000));
  EXPECT_EQ(WaitForErrors(server, 1), 1);
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST(ErrorReply, UdpErrorSendsNothingButCountsAndTheNextDatagramIsAnswered) {
  const key_t key = static_cast<key_t>(0x54000000 + (getpid() % 0xffff) * 16 + 1);
  ServerHarness server("workers: 1\nworker { name: \"builtin:debug\" }\nudp { listen: \"127.0.0.1:0\" queue_key: " +
                       std::to_string(key) + " }\n");
  ASSERT_TRUE(server.start()) << server.log();
  const int port = UdpPortFromLog(server.log());
  ASSERT_GT(port, 0) << server.log();
  int fd = UdpSocket();
  ASSERT_GE(fd, 0);
  auto send = [&](const std::string& msg) { return SendTo(fd, port, msg); };
  auto receive = [&](int timeout_ms, std::string* out) { return RecvOne(fd, out, timeout_ms); };
  ASSERT_TRUE(send("throw"));
  EXPECT_EQ(WaitForErrors(server, 1), 1);
  ASSERT_TRUE(send("ping"));
  std::string reply;
  ASSERT_TRUE(receive(5000, &reply));
  EXPECT_EQ(reply, "ping");  // the first thing back: nothing came for the throw
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace solar::testing
