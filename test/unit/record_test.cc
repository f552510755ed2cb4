// The IPC record (src/ipc/record.h): encode, decode, and the validation every
// received header goes through before anything in it is trusted.
#include "ipc/record.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <iterator>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "ipc/address_codec.h"

namespace solar::ipc {
namespace {

ClientAddress V4(const char* host, uint16_t port) {
  ClientAddress a;
  auto* in = reinterpret_cast<sockaddr_in*>(&a.storage);
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  EXPECT_EQ(inet_pton(AF_INET, host, &in->sin_addr), 1) << host;
  return a;
}

ClientAddress V6(const char* host, uint16_t port) {
  ClientAddress a;
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  EXPECT_EQ(inet_pton(AF_INET6, host, &in6->sin6_addr), 1) << host;
  return a;
}

// A whole message in one record: first chunk, no more.
RecordHeader WholeHeader(RecordType type, std::string_view payload) {
  RecordHeader h = MakeHeader(type, 0, 7, 3);
  h.chunk_len = static_cast<uint32_t>(payload.size());
  h.total_len = static_cast<uint32_t>(payload.size());
  h.offset = 0;
  return h;
}

std::string OneRecord(const RecordHeader& h, std::string_view payload) {
  std::string out;
  AppendRecord(&out, h, payload);
  return out;
}

// Parses a datagram holding exactly one record and returns the error.
ParseError ParseOne(const std::string& datagram, const Limits& limits = Limits()) {
  RecordReader reader(datagram.data(), datagram.size(), limits);
  RecordHeader h;
  std::string_view payload;
  bool got = reader.next(&h, &payload);
  EXPECT_EQ(got, reader.error() == ParseError::kNone);
  return reader.error();
}

TEST(Record, HeaderRoundTripKeepsEveryFieldAndIpv4Address) {
  RecordHeader h = MakeHeader(RecordType::kData, 0, 123456, 77);
  h.seq = 0x0102030405060708ull;
  h.flags |= kFlagNoReply;
  h.chunk_len = h.total_len = 5;
  SetAddress(&h, V4("10.1.2.3", 4567));
  std::string dgram = OneRecord(h, "hello");

  RecordReader reader(dgram.data(), dgram.size(), Limits());
  RecordHeader got;
  std::string_view payload;
  ASSERT_TRUE(reader.next(&got, &payload)) << ParseErrorName(reader.error());
  EXPECT_EQ(got.magic, kRecordMagic);
  EXPECT_EQ(got.version, kRecordVersion);
  EXPECT_EQ(got.type, static_cast<uint8_t>(RecordType::kData));
  EXPECT_EQ(got.flags, kFlagFirst | kFlagNoReply);
  EXPECT_EQ(got.listener_id, 0);
  EXPECT_EQ(got.conn_id, 123456u);
  EXPECT_EQ(got.conn_gen, 77u);
  EXPECT_EQ(got.seq, 0x0102030405060708ull);
  EXPECT_EQ(payload, "hello");
  EXPECT_EQ(got.addr_family, AF_INET);
  EXPECT_EQ(got.port, 4567);
  ClientAddress addr = GetAddress(got);
  EXPECT_EQ(addr.family(), AF_INET);
  EXPECT_EQ(addr.toString(), "10.1.2.3:4567");
  EXPECT_FALSE(reader.next(&got, &payload));
  EXPECT_EQ(reader.error(), ParseError::kNone);
}

TEST(Record, HeaderRoundTripKeepsIpv6Address) {
  RecordHeader h = WholeHeader(RecordType::kOpen, "");
  SetAddress(&h, V6("2001:db8::42", 443));
  std::string dgram = OneRecord(h, "");

  RecordReader reader(dgram.data(), dgram.size(), Limits());
  RecordHeader got;
  std::string_view payload;
  ASSERT_TRUE(reader.next(&got, &payload)) << ParseErrorName(reader.error());
  EXPECT_EQ(got.addr_family, AF_INET6);
  ClientAddress addr = GetAddress(got);
  EXPECT_EQ(addr.family(), AF_INET6);
  EXPECT_EQ(addr.port(), 443);
  EXPECT_EQ(addr.toString(), "[2001:db8::42]:443");
}

TEST(Record, UnknownAddressRoundTripsAsUnspecified) {
  RecordHeader h = WholeHeader(RecordType::kData, "x");
  SetAddress(&h, V4("1.2.3.4", 5));
  SetAddress(&h, ClientAddress());  // overwrites the previous address entirely
  EXPECT_EQ(h.addr_family, 0);
  EXPECT_EQ(h.port, 0);
  EXPECT_EQ(GetAddress(h).family(), AF_UNSPEC);
  EXPECT_EQ(GetAddress(h).toString(), "-");
}

// The codec that the record, the UDP queue message and the scoreboard share.
TEST(AddressCodec, PacksBothFamiliesAndRefusesAnyOther) {
  uint8_t family = 99, addr[16];
  uint16_t port = 0;
  PackAddress(V4("10.1.2.3", 8080), &family, &port, addr);
  EXPECT_EQ(family, AF_INET);
  EXPECT_EQ(port, 8080);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(addr), 16), std::string("\x0a\x01\x02\x03", 4) + std::string(12, '\0'));
  ClientAddress back;
  ASSERT_TRUE(UnpackAddress(family, port, addr, &back));
  EXPECT_EQ(back.toString(), "10.1.2.3:8080");
  EXPECT_FALSE(UnpackAddress(7, port, addr, &back));
  EXPECT_EQ(back.family(), AF_UNSPEC);
}

