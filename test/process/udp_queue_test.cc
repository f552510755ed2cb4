// The UDP path end to end: UDP listener -> SysV queue -> UDP workers -> sendto.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <random>
#include <regex>
#include <thread>

#include <gtest/gtest.h>

#include "ipc/msg_queue.h"
#include "kv_test_client.h"  // UdpPortFromLog
#include "server_harness.h"

namespace solar::testing {
namespace {

int UdpPort(const ServerHarness& s) { return UdpPortFromLog(s.log()); }

// A key unique to this test process and case.
key_t TestKey(int n) { return static_cast<key_t>(0x53000000 + (getpid() % 0xffff) * 16 + n); }

std::string UdpConfig(key_t key, const std::string& extra = "") {
  return "udp { listen: \"127.0.0.1:0\" queue_key: " + std::to_string(key) + " " + extra + " }\n";
}

uint64_t Total(const std::string& log, const std::string& counter) {
  std::smatch m;
  std::regex re(counter + "=([0-9]+)");
  return std::regex_search(log, m, re) ? std::stoull(m[1]) : 0;
}

TEST(UdpQueue, TenThousandEchoesAllAnsweredToTheRightSender) {
  ServerHarness server(UdpConfig(TestKey(1), "workers: 2"));
  ASSERT_TRUE(server.start()) << server.log();
  int port = UdpPort(server);
  ASSERT_GT(port, 0);
  constexpr int kSockets = 8, kTotal = 10000, kWindow = 16;
  std::vector<int> fds;
  for (int i = 0; i < kSockets; ++i) fds.push_back(UdpSocket());
  std::vector<int> sent(kSockets, 0), got(kSockets, 0);
  int answered = 0, wrong = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (answered + wrong < kTotal && std::chrono::steady_clock::now() < deadline) {
    for (int s = 0; s < kSockets; ++s) {
      while (sent[s] < kTotal / kSockets && sent[s] - got[s] < kWindow) {
        SendTo(fds[s], port, "s" + std::to_string(s) + "#" + std::to_string(sent[s]++));
      }
    }
    std::vector<pollfd> p;
    for (int fd : fds) p.push_back({fd, POLLIN, 0});
    if (poll(p.data(), p.size(), 2000) <= 0) break;  // a lost datagram would stall: fail below
    for (int s = 0; s < kSockets; ++s) {
      if (!(p[s].revents & POLLIN)) continue;
      std::string reply;
      while (RecvOne(fds[s], &reply, 0)) {
        ++got[s];
        if (reply.rfind("s" + std::to_string(s) + "#", 0) == 0) ++answered;
        else ++wrong;
      }
    }
  }
  EXPECT_EQ(answered, kTotal);
  EXPECT_EQ(wrong, 0) << "a reply reached a socket that did not send its request";
  for (int fd : fds) close(fd);
  EXPECT_EQ(server.stop(), 0);
  EXPECT_EQ(Total(server.log(), "udp_queued"), static_cast<uint64_t>(kTotal)) << server.log();
}

TEST(UdpQueue, QueueIsPrivateToTheWorkerUserAndGoneAfterStop) {
  const key_t key = TestKey(2);
  ServerHarness server(UdpConfig(key));
  ASSERT_TRUE(server.start()) << server.log();
  int id = msgget(key, 0);
  ASSERT_GE(id, 0) << "no queue with the configured key while running";
  msqid_ds ds{};
  ASSERT_EQ(msgctl(id, IPC_STAT, &ds), 0);
  EXPECT_EQ(ds.msg_perm.mode & 0777, 0600u);
  if (geteuid() == 0) {
    EXPECT_EQ(ds.msg_perm.uid, 65534u) << "owned by nobody";
    EXPECT_EQ(ds.msg_qbytes, 4u << 20) << "byte limit raised to udp.queue_bytes";
  }
  EXPECT_EQ(server.stop(), 0);
  EXPECT_EQ(msgget(key, 0), -1) << "the queue outlived the server";
  EXPECT_EQ(errno, ENOENT);
}

TEST(UdpQueue, StaleQueueWithTheSameKeyIsRemovedAtStart) {
  const key_t key = TestKey(3);
  int stale = msgget(key, IPC_CREAT | 0600);
  ASSERT_GE(stale, 0);
  struct {
    long mtype;
    char text[8];
  } junk{1, "junk"};
  ASSERT_EQ(msgsnd(stale, &junk, sizeof(junk.text), IPC_NOWAIT), 0);
  ServerHarness server(UdpConfig(key));
  ASSERT_TRUE(server.start()) << server.log();
  EXPECT_NE(server.log().find("removed a stale UDP queue"), std::string::npos);
  int id = msgget(key, 0);
  EXPECT_NE(id, stale);
  msqid_ds ds{};
  ASSERT_EQ(msgctl(id, IPC_STAT, &ds), 0);
  EXPECT_EQ(ds.msg_qnum, 0u) << "the stale message must not reach a worker";
  // And the server works.
  int fd = UdpSocket();
  std::string reply;
  ASSERT_TRUE(SendTo(fd, UdpPort(server), "fresh"));
  ASSERT_TRUE(RecvOne(fd, &reply, 5000));
  EXPECT_EQ(reply, "fresh");
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST(UdpQueue, FloodThatOverfillsTheQueueIsCountedAndServiceContinues) {
  ServerHarness server("worker { name: \"builtin:debug\" }\n" +
                       UdpConfig(TestKey(4), "workers: 1 queue_bytes: 65536 max_datagram_bytes: 65504"));
  ASSERT_TRUE(server.start()) << server.log();
  int port = UdpPort(server);
  int fd = UdpSocket();
  int rcv = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
  ASSERT_TRUE(SendTo(fd, port, "sleep:1000"));  // the only worker is busy
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const std::string filler(1000, 'f');
  for (int i = 0; i < 2000; ++i) SendTo(fd, port, filler);
  // Service resumes: after the sleep and the queued fillers, a probe is answered.
  std::string reply;
  bool answered = false;
  for (int i = 0; i < 50 && !answered; ++i) {
    SendTo(fd, port, "probe");
    while (RecvOne(fd, &reply, 200)) {
      if (reply == "probe") answered = true;
    }
  }
  EXPECT_TRUE(answered);
  EXPECT_TRUE(server.waitForLog("queue full", std::chrono::seconds(5))) << server.log();
  close(fd);
  EXPECT_EQ(server.stop(), 0);
  const std::string log = server.log();
  EXPECT_GT(Total(log, "queue_full"), 1000u) << log;  // 64 KiB holds ~60 of 2000
  EXPECT_GT(Total(log, "udp_queued"), 50u) << log;
}

TEST(UdpQueue, OversizedDatagramIsDroppedAndCounted) {
  ServerHarness server(UdpConfig(TestKey(5), "max_datagram_bytes: 512"));
  ASSERT_TRUE(server.start()) << server.log();
  int port = UdpPort(server);
  int fd = UdpSocket();
  std::string reply;
  ASSERT_TRUE(SendTo(fd, port, std::string(513, 'b')));
  ASSERT_TRUE(SendTo(fd, port, std::string(512, 'a')));
  ASSERT_TRUE(RecvOne(fd, &reply, 5000));
  EXPECT_EQ(reply, std::string(512, 'a')) << "the oversized one must not be answered";
  close(fd);
  EXPECT_EQ(server.stop(), 0);
  EXPECT_EQ(Total(server.log(), "too_big"), 1u) << server.log();
}

TEST(UdpQueue, KilledUdpWorkerLosesNoMessageAlreadyQueued) {
  const key_t key = TestKey(6);
  ServerHarness server("worker { name: \"builtin:debug\" }\n" + UdpConfig(key, "workers: 1"));
  ASSERT_TRUE(server.start()) << server.log();
  int port = UdpPort(server);
  int fd = UdpSocket();
  ASSERT_TRUE(SendTo(fd, port, "sleep:5000"));  // taken by the worker, dies with it
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  constexpr int kQueued = 50;
  size_t queued_bytes = 0;  // the listener may pack several datagrams into one message: count bytes
  for (int i = 0; i < kQueued; ++i) {
    const std::string d = "q" + std::to_string(i);
    ASSERT_TRUE(SendTo(fd, port, d));
    queued_bytes += sizeof(ipc::UdpMessageHeader) + d.size();
  }
  int id = msgget(key, 0);
  msqid_ds ds{};
  for (int i = 0; i < 100; ++i) {
    msgctl(id, IPC_STAT, &ds);
    if (ds.__msg_cbytes == queued_bytes) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(ds.__msg_cbytes, queued_bytes) << "all must be waiting in the queue";
  pid_t w = server.childPid("udp_worker 0");
  ASSERT_GT(w, 0);
  ASSERT_EQ(kill(w, SIGKILL), 0);
  std::map<std::string, int> seen;
  std::string reply;
  while (static_cast<int>(seen.size()) < kQueued && RecvOne(fd, &reply, 5000)) ++seen[reply];
  EXPECT_EQ(seen.size(), static_cast<size_t>(kQueued));
  for (int i = 0; i < kQueued; ++i) EXPECT_EQ(seen["q" + std::to_string(i)], 1) << i;
  EXPECT_GT(server.waitRespawn("udp_worker 0", w, std::chrono::seconds(5)), 0);
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST(UdpQueue, StopDrainsTheQueueBeforeRemovingIt) {
  const key_t key = TestKey(7);
  ServerHarness server("worker { name: \"builtin:debug\" }\n" + UdpConfig(key, "workers: 1"));
  ASSERT_TRUE(server.start()) << server.log();
  int port = UdpPort(server);
  int fd = UdpSocket();
  ASSERT_TRUE(SendTo(fd, port, "sleep:500"));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(SendTo(fd, port, "d" + std::to_string(i)));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  kill(server.pid(), SIGTERM);
  int got = 0;
  std::string reply;
  while (got < 20 && RecvOne(fd, &reply, 3000)) {
    if (reply[0] == 'd') ++got;
  }
  EXPECT_EQ(got, 20) << "queued datagrams must be answered before the stop completes";
  EXPECT_EQ(server.wait(std::chrono::seconds(10)), 0);
  EXPECT_EQ(msgget(key, 0), -1);
  close(fd);
}

TEST(UdpQueue, RequestSaysUdpAndGivesTheClientAddress) {
  ServerHarness server("worker { name: \"builtin:debug\" }\n" + UdpConfig(TestKey(8)));
  ASSERT_TRUE(server.start()) << server.log();
  int fd = UdpSocket();
  sockaddr_in me{};
  socklen_t len = sizeof(me);
  getsockname(fd, reinterpret_cast<sockaddr*>(&me), &len);
  std::string reply;
  ASSERT_TRUE(SendTo(fd, UdpPort(server), "peer"));
  ASSERT_TRUE(RecvOne(fd, &reply, 5000));
  EXPECT_EQ(reply, "udp 127.0.0.1:" + std::to_string(ntohs(me.sin_port)));
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace solar::testing
