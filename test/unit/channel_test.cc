// Datagram channels (src/ipc/channel.h) over a real AF_UNIX SOCK_DGRAM socketpair:
// packing, chunking, EAGAIN queueing, truncation, and reassembly; and OutLink
// (src/ipc/out_link.h), the channel's owner inside an event loop.
#include "ipc/channel.h"

#include <sys/socket.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "base/event_loop.h"
#include "base/unique_fd.h"
#include "ipc/out_link.h"

namespace solar::ipc {
namespace {

// Both ends of one socketpair, owned here.
struct Pair {
  UniqueFd out;
  UniqueFd in;
  Pair() {
    int sv[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
    out.reset(sv[0]);
    in.reset(sv[1]);
  }
  void setSendBuffer(int bytes) {
    EXPECT_EQ(setsockopt(out.get(), SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes)), 0);
  }
};

struct Received {
  RecordHeader header;
  std::string payload;
};

// What the receiving side saw, datagram by datagram.
struct Receiver {
  explicit Receiver(int fd) : channel(fd) {}

  // Receives until the socket is empty; checks each datagram's shape.
  void drain() {
    for (;;) {
      std::string_view dgram;
      int err = 0;
      auto r = channel.recv(&dgram, &err);
      if (r == InChannel::RecvResult::kAgain) return;
      ASSERT_EQ(r, InChannel::RecvResult::kDatagram) << "errno " << err;
      ASSERT_LE(dgram.size(), kMaxDatagram);
      ++datagrams;
      size_t in_this = 0;
      RecordReader reader(dgram.data(), dgram.size(), limits);
      RecordHeader h;
      std::string_view payload;
      while (reader.next(&h, &payload)) {
        records.push_back({h, std::string(payload)});
        ++in_this;
      }
      ASSERT_EQ(reader.error(), ParseError::kNone) << ParseErrorName(reader.error());
      ASSERT_GE(in_this, 1u);
      ASSERT_LE(in_this, kMaxRecordsPerDatagram);
    }
  }

