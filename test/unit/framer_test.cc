// Framers (src/listener/framer.h): cutting a TCP byte stream into requests and
// framing replies, for frame32, line and raw. No sockets: bytes are fed as a
// connection's input buffer would hold them.
#include "listener/framer.h"

#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "base/buffer.h"

namespace solar {
namespace {

using Status = Framer::Status;

std::string Frame32(std::string_view payload) {
  uint32_t n = static_cast<uint32_t>(payload.size());
  std::string out;
  out.push_back(static_cast<char>(n >> 24));
  out.push_back(static_cast<char>(n >> 16));
  out.push_back(static_cast<char>(n >> 8));
  out.push_back(static_cast<char>(n));
  out.append(payload);
  return out;
}

// Takes every whole frame off the front of `input`, as the listener does after a read.
std::vector<std::string> Drain(const Framer& framer, std::string* input, size_t* consumed_total = nullptr) {
  std::vector<std::string> frames;
  Framer::Frame f;
  while (framer.next(*input, 0, &f) == Status::kFrame) {
    frames.push_back(input->substr(f.payload_offset, f.payload_len));
    if (consumed_total != nullptr) *consumed_total += f.consumed;
    input->erase(0, f.consumed);
  }
  return frames;
}

// Feeds `stream` one byte at a time; returns the frames and checks that every
// prefix before a frame's end is kNeedMore.
std::vector<std::string> FeedBytewise(const Framer& framer, std::string_view stream) {
  std::vector<std::string> frames;
  std::string input;
  size_t scanned = 0;
  for (char c : stream) {
    input.push_back(c);
    Framer::Frame f;
    Status s;
    while ((s = framer.next(input, scanned, &f)) == Status::kFrame) {
      frames.push_back(input.substr(f.payload_offset, f.payload_len));
      input.erase(0, f.consumed);
      scanned = 0;
    }
    EXPECT_EQ(s, Status::kNeedMore) << "after " << input.size() << " buffered bytes";
    scanned = input.size();
  }
  EXPECT_TRUE(input.empty()) << input.size() << " bytes left over";
  return frames;
}

std::string Encode(const Framer& framer, std::string_view payload) {
  Buffer out;
  framer.encode(payload, &out);
  return std::string(out.view());
}

// ---- frame32 ----

TEST(Frame32Framer, RequestSplitAcrossReadsNeedsMoreUntilComplete) {
  auto framer = MakeFramer(FRAME32, 1024);
  std::string wire = Frame32("hello world");
  Framer::Frame f;
  for (size_t n = 0; n < wire.size(); ++n) {
    ASSERT_EQ(framer->next(std::string_view(wire).substr(0, n), 0, &f), Status::kNeedMore) << n << " bytes";
    EXPECT_EQ(f.need, n < 4 ? 4u : wire.size()) << n << " bytes";
  }
  ASSERT_EQ(framer->next(wire, 0, &f), Status::kFrame);
  EXPECT_EQ(f.payload_offset, 4u);
  EXPECT_EQ(f.payload_len, 11u);
  EXPECT_EQ(f.consumed, wire.size());
  EXPECT_EQ(wire.substr(f.payload_offset, f.payload_len), "hello world");
}

TEST(Frame32Framer, ByteByByteStreamOfSeveralFramesYieldsEachOnce) {
  auto framer = MakeFramer(FRAME32, 1024);
  std::string wire = Frame32("one") + Frame32("") + Frame32(std::string(300, 'x'));
  auto frames = FeedBytewise(*framer, wire);
  EXPECT_EQ(frames, (std::vector<std::string>{"one", "", std::string(300, 'x')}));
}

TEST(Frame32Framer, SeveralRequestsInOneReadComeOutInOrder) {
  auto framer = MakeFramer(FRAME32, 1024);
  std::string input = Frame32("a") + Frame32("bb") + Frame32("ccc") + Frame32("dd").substr(0, 3);
  const size_t whole = 5 + 6 + 7;
  size_t consumed = 0;
  auto frames = Drain(*framer, &input, &consumed);
  EXPECT_EQ(frames, (std::vector<std::string>{"a", "bb", "ccc"}));
  EXPECT_EQ(consumed, whole);
  EXPECT_EQ(input.size(), 3u);  // the partial header waits
}

TEST(Frame32Framer, EmptyPayloadIsAValidFrame) {
  auto framer = MakeFramer(FRAME32, 1024);
  std::string wire = Frame32("");
  Framer::Frame f;
  ASSERT_EQ(framer->next(wire, 0, &f), Status::kFrame);
  EXPECT_EQ(f.payload_len, 0u);
  EXPECT_EQ(f.consumed, 4u);
}

TEST(Frame32Framer, LengthAboveMaxIsTooLargeFromTheHeaderAlone) {
  auto framer = MakeFramer(FRAME32, 100);
  Framer::Frame f;
  EXPECT_EQ(framer->next(Frame32(std::string(101, 'x')).substr(0, 4), 0, &f), Status::kTooLarge);
  EXPECT_EQ(framer->next(std::string("\xff\xff\xff\xff", 4), 0, &f), Status::kTooLarge);
}

TEST(Frame32Framer, LengthEqualToMaxIsAccepted) {
  auto framer = MakeFramer(FRAME32, 100);
  std::string wire = Frame32(std::string(100, 'x'));
  Framer::Frame f;
  ASSERT_EQ(framer->next(wire, 0, &f), Status::kFrame);
  EXPECT_EQ(f.payload_len, 100u);
}

TEST(Frame32Framer, EncodePrefixesBigEndianLength) {
  auto framer = MakeFramer(FRAME32, 1 << 20);
  EXPECT_EQ(Encode(*framer, "hi"), std::string("\0\0\0\x02hi", 6));
  EXPECT_EQ(Encode(*framer, ""), std::string("\0\0\0\0", 4));
  std::string big(0x010203, 'b');
  std::string encoded = Encode(*framer, big);
  EXPECT_EQ(encoded.substr(0, 4), std::string("\x00\x01\x02\x03", 4));
  EXPECT_EQ(encoded.size(), 4 + big.size());
}

TEST(Frame32Framer, EncodedReplyParsesBackToThePayload) {
  auto framer = MakeFramer(FRAME32, 1024);
  std::string wire = Encode(*framer, "round trip");
  Framer::Frame f;
  ASSERT_EQ(framer->next(wire, 0, &f), Status::kFrame);
  EXPECT_EQ(wire.substr(f.payload_offset, f.payload_len), "round trip");
}

std::string EncodeError(const Framer& framer, std::string_view message, bool* ok) {
  Buffer out;
  *ok = framer.encodeError(message, &out);
  return std::string(out.view());
}

TEST(Frame32Framer, ErrorFrameSetsBit31OfTheLength) {
  auto framer = MakeFramer(FRAME32, 1024);
  bool ok = false;
  EXPECT_EQ(EncodeError(*framer, "no such key", &ok), std::string("\x80\0\0\x0bno such key", 15));
  EXPECT_TRUE(ok);
}

TEST(Frame32Framer, LongErrorMessageIsCutAt64KiBOnACharacterBoundary) {
  auto framer = MakeFramer(FRAME32, 1 << 20);
  // "é" is two bytes: with an odd prefix, byte 65536 is the middle of one.
  const std::string message = "x" + std::string() + [] {
    std::string s;
    for (int i = 0; i < 40000; ++i) s += "\xc3\xa9";
    return s;
  }();
  bool ok = false;
  const std::string wire = EncodeError(*framer, message, &ok);
  ASSERT_TRUE(ok);
  const size_t len = ((size_t{static_cast<unsigned char>(wire[0]) & 0x7fu} << 24) |
                      (size_t{static_cast<unsigned char>(wire[1])} << 16) |
                      (size_t{static_cast<unsigned char>(wire[2])} << 8) | size_t{static_cast<unsigned char>(wire[3])});
  EXPECT_EQ(len, 65535u);  // 1 + 32767 whole characters
  EXPECT_EQ(wire.size(), 4 + len);
  EXPECT_EQ(wire.substr(4), message.substr(0, len));
}

TEST(LineFramer, HasNoErrorFrame) {
  auto framer = MakeFramer(LINE, 1024);
  bool ok = true;
  EXPECT_EQ(EncodeError(*framer, "oops", &ok), "");
  EXPECT_FALSE(ok);
}

TEST(Frame32Framer, UnspecifiedProtocolFallsBackToFrame32) {
  auto framer = MakeFramer(PROTOCOL_UNSPECIFIED, 64);
  EXPECT_EQ(Encode(*framer, "x"), std::string("\0\0\0\x01x", 5));
  EXPECT_EQ(framer->maxFrame(), 64u);
}

// ---- line ----

TEST(LineFramer, RequestSplitAcrossReadsNeedsMoreUntilNewline) {
  auto framer = MakeFramer(LINE, 1024);
  std::string wire = "GET key\n";
  Framer::Frame f;
  for (size_t n = 0; n < wire.size(); ++n)
    ASSERT_EQ(framer->next(std::string_view(wire).substr(0, n), 0, &f), Status::kNeedMore) << n << " bytes";
  ASSERT_EQ(framer->next(wire, 0, &f), Status::kFrame);
  EXPECT_EQ(wire.substr(f.payload_offset, f.payload_len), "GET key");
  EXPECT_EQ(f.consumed, wire.size());
}

TEST(LineFramer, ScannedPrefixIsNotSearchedAgain) {
  auto framer = MakeFramer(LINE, 1024);
  Framer::Frame f;
  ASSERT_EQ(framer->next("abc", 0, &f), Status::kNeedMore);
  ASSERT_EQ(framer->next("abcdef\n", 3, &f), Status::kFrame);
  EXPECT_EQ(f.payload_len, 6u);
  EXPECT_EQ(f.consumed, 7u);
}

TEST(LineFramer, ByteByByteStreamOfSeveralLinesYieldsEachOnce) {
  auto framer = MakeFramer(LINE, 1024);
  auto frames = FeedBytewise(*framer, "one\r\ntwo\n\nthree\r\n");
  EXPECT_EQ(frames, (std::vector<std::string>{"one", "two", "", "three"}));
}

TEST(LineFramer, SeveralRequestsInOneReadComeOutInOrder) {
  auto framer = MakeFramer(LINE, 1024);
  std::string input = "a\nbb\r\n\nccc\ntail";
  size_t consumed = 0;
  auto frames = Drain(*framer, &input, &consumed);
  EXPECT_EQ(frames, (std::vector<std::string>{"a", "bb", "", "ccc"}));
  EXPECT_EQ(consumed, 2u + 4u + 1u + 4u);
  EXPECT_EQ(input, "tail");
}

TEST(LineFramer, CrLfIsStrippedButABareCrInsideTheLineIsKept) {
  auto framer = MakeFramer(LINE, 1024);
  std::string wire = "a\rb\r\n";
  Framer::Frame f;
  ASSERT_EQ(framer->next(wire, 0, &f), Status::kFrame);
  EXPECT_EQ(wire.substr(f.payload_offset, f.payload_len), "a\rb");
  EXPECT_EQ(f.consumed, 5u);
}

TEST(LineFramer, OverlongLineWithoutNewlineIsTooLarge) {
  auto framer = MakeFramer(LINE, 8);
  Framer::Frame f;
  EXPECT_EQ(framer->next("12345678", 0, &f), Status::kNeedMore);  // may still end here
  EXPECT_EQ(framer->next("123456789", 0, &f), Status::kTooLarge);
}

TEST(LineFramer, OverlongCompleteLineIsTooLarge) {
  auto framer = MakeFramer(LINE, 8);
  Framer::Frame f;
  EXPECT_EQ(framer->next("123456789\n", 0, &f), Status::kTooLarge);
  ASSERT_EQ(framer->next("12345678\r\n", 0, &f), Status::kFrame);  // the CR is not payload
  EXPECT_EQ(f.payload_len, 8u);
}

TEST(LineFramer, MaxLengthCrLfLineSplitBeforeTheNewlineIsNotTooLarge) {
  // The same 8-byte line is accepted when "\r\n" arrives together (above); it
  // must not depend on where the TCP stream happened to split.
  auto framer = MakeFramer(LINE, 8);
  Framer::Frame f;
  EXPECT_EQ(framer->next("12345678\r", 0, &f), Status::kNeedMore);
}

TEST(LineFramer, EncodeAppendsNewline) {
  auto framer = MakeFramer(LINE, 1024);
  EXPECT_EQ(Encode(*framer, "VALUE 1"), "VALUE 1\n");
  EXPECT_EQ(Encode(*framer, ""), "\n");
}

// ---- raw ----

TEST(RawFramer, EachReadIsOneRequestAsItCame) {
  auto framer = MakeFramer(RAW, 1024);
  Framer::Frame f;
  EXPECT_EQ(framer->next("", 0, &f), Status::kNeedMore);
  // A request split across two reads arrives as two requests: the worker reassembles.
  ASSERT_EQ(framer->next("hel", 0, &f), Status::kFrame);
  EXPECT_EQ(f.payload_len, 3u);
  EXPECT_EQ(f.consumed, 3u);
  ASSERT_EQ(framer->next("lo", 0, &f), Status::kFrame);
  EXPECT_EQ(f.payload_len, 2u);
}

TEST(RawFramer, SeveralRequestsInOneReadAreOneFrame) {
  auto framer = MakeFramer(RAW, 1024);
  std::string input = "one\ntwo\nthree\n";
  size_t consumed = 0;
  auto frames = Drain(*framer, &input, &consumed);
  EXPECT_EQ(frames, (std::vector<std::string>{"one\ntwo\nthree\n"}));
  EXPECT_EQ(consumed, 14u);
  EXPECT_TRUE(input.empty());
}

TEST(RawFramer, ReadLargerThanMaxIsCutIntoMaxSizedFrames) {
  auto framer = MakeFramer(RAW, 4);
  std::string input = "abcdefghij";
  size_t consumed = 0;
  auto frames = Drain(*framer, &input, &consumed);
  EXPECT_EQ(frames, (std::vector<std::string>{"abcd", "efgh", "ij"}));
  EXPECT_EQ(consumed, 10u);
}

TEST(RawFramer, EncodeWritesThePayloadUnchanged) {
  auto framer = MakeFramer(RAW, 1024);
  EXPECT_EQ(Encode(*framer, std::string("a\0b\n", 4)), std::string("a\0b\n", 4));
}

TEST(Framer, EncodeAppendsAfterExistingOutput) {
  auto framer = MakeFramer(LINE, 1024);
  Buffer out;
  framer->encode("first", &out);
  framer->encode("second", &out);
  EXPECT_EQ(out.view(), "first\nsecond\n");
}

// ---- wrap: the framing the listener writes around a reply in one sendmsg ----

// The bytes head + payload + tail, as the listener's direct write sends them.
std::string Wrapped(const Framer& framer, std::string_view payload) {
  const Framer::Wrap w = framer.wrap(payload.size());
  return std::string(w.head, w.head_len) + std::string(payload) + std::string(w.tail);
}

TEST(FramerWrap, Frame32IsTheLengthWordBeforeThePayload) {
  auto framer = MakeFramer(FRAME32, 1 << 20);
  const Framer::Wrap w = framer->wrap(0x010203);
  ASSERT_EQ(w.head_len, 4u);
  EXPECT_EQ(std::string(w.head, 4), std::string("\x00\x01\x02\x03", 4));
  EXPECT_TRUE(w.tail.empty());
  EXPECT_EQ(Wrapped(*framer, "hello"), Frame32("hello"));
}

TEST(FramerWrap, LineIsANewlineAfterThePayload) {
  auto framer = MakeFramer(LINE, 1024);
  const Framer::Wrap w = framer->wrap(5);
  EXPECT_EQ(w.head_len, 0u);
  EXPECT_EQ(w.tail, "\n");
  EXPECT_EQ(Wrapped(*framer, "hello"), "hello\n");
}

TEST(FramerWrap, RawAddsNothing) {
  auto framer = MakeFramer(RAW, 1024);
  const Framer::Wrap w = framer->wrap(5);
  EXPECT_EQ(w.head_len, 0u);
  EXPECT_TRUE(w.tail.empty());
}

// The buffered path (encode) and the direct one (wrap) put the same bytes on
// the wire, for every protocol and for an empty reply.
TEST(FramerWrap, EncodeWritesWhatWrapFrames) {
  for (Protocol p : {FRAME32, LINE, RAW}) {
    auto framer = MakeFramer(p, 1 << 20);
    for (std::string_view payload : {std::string_view(""), std::string_view("x"), std::string_view("a reply")}) {
      EXPECT_EQ(Encode(*framer, payload), Wrapped(*framer, payload)) << Protocol_Name(p) << " '" << payload << "'";
    }
  }
}

}  // namespace
}  // namespace solar