TEST(Record, AppendRecordPadsToEightBytes) {
  std::string out;
  AppendRecord(&out, WholeHeader(RecordType::kData, "abc"), "abc");
  EXPECT_EQ(out.size(), RecordSize(3));
  EXPECT_EQ(out.size() % kRecordAlign, 0u);
  EXPECT_EQ(out.size(), sizeof(RecordHeader) + 8);
}

TEST(Record, SeveralRecordsInOneDatagramComeOutInOrder) {
  const std::string payloads[] = {"", "hello", std::string(13, 'z'), "last"};
  std::string dgram;
  uint64_t seq = 0;
  for (const auto& p : payloads) {
    RecordHeader h = WholeHeader(RecordType::kData, p);
    h.seq = seq++;
    AppendRecord(&dgram, h, p);
  }
  RecordReader reader(dgram.data(), dgram.size(), Limits());
  RecordHeader got;
  std::string_view payload;
  for (size_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(reader.next(&got, &payload)) << "record " << i << ": " << ParseErrorName(reader.error());
    EXPECT_EQ(got.seq, i);
    EXPECT_EQ(payload, payloads[i]);
  }
  EXPECT_FALSE(reader.next(&got, &payload));
  EXPECT_EQ(reader.error(), ParseError::kNone);
}

TEST(Record, LastRecordWithoutPaddingIsAccepted) {
  std::string dgram = OneRecord(WholeHeader(RecordType::kReply, "abc"), "abc");
  dgram.resize(sizeof(RecordHeader) + 3);  // drop the padding
  RecordReader reader(dgram.data(), dgram.size(), Limits());
  RecordHeader got;
  std::string_view payload;
  ASSERT_TRUE(reader.next(&got, &payload)) << ParseErrorName(reader.error());
  EXPECT_EQ(payload, "abc");
  EXPECT_FALSE(reader.next(&got, &payload));
  EXPECT_EQ(reader.error(), ParseError::kNone);
}

TEST(Record, EmptyDatagramHasNoRecordsAndNoError) {
  RecordReader reader(nullptr, 0, Limits());
  RecordHeader got;
  std::string_view payload;
  EXPECT_FALSE(reader.next(&got, &payload));
  EXPECT_EQ(reader.error(), ParseError::kNone);
}

TEST(RecordValidation, FewerBytesThanAHeaderIsTruncated) {
  std::string dgram = OneRecord(WholeHeader(RecordType::kData, ""), "");
  dgram.resize(sizeof(RecordHeader) - 1);
  EXPECT_EQ(ParseOne(dgram), ParseError::kTruncated);
}

TEST(RecordValidation, ChunkLenBeyondTheDatagramIsTruncated) {
  std::string payload(50, 'p');
  std::string dgram = OneRecord(WholeHeader(RecordType::kData, payload), payload);
  dgram.resize(sizeof(RecordHeader) + 49);
  EXPECT_EQ(ParseOne(dgram), ParseError::kTruncated);
}

TEST(RecordValidation, WrongMagicIsRefused) {
  RecordHeader h = WholeHeader(RecordType::kData, "x");
  h.magic = 0x4c53;
  EXPECT_EQ(ParseOne(OneRecord(h, "x")), ParseError::kBadMagic);
}

TEST(RecordValidation, WrongVersionIsRefused) {
  RecordHeader h = WholeHeader(RecordType::kData, "x");
  h.version = kRecordVersion + 1;
  EXPECT_EQ(ParseOne(OneRecord(h, "x")), ParseError::kBadVersion);
}

TEST(RecordValidation, TypeZeroOrAboveTheLastIsRefused) {
  RecordHeader h = WholeHeader(RecordType::kData, "x");
  h.type = 0;
  EXPECT_EQ(ParseOne(OneRecord(h, "x")), ParseError::kBadType);
  h.type = kMaxRecordType + 1;
  EXPECT_EQ(ParseOne(OneRecord(h, "x")), ParseError::kBadType);
  h.type = kMaxRecordType;
  EXPECT_EQ(ParseOne(OneRecord(h, "x")), ParseError::kNone);
}

TEST(RecordValidation, UnknownFlagIsRefused) {
  RecordHeader h = WholeHeader(RecordType::kData, "x");
  h.flags |= kKnownFlags + 1;
  EXPECT_EQ(ParseOne(OneRecord(h, "x")), ParseError::kBadFlags);
  h.flags = kFlagFirst | 0x8000;
  EXPECT_EQ(ParseOne(OneRecord(h, "x")), ParseError::kBadFlags);
}

