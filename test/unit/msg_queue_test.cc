// The UDP queue's message format, and a real SysV queue round trip.
#include "ipc/msg_queue.h"

#include <arpa/inet.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace solar::ipc {
namespace {

ClientAddress V4(const char* ip, uint16_t port) {
  ClientAddress a;
  auto* in = reinterpret_cast<sockaddr_in*>(&a.storage);
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  inet_pton(AF_INET, ip, &in->sin_addr);
  return a;
}

ClientAddress V6(const char* ip, uint16_t port) {
  ClientAddress a;
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  inet_pton(AF_INET6, ip, &in6->sin6_addr);
  return a;
}

TEST(UdpMessage, Ipv4AddressAndPayloadRoundTrip) {
  std::string mtext;
  EncodeUdpMessage(V4("10.1.2.3", 5353), "hello", &mtext);
  EXPECT_EQ(mtext.size(), sizeof(UdpMessageHeader) + 5);
  ClientAddress from;
  std::string_view payload;
  ASSERT_TRUE(DecodeUdpMessage(mtext, &from, &payload));
  EXPECT_EQ(from.toString(), "10.1.2.3:5353");
  EXPECT_EQ(payload, "hello");
}

TEST(UdpMessage, Ipv6AddressRoundTrips) {
  std::string mtext;
  EncodeUdpMessage(V6("2001:db8::7", 65535), std::string(1000, 'z'), &mtext);
  ClientAddress from;
  std::string_view payload;
  ASSERT_TRUE(DecodeUdpMessage(mtext, &from, &payload));
  EXPECT_EQ(from.toString(), "[2001:db8::7]:65535");
  EXPECT_EQ(payload, std::string(1000, 'z'));
}

TEST(UdpMessage, EmptyAndLargestPayloadsRoundTrip) {
  for (size_t n : {size_t{0}, size_t{65507}}) {
    std::string mtext;
    EncodeUdpMessage(V4("127.0.0.1", 1), std::string(n, 'q'), &mtext);
    ClientAddress from;
    std::string_view payload;
    ASSERT_TRUE(DecodeUdpMessage(mtext, &from, &payload)) << n;
    EXPECT_EQ(payload.size(), n);
  }
}

TEST(UdpMessage, ShortMessageIsRejected) {
  ClientAddress from;
  std::string_view payload;
  EXPECT_FALSE(DecodeUdpMessage(std::string(31, '\0'), &from, &payload));
}

TEST(UdpMessage, LengthThatDisagreesWithTheMessageIsRejected) {
  std::string mtext;
  EncodeUdpMessage(V4("127.0.0.1", 9), "abcdef", &mtext);
  ClientAddress from;
  std::string_view payload;
  EXPECT_FALSE(DecodeUdpMessage(std::string_view(mtext).substr(0, mtext.size() - 1), &from, &payload));
  EXPECT_FALSE(DecodeUdpMessage(mtext + "x", &from, &payload));
}

TEST(UdpMessage, ForeignMagicOrFamilyIsRejected) {
  std::string mtext;
  EncodeUdpMessage(V4("127.0.0.1", 9), "abc", &mtext);
  ClientAddress from;
  std::string_view payload;
  std::string bad_magic = mtext;
  bad_magic[0] ^= 1;
  EXPECT_FALSE(DecodeUdpMessage(bad_magic, &from, &payload));
  std::string no_family;
  EncodeUdpMessage(ClientAddress(), "abc", &no_family);
  EXPECT_FALSE(DecodeUdpMessage(no_family, &from, &payload)) << "a reply would have nowhere to go";
}

TEST(UdpMessage, SeveralDatagramsInOneMessageComeOutInOrderWithTheirOwnSenders) {
  std::string mtext;
  AppendUdpMessage(V4("10.0.0.1", 1), "first", &mtext);
  AppendUdpMessage(V6("::1", 2), "", &mtext);
  AppendUdpMessage(V4("10.0.0.3", 3), std::string(300, 'x'), &mtext);
  std::string_view rest = mtext;
  ClientAddress from;
  std::string_view payload;
  ASSERT_TRUE(NextUdpMessage(&rest, &from, &payload));
  EXPECT_EQ(from.toString(), "10.0.0.1:1");
  EXPECT_EQ(payload, "first");
  ASSERT_TRUE(NextUdpMessage(&rest, &from, &payload));
  EXPECT_EQ(from.toString(), "[::1]:2");
  EXPECT_EQ(payload, "");
  ASSERT_TRUE(NextUdpMessage(&rest, &from, &payload));
  EXPECT_EQ(from.toString(), "10.0.0.3:3");
  EXPECT_EQ(payload, std::string(300, 'x'));
  EXPECT_TRUE(rest.empty());
  // One entry and something after it is not a single message.
  EXPECT_FALSE(DecodeUdpMessage(mtext, &from, &payload));
}

TEST(UdpMessage, AnEntryLongerThanWhatIsLeftStopsTheBatch) {
  std::string mtext;
  AppendUdpMessage(V4("10.0.0.1", 1), "ok", &mtext);
  AppendUdpMessage(V4("10.0.0.2", 2), "cut short", &mtext);
  mtext.resize(mtext.size() - 1);
  std::string_view rest = mtext;
  ClientAddress from;
  std::string_view payload;
  ASSERT_TRUE(NextUdpMessage(&rest, &from, &payload));
  EXPECT_EQ(payload, "ok");
  EXPECT_FALSE(NextUdpMessage(&rest, &from, &payload));
}

TEST(UdpMessage, DerivedKeyIsStableAndNeverPrivate) {
  EXPECT_EQ(DeriveQueueKey("/run/solar.pid"), DeriveQueueKey("/run/solar.pid"));
  EXPECT_NE(DeriveQueueKey("/run/solar.pid"), DeriveQueueKey("/run/solar2.pid"));
  EXPECT_NE(DeriveQueueKey(""), IPC_PRIVATE);
  EXPECT_GT(DeriveQueueKey("x"), 0);
}

TEST(MsgQueue, CreateRemovesAStaleQueueWithTheSameKey) {
  key_t key = DeriveQueueKey("msg-queue-test-" + std::to_string(getpid()));
  int stale = msgget(key, IPC_CREAT | 0600);
  ASSERT_GE(stale, 0);
  bool removed = false;
  int id = MsgQueue::Create(key, &removed);
  ASSERT_GE(id, 0);
  EXPECT_TRUE(removed);
  EXPECT_NE(id, stale);
  msqid_ds ds{};
  EXPECT_EQ(msgctl(stale, IPC_STAT, &ds), -1) << "the stale queue should be gone";
  EXPECT_TRUE(MsgQueue::Remove(id));
}

TEST(MsgQueue, SendAndReceiveOneMessage) {
  bool removed = false;
  int id = MsgQueue::Create(DeriveQueueKey("msg-queue-rt-" + std::to_string(getpid())), &removed);
  ASSERT_GE(id, 0);
  MsgQueue q(id);
  std::string mtext;
  EncodeUdpMessage(V4("127.0.0.1", 4242), "ping", &mtext);
  int err = 0;
  ASSERT_EQ(q.send(mtext, &err), MsgQueue::SendResult::kSent);
  std::vector<char> buf(sizeof(long) + 4096);
  ssize_t n = q.receive(buf.data(), buf.size(), /*nowait=*/true, &err);
  ASSERT_EQ(n, static_cast<ssize_t>(mtext.size()));
  ClientAddress from;
  std::string_view payload;
  ASSERT_TRUE(DecodeUdpMessage(std::string_view(buf.data() + sizeof(long), n), &from, &payload));
  EXPECT_EQ(payload, "ping");
  EXPECT_EQ(q.receive(buf.data(), buf.size(), true, &err), -1);
  EXPECT_EQ(err, ENOMSG);
  EXPECT_TRUE(MsgQueue::Remove(id));
}

TEST(MsgQueue, FullQueueReportsFullWithoutBlocking) {
  bool removed = false;
  int id = MsgQueue::Create(DeriveQueueKey("msg-queue-full-" + std::to_string(getpid())), &removed);
  ASSERT_GE(id, 0);
  msqid_ds ds{};
  ASSERT_EQ(msgctl(id, IPC_STAT, &ds), 0);
  ds.msg_qbytes = 4096;  // lowering needs no privilege
  ASSERT_EQ(msgctl(id, IPC_SET, &ds), 0);
  MsgQueue q(id);
  std::string mtext;
  EncodeUdpMessage(V4("127.0.0.1", 1), std::string(1000, 'f'), &mtext);
  int err = 0, sent = 0;
  MsgQueue::SendResult r;
  while ((r = q.send(mtext, &err)) == MsgQueue::SendResult::kSent) ++sent;
  EXPECT_EQ(r, MsgQueue::SendResult::kFull);
  EXPECT_EQ(sent, 3);  // 3 * 1032 bytes fit in 4096, a fourth does not
  EXPECT_TRUE(MsgQueue::Remove(id));
}

}  // namespace
}  // namespace solar::ipc