  InChannel channel;
  Limits limits;
  size_t datagrams = 0;
  std::vector<Received> records;
};

// Flushes and drains in turn until everything queued has arrived.
void Pump(OutChannel* out, Receiver* rx) {
  for (int round = 0; round < 10000; ++round) {
    auto r = out->flush();
    ASSERT_NE(r, OutChannel::FlushResult::kError);
    rx->drain();
    if (r == OutChannel::FlushResult::kDone) {
      rx->drain();
      return;
    }
  }
  FAIL() << "the channel never finished flushing";
}

RecordHeader DataHeader(uint32_t conn_id, uint64_t seq) {
  RecordHeader h = MakeHeader(RecordType::kData, 0, conn_id, 1);
  h.seq = seq;
  return h;
}

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  uint32_t x = 2463534242u;
  for (auto& c : s) {  // xorshift: no period a misplaced chunk could hide in
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return s;
}

TEST(OutChannel, ManySmallRecordsArePackedIntoFewDatagrams) {
  Pair pair;
  OutChannel out(pair.out.get());
  Receiver rx(pair.in.get());
  const size_t kRecords = 1000;
  for (size_t i = 0; i < kRecords; ++i) out.append(DataHeader(5, i), "req" + std::to_string(i));
  Pump(&out, &rx);

  // 64 records to a datagram at most: 1000 records need 16.
  const size_t expected = (kRecords + kMaxRecordsPerDatagram - 1) / kMaxRecordsPerDatagram;
  EXPECT_EQ(out.datagramsSent(), expected);
  EXPECT_EQ(rx.datagrams, expected);
  ASSERT_EQ(rx.records.size(), kRecords);
  for (size_t i = 0; i < kRecords; ++i) {
    EXPECT_EQ(rx.records[i].header.seq, i);
    EXPECT_EQ(rx.records[i].payload, "req" + std::to_string(i));
    EXPECT_EQ(rx.records[i].header.flags, kFlagFirst);
  }
  EXPECT_FALSE(out.hasPending());
  EXPECT_EQ(out.pendingBytes(), 0u);
}

TEST(OutChannel, RecordsThatFillADatagramByBytesStartANewOne) {
  Pair pair;
  OutChannel out(pair.out.get());
  Receiver rx(pair.in.get());
  // 20 KiB records: three fit in 64 KiB, the fourth starts the next datagram
  // rather than being split (it is above the 4 KiB fill threshold).
  const std::string payload(20 * 1024, 'q');
  for (uint64_t i = 0; i < 6; ++i) out.append(DataHeader(1, i), payload);
  Pump(&out, &rx);
  EXPECT_EQ(rx.datagrams, 2u);
  ASSERT_EQ(rx.records.size(), 6u);
  for (const auto& r : rx.records) EXPECT_EQ(r.payload, payload);
}

TEST(OutChannel, PreservedFlagsSurviveAndChunkFlagsAreSetHere) {
  Pair pair;
  OutChannel out(pair.out.get());
  Receiver rx(pair.in.get());
  RecordHeader h = MakeHeader(RecordType::kReply, 0, 9, 2);
  h.flags = kFlagCloseAfter | kFlagMore;  // kFlagMore is not the caller's to set
  h.chunk_len = 12345;                    // nor are the lengths
  h.total_len = 1;
  h.offset = 99;
  out.append(h, "bye");
  Pump(&out, &rx);
  ASSERT_EQ(rx.records.size(), 1u);
  const RecordHeader& got = rx.records[0].header;
  EXPECT_EQ(got.flags, kFlagFirst | kFlagCloseAfter);
  EXPECT_EQ(got.chunk_len, 3u);
  EXPECT_EQ(got.total_len, 3u);
  EXPECT_EQ(got.offset, 0u);
  EXPECT_EQ(rx.records[0].payload, "bye");
}

TEST(OutChannel, EmptyPayloadIsSentAsOneRecord) {
  Pair pair;
  OutChannel out(pair.out.get());
  Receiver rx(pair.in.get());
  out.append(MakeHeader(RecordType::kClose, 0, 4, 4), "");
  Pump(&out, &rx);
  ASSERT_EQ(rx.records.size(), 1u);
  EXPECT_EQ(rx.records[0].header.type, static_cast<uint8_t>(RecordType::kClose));
  EXPECT_EQ(rx.records[0].header.total_len, 0u);
  EXPECT_EQ(rx.records[0].payload, "");
}

TEST(OutChannel, OneMebibyteMessageIsChunkedAndReassembledByteExact) {
  Pair pair;
  OutChannel out(pair.out.get());
  Receiver rx(pair.in.get());
  const std::string message = Pattern(1 << 20);
  // A small record first, so the big one starts in a part-filled datagram.
  out.append(DataHeader(3, 0), "small");
  RecordHeader h = DataHeader(3, 1);
  SetAddress(&h, ClientAddress());
  out.append(h, message);
  EXPECT_GE(out.pendingBytes(), message.size());
  Pump(&out, &rx);

  ASSERT_GE(rx.records.size(), 2u + message.size() / kMaxChunk);
  EXPECT_EQ(rx.records[0].payload, "small");
  Reassembler reassembler;
  std::string_view whole;
  size_t chunks = 0;
  for (size_t i = 1; i < rx.records.size(); ++i) {
    const Received& r = rx.records[i];
    EXPECT_EQ(r.header.total_len, message.size());
    EXPECT_LE(r.header.chunk_len, kMaxChunk);
    ++chunks;
    auto status = reassembler.feed(3, r.header, r.payload, &whole);
    if (i + 1 < rx.records.size()) {
      ASSERT_EQ(status, Reassembler::Status::kPartial) << "chunk " << i;
    } else {
      ASSERT_EQ(status, Reassembler::Status::kComplete);
    }
  }
  EXPECT_GT(chunks, 16u);
  ASSERT_EQ(whole.size(), message.size());
  EXPECT_TRUE(whole == message) << "reassembled bytes differ";
  EXPECT_EQ(reassembler.partials(), 0u);
}

TEST(OutChannel, FullReceiverGivesAgainWithoutBlockingOrDropping) {
  Pair pair;
  pair.setSendBuffer(16 * 1024);  // the kernel doubles it; still a few datagrams
  OutChannel out(pair.out.get());
  Receiver rx(pair.in.get());
  const size_t kRecords = 64 * 40;  // 40 datagrams of 64 small records (4 KiB each)
  for (size_t i = 0; i < kRecords; ++i) out.append(DataHeader(8, i), std::to_string(i));

  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(out.flush(), OutChannel::FlushResult::kAgain);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(50));
  EXPECT_TRUE(out.hasPending());
  const size_t sent_before = out.datagramsSent();
  EXPECT_GT(sent_before, 0u);
  EXPECT_LT(sent_before, 40u);
  EXPECT_EQ(out.flush(), OutChannel::FlushResult::kAgain);  // still full: nothing moves
  EXPECT_EQ(out.datagramsSent(), sent_before);