TEST(RecordValidation, TotalLenOverTheLimitIsBadLength) {
  Limits limits;
  limits.max_message = 1000;
  RecordHeader h = WholeHeader(RecordType::kData, "x");
  h.flags = kFlagFirst | kFlagMore;
  h.total_len = 1001;
  EXPECT_EQ(ParseOne(OneRecord(h, "x"), limits), ParseError::kBadLength);
  h.total_len = 1000;
  EXPECT_EQ(ParseOne(OneRecord(h, "x"), limits), ParseError::kNone);
}

TEST(RecordValidation, OffsetPlusChunkBeyondTotalIsBadLength) {
  RecordHeader h = WholeHeader(RecordType::kData, "abcd");
  h.flags = kFlagMore;
  h.offset = 10;
  h.total_len = 12;  // 10 + 4 > 12
  EXPECT_EQ(ParseOne(OneRecord(h, "abcd")), ParseError::kBadLength);
}

TEST(RecordValidation, OffsetNearUint32MaxDoesNotWrapPastTheCheck) {
  RecordHeader h = WholeHeader(RecordType::kData, "abcd");
  h.flags = 0;
  h.offset = 0xfffffffe;
  h.total_len = 2;  // offset + chunk_len wraps to 2 in 32 bits
  EXPECT_EQ(ParseOne(OneRecord(h, "abcd")), ParseError::kBadLength);
}

TEST(RecordValidation, FirstFlagMustMatchOffsetZero) {
  RecordHeader h = WholeHeader(RecordType::kData, "ab");
  h.total_len = 4;
  h.offset = 2;  // a continuation that claims to be first
  h.flags = kFlagFirst;
  EXPECT_EQ(ParseOne(OneRecord(h, "ab")), ParseError::kBadLength);
  h.offset = 0;  // a start without kFlagFirst
  h.flags = kFlagMore;
  EXPECT_EQ(ParseOne(OneRecord(h, "ab")), ParseError::kBadLength);
}

TEST(RecordValidation, LastChunkMustEndTheMessage) {
  RecordHeader h = WholeHeader(RecordType::kData, "ab");
  h.total_len = 4;  // no kFlagMore, yet 2 bytes are missing
  EXPECT_EQ(ParseOne(OneRecord(h, "ab")), ParseError::kBadLength);
}

TEST(RecordValidation, ListenerIdOutOfRangeIsRefused) {
  Limits limits;
  limits.listeners = 2;
  RecordHeader h = WholeHeader(RecordType::kData, "x");
  h.listener_id = 1;
  EXPECT_EQ(ParseOne(OneRecord(h, "x"), limits), ParseError::kNone);
  h.listener_id = 2;
  EXPECT_EQ(ParseOne(OneRecord(h, "x"), limits), ParseError::kBadListener);
}

TEST(RecordValidation, WorkerLostIsNotCheckedAgainstListenerCount) {
  // kWorkerLost comes from the master; conn_id is the worker slot there.
  Limits limits;
  limits.listeners = 1;
  RecordHeader h = WholeHeader(RecordType::kWorkerLost, "");
  h.listener_id = 9;
  EXPECT_EQ(ParseOne(OneRecord(h, ""), limits), ParseError::kNone);
}

TEST(RecordValidation, UnknownAddressFamilyIsRefused) {
  RecordHeader h = WholeHeader(RecordType::kData, "x");
  h.addr_family = AF_UNIX;
  EXPECT_EQ(ParseOne(OneRecord(h, "x")), ParseError::kBadAddress);
}

TEST(RecordValidation, AfterABadRecordNextStaysFalseAndErrorNamesIt) {
  std::string dgram = OneRecord(WholeHeader(RecordType::kData, "good"), "good");
  RecordHeader bad = WholeHeader(RecordType::kData, "bad");
  bad.magic = 0;
  AppendRecord(&dgram, bad, "bad");
  AppendRecord(&dgram, WholeHeader(RecordType::kData, "after"), "after");

  RecordReader reader(dgram.data(), dgram.size(), Limits());
  RecordHeader got;
  std::string_view payload;
  ASSERT_TRUE(reader.next(&got, &payload));
  EXPECT_EQ(payload, "good");
  EXPECT_FALSE(reader.next(&got, &payload));
  EXPECT_EQ(reader.error(), ParseError::kBadMagic);
  EXPECT_STREQ(ParseErrorName(reader.error()), "bad magic");
  EXPECT_FALSE(reader.next(&got, &payload));  // the rest cannot be located
  EXPECT_EQ(reader.error(), ParseError::kBadMagic);
}

TEST(RecordValidation, EveryErrorHasADistinctName) {
  const ParseError all[] = {ParseError::kNone,       ParseError::kTruncated, ParseError::kBadMagic,
                            ParseError::kBadVersion, ParseError::kBadType,   ParseError::kBadFlags,
                            ParseError::kBadLength,  ParseError::kBadListener, ParseError::kBadAddress};
  for (size_t i = 0; i < std::size(all); ++i) {
    for (size_t j = i + 1; j < std::size(all); ++j)
      EXPECT_STRNE(ParseErrorName(all[i]), ParseErrorName(all[j]));
  }
  EXPECT_STREQ(ParseErrorName(ParseError::kTruncated), "truncated");
}

}  // namespace
}  // namespace solar::ipc