  rx.drain();
  EXPECT_EQ(rx.datagrams, sent_before);
  Pump(&out, &rx);
  EXPECT_FALSE(out.hasPending());
  EXPECT_EQ(out.pendingBytes(), 0u);
  EXPECT_EQ(out.sendErrors(), 0u);
  EXPECT_EQ(out.datagramsSent(), 40u);
  ASSERT_EQ(rx.records.size(), kRecords);
  for (size_t i = 0; i < kRecords; ++i) {
    ASSERT_EQ(rx.records[i].header.seq, i) << "records out of order";
    ASSERT_EQ(rx.records[i].payload, std::to_string(i));
  }
}

TEST(OutChannel, AppendsDuringBackpressureStayBehindQueuedOnes) {
  Pair pair;
  pair.setSendBuffer(16 * 1024);
  OutChannel out(pair.out.get());
  Receiver rx(pair.in.get());
  uint64_t seq = 0;
  for (; seq < 64 * 20; ++seq) out.append(DataHeader(8, seq), "a");
  ASSERT_EQ(out.flush(), OutChannel::FlushResult::kAgain);
  for (; seq < 64 * 30; ++seq) out.append(DataHeader(8, seq), "b");
  Pump(&out, &rx);
  ASSERT_EQ(rx.records.size(), seq);
  for (uint64_t i = 0; i < seq; ++i) ASSERT_EQ(rx.records[i].header.seq, i);
}

TEST(InChannel, EmptySocketGivesAgain) {
  Pair pair;
  InChannel in(pair.in.get());
  std::string_view dgram;
  int err = 0;
  EXPECT_EQ(in.recv(&dgram, &err), InChannel::RecvResult::kAgain);
  EXPECT_TRUE(err == EAGAIN || err == EWOULDBLOCK);
}

TEST(InChannel, DatagramLargerThanTheBufferIsReportedTruncated) {
  Pair pair;
  InChannel in(pair.in.get());
  std::string big(kMaxDatagram + 1024, 'x');
  ASSERT_EQ(send(pair.out.get(), big.data(), big.size(), 0), static_cast<ssize_t>(big.size()));
  ASSERT_EQ(send(pair.out.get(), "ok", 2, 0), 2);
  std::string_view dgram;
  int err = 0;
  EXPECT_EQ(in.recv(&dgram, &err), InChannel::RecvResult::kTruncated);
  ASSERT_EQ(in.recv(&dgram, &err), InChannel::RecvResult::kDatagram);  // the next one is intact
  EXPECT_EQ(dgram, "ok");
}

TEST(InChannel, BatchTakesWhatIsWaitingAndAShortBatchSaysTheSocketIsEmpty) {
  Pair pair;
  InChannel in(pair.in.get());
  for (int i = 0; i < 11; ++i) {
    const std::string d = "d" + std::to_string(i);
    ASSERT_EQ(send(pair.out.get(), d.data(), d.size(), 0), static_cast<ssize_t>(d.size()));
  }
  int err = 0;
  ASSERT_EQ(in.receive(InChannel::kMaxBatch, &err), InChannel::BatchResult::kDatagrams);
  ASSERT_EQ(in.count(), InChannel::kMaxBatch);
  EXPECT_FALSE(in.drained());  // a full batch: more may wait
  for (size_t i = 0; i < in.count(); ++i) EXPECT_EQ(in.datagram(i), "d" + std::to_string(i));
  ASSERT_EQ(in.receive(InChannel::kMaxBatch, &err), InChannel::BatchResult::kDatagrams);
  ASSERT_EQ(in.count(), 11 - InChannel::kMaxBatch);
  EXPECT_TRUE(in.drained());  // fewer than asked: nothing left, no probe read needed
  EXPECT_EQ(in.datagram(0), "d" + std::to_string(InChannel::kMaxBatch));
  EXPECT_EQ(in.receive(InChannel::kMaxBatch, &err), InChannel::BatchResult::kAgain);
}

TEST(InChannel, ATruncatedDatagramInABatchIsFlaggedAndTheOthersAreIntact) {
  Pair pair;
  InChannel in(pair.in.get());
  std::string big(kMaxDatagram + 1024, 'x');
  ASSERT_EQ(send(pair.out.get(), "a", 1, 0), 1);
  ASSERT_EQ(send(pair.out.get(), big.data(), big.size(), 0), static_cast<ssize_t>(big.size()));
  ASSERT_EQ(send(pair.out.get(), "c", 1, 0), 1);
  int err = 0;
  ASSERT_EQ(in.receive(InChannel::kMaxBatch, &err), InChannel::BatchResult::kDatagrams);
  ASSERT_EQ(in.count(), 3u);
  EXPECT_FALSE(in.truncated(0));
  EXPECT_TRUE(in.truncated(1));
  EXPECT_FALSE(in.truncated(2));
  EXPECT_EQ(in.datagram(2), "c");
  std::string why;
  int records = 0;
  EXPECT_EQ(in.records(1, Limits{}, [&](const RecordHeader&, std::string_view) { ++records; }, &why),
            InChannel::ReadResult::kBad);
  EXPECT_EQ(why, "truncated datagram");
  EXPECT_EQ(records, 0);
}

RecordHeader Chunk(uint64_t seq, uint32_t offset, uint32_t len, uint32_t total) {
  RecordHeader h = DataHeader(1, seq);
  h.offset = offset;
  h.chunk_len = len;
  h.total_len = total;
  h.flags = (offset == 0 ? kFlagFirst : 0) | (offset + len < total ? kFlagMore : 0);
  return h;
}

TEST(Reassembler, WholeMessageInOneRecordIsCompleteAtOnce) {
  Reassembler r;
  std::string_view msg;
  EXPECT_EQ(r.feed(1, Chunk(0, 0, 5, 5), "hello", &msg), Reassembler::Status::kComplete);
  EXPECT_EQ(msg, "hello");
  EXPECT_EQ(r.partials(), 0u);
}

TEST(Reassembler, ContinuationWithoutStartIsOrphan) {
  Reassembler r;
  std::string_view msg;
  EXPECT_EQ(r.feed(1, Chunk(0, 3, 3, 9), "def", &msg), Reassembler::Status::kOrphan);
  EXPECT_EQ(r.feed(1, Chunk(0, 6, 3, 9), "ghi", &msg), Reassembler::Status::kOrphan);
  EXPECT_EQ(r.partials(), 0u);
}

TEST(Reassembler, ChunkAtTheWrongOffsetIsOrphanAndDiscardsThePartial) {
  Reassembler r;
  std::string_view msg;
  ASSERT_EQ(r.feed(1, Chunk(0, 0, 3, 9), "abc", &msg), Reassembler::Status::kPartial);
  EXPECT_EQ(r.feed(1, Chunk(0, 6, 3, 9), "ghi", &msg), Reassembler::Status::kOrphan);  // 3..6 missing
  EXPECT_EQ(r.partials(), 0u);
  EXPECT_EQ(r.feed(1, Chunk(0, 3, 3, 9), "def", &msg), Reassembler::Status::kOrphan);
}

TEST(Reassembler, ChunkOfAnotherRequestIsOrphan) {
  Reassembler r;
  std::string_view msg;
  ASSERT_EQ(r.feed(1, Chunk(0, 0, 3, 6), "abc", &msg), Reassembler::Status::kPartial);
  EXPECT_EQ(r.feed(1, Chunk(1, 3, 3, 6), "def", &msg), Reassembler::Status::kOrphan);
}

TEST(Reassembler, InterleavedMessagesUnderDifferentKeysReassembleIndependently) {
  Reassembler r;
  std::string_view msg;
  ASSERT_EQ(r.feed(10, Chunk(0, 0, 3, 9), "abc", &msg), Reassembler::Status::kPartial);
  ASSERT_EQ(r.feed(20, Chunk(0, 0, 2, 6), "AB", &msg), Reassembler::Status::kPartial);
  ASSERT_EQ(r.feed(10, Chunk(0, 3, 3, 9), "def", &msg), Reassembler::Status::kPartial);
  ASSERT_EQ(r.feed(30, Chunk(0, 0, 1, 1), "z", &msg), Reassembler::Status::kComplete);
  EXPECT_EQ(msg, "z");
  ASSERT_EQ(r.feed(20, Chunk(0, 2, 2, 6), "CD", &msg), Reassembler::Status::kPartial);
  EXPECT_EQ(r.partials(), 2u);
  ASSERT_EQ(r.feed(20, Chunk(0, 4, 2, 6), "EF", &msg), Reassembler::Status::kComplete);
  EXPECT_EQ(msg, "ABCDEF");
  ASSERT_EQ(r.feed(10, Chunk(0, 6, 3, 9), "ghi", &msg), Reassembler::Status::kComplete);
  EXPECT_EQ(msg, "abcdefghi");
  EXPECT_EQ(r.partials(), 0u);
}

TEST(Reassembler, NewStartReplacesAnUnfinishedMessage) {
  Reassembler r;
  std::string_view msg;
  ASSERT_EQ(r.feed(1, Chunk(0, 0, 3, 9), "old", &msg), Reassembler::Status::kPartial);
  ASSERT_EQ(r.feed(1, Chunk(1, 0, 2, 4), "ne", &msg), Reassembler::Status::kPartial);
  ASSERT_EQ(r.feed(1, Chunk(1, 2, 2, 4), "w!", &msg), Reassembler::Status::kComplete);
  EXPECT_EQ(msg, "new!");
}

TEST(Reassembler, DropForgetsThePartialAndForEachPartialListsTheRest) {
  Reassembler r;
  std::string_view msg;
  ASSERT_EQ(r.feed(1, Chunk(4, 0, 1, 2), "a", &msg), Reassembler::Status::kPartial);
  ASSERT_EQ(r.feed(2, Chunk(5, 0, 1, 2), "b", &msg), Reassembler::Status::kPartial);
  r.drop(1);
  std::vector<uint64_t> keys;
  r.forEachPartial([&](uint64_t key, const RecordHeader& h) {
    keys.push_back(key);
    EXPECT_EQ(h.seq, 5u);
  });
  EXPECT_EQ(keys, std::vector<uint64_t>{2});
  EXPECT_EQ(r.feed(1, Chunk(4, 1, 1, 2), "a", &msg), Reassembler::Status::kOrphan);
}


// ---- OutLink ----

struct Progress {
  int calls = 0;
  int drained = 0;
  size_t last_index = 99;
  static void Fn(void* self, size_t index, bool drained) {
    auto* p = static_cast<Progress*>(self);
    ++p->calls;
    p->last_index = index;
    if (drained) ++p->drained;
  }
};

TEST(OutLink, FlushSendsOnlyWhenSomethingIsDue) {
  Pair pair;
  EventLoop loop;
  ASSERT_TRUE(loop.init());
  Progress progress;
  OutLink link(loop.base(), pair.out.get(), 3, &progress, Progress::Fn);
  EXPECT_EQ(link.flush(), OutLink::Flush::kNothing);
  link.append(DataHeader(7, 0), "hello");
  EXPECT_TRUE(link.due());
  EXPECT_EQ(link.flush(), OutLink::Flush::kSent);
  EXPECT_FALSE(link.due());
  EXPECT_EQ(link.flush(), OutLink::Flush::kNothing);
  Receiver rx(pair.in.get());
  rx.drain();
  ASSERT_EQ(rx.records.size(), 1u);
  EXPECT_EQ(rx.records[0].payload, "hello");
  EXPECT_EQ(progress.calls, 0);  // no wait, no callback
}

// A full socket: the link waits for the write event, takes more messages
// meanwhile without trying to send them, and reports the drain once; every
// message arrives whole and in order, including one split into chunks across
// the EAGAIN boundary.
TEST(OutLink, EagainWaitsForTheSocketAndDeliversEverythingInOrder) {
  Pair pair;
  pair.setSendBuffer(64 * 1024);
  EventLoop loop;
  ASSERT_TRUE(loop.init());
  Progress progress;
  OutLink link(loop.base(), pair.out.get(), 5, &progress, Progress::Fn);
  const std::string big = Pattern(3 * kMaxChunk + 123);  // four chunks
  std::vector<std::string> sent;
  for (uint64_t seq = 0; seq < 40; ++seq) {
    sent.push_back(seq == 20 ? big : Pattern(30000 + seq));
    link.append(DataHeader(1, seq), sent.back());
  }
  ASSERT_EQ(link.flush(), OutLink::Flush::kWaiting);
  EXPECT_TRUE(link.waiting());
  EXPECT_GT(link.pendingBytes(), 0u);
  link.append(DataHeader(1, 40), "appended while waiting");
  sent.push_back("appended while waiting");
  EXPECT_EQ(link.flush(), OutLink::Flush::kNothing);  // the write event sends it

  Receiver rx(pair.in.get());
  for (int round = 0; round < 1000 && progress.drained == 0; ++round) {
    rx.drain();
    event_base_loop(loop.base(), EVLOOP_ONCE | EVLOOP_NONBLOCK);
  }
  rx.drain();
  EXPECT_EQ(progress.drained, 1);
  EXPECT_EQ(progress.last_index, 5u);
  EXPECT_FALSE(link.waiting());
  EXPECT_FALSE(link.hasPending());

  Reassembler reassembler;
  std::vector<std::string> got;
  for (const auto& r : rx.records) {
    std::string_view message;
    if (reassembler.feed(1, r.header, r.payload, &message) == Reassembler::Status::kComplete) {
      EXPECT_EQ(r.header.seq, got.size());
      got.emplace_back(message);
    }
  }
  ASSERT_EQ(got.size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) EXPECT_TRUE(got[i] == sent[i]) << "message " << i;
}

TEST(EventLoop, EndOfPassRunsOnceAfterThePassThatAskedForIt) {
  EventLoop loop;
  int runs = 0;
  ASSERT_TRUE(loop.init([](evutil_socket_t, short, void* arg) { ++*static_cast<int*>(arg); }, &runs));
  loop.scheduleEndOfPass();
  loop.scheduleEndOfPass();
  event_base_loop(loop.base(), EVLOOP_ONCE | EVLOOP_NONBLOCK);
  EXPECT_EQ(runs, 1);
  event_base_loop(loop.base(), EVLOOP_ONCE | EVLOOP_NONBLOCK);
  EXPECT_EQ(runs, 1);  // not asked again
  loop.scheduleEndOfPass();
  event_base_loop(loop.base(), EVLOOP_ONCE | EVLOOP_NONBLOCK);
  EXPECT_EQ(runs, 2);
}

}  // namespace
}  // namespace solar::ipc
