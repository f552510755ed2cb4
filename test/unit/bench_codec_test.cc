// solar-bench's framing (frame32, line, raw) and the echo workload.
#include <string>

#include <gtest/gtest.h>

#include "../../tools/bench/codec.h"
#include "../../tools/bench/echo_workload.h"
#include "../../tools/bench/workload.h"

namespace solar::bench {
namespace {

TEST(BenchCodec, Frame32PrefixesABigEndianLength) {
  auto codec = MakeCodec(Proto::kFrame32);
  std::string wire;
  codec->encode(std::string(258, 'x'), &wire);
  ASSERT_EQ(wire.size(), 262u);
  EXPECT_EQ(wire.substr(0, 4), std::string("\0\0\x01\x02", 4));
  EXPECT_EQ(codec->overhead(), 4u);
}

TEST(BenchCodec, Frame32WaitsForAWholeFrameAndCutsOneAtATime) {
  auto codec = MakeCodec(Proto::kFrame32);
  std::string wire;
  codec->encode("hello", &wire);
  codec->encode("", &wire);
  codec->encode("world", &wire);
  for (size_t cut = 0; cut < 9; ++cut) {
    EXPECT_EQ(codec->decode(std::string_view(wire).substr(0, cut), 0).status, Codec::Decoded::kNeedMore) << cut;
  }
  std::string_view in = wire;
  for (const char* expected : {"hello", "", "world"}) {
    const Codec::Decoded d = codec->decode(in, 0);
    ASSERT_EQ(d.status, Codec::Decoded::kReply);
    EXPECT_EQ(d.payload, expected);
    in.remove_prefix(d.consumed);
  }
  EXPECT_TRUE(in.empty());
}

TEST(BenchCodec, Frame32ErrorBitMarksAnErrorReplyWithItsMessage) {
  auto codec = MakeCodec(Proto::kFrame32);
  const std::string wire = std::string("\x80\0\0\x04", 4) + "oops" + std::string("\0\0\0\x02", 4) + "ok";
  const Codec::Decoded error = codec->decode(wire, 0);
  ASSERT_EQ(error.status, Codec::Decoded::kReply);
  EXPECT_TRUE(error.error);
  EXPECT_EQ(error.payload, "oops");
  EXPECT_EQ(error.consumed, 8u);
  const Codec::Decoded next = codec->decode(std::string_view(wire).substr(error.consumed), 0);
  ASSERT_EQ(next.status, Codec::Decoded::kReply);
  EXPECT_FALSE(next.error);
  EXPECT_EQ(next.payload, "ok");
}

TEST(BenchCodec, Frame32LengthBeyondTheLimitIsInvalid) {
  auto codec = MakeCodec(Proto::kFrame32);
  EXPECT_EQ(codec->decode(std::string("\x7f\xff\xff\xff", 4), 0).status, Codec::Decoded::kInvalid);
}

TEST(BenchCodec, LineRepliesEndAtTheNewline) {
  auto codec = MakeCodec(Proto::kLine);
  std::string wire;
  codec->encode("abc", &wire);
  EXPECT_EQ(wire, "abc\n");
  EXPECT_EQ(codec->decode("ab", 2).status, Codec::Decoded::kNeedMore);
  const Codec::Decoded d = codec->decode("abc\ndef\n", 3);
  ASSERT_EQ(d.status, Codec::Decoded::kReply);
  EXPECT_EQ(d.payload, "abc");
  EXPECT_EQ(d.consumed, 4u);
  const Codec::Decoded crlf = codec->decode("abc\r\n", 3);
  ASSERT_EQ(crlf.status, Codec::Decoded::kReply);
  EXPECT_EQ(crlf.payload, "abc");
  EXPECT_EQ(crlf.consumed, 5u);
}

TEST(BenchCodec, RawRepliesAreAsLongAsTheRequest) {
  auto codec = MakeCodec(Proto::kRaw);
  std::string wire;
  codec->encode("abc", &wire);
  EXPECT_EQ(wire, "abc");
  EXPECT_EQ(codec->decode("ab", 3).status, Codec::Decoded::kNeedMore);
  const Codec::Decoded d = codec->decode("abcdef", 3);
  ASSERT_EQ(d.status, Codec::Decoded::kReply);
  EXPECT_EQ(d.payload, "abc");
  EXPECT_EQ(codec->overhead(), 0u);
}

TEST(BenchCodec, UdpNeedsNoCodec) { EXPECT_EQ(MakeCodec(Proto::kUdp), nullptr); }

TEST(BenchWorkload, EchoIsRegisteredByName) {
  EXPECT_TRUE(WorkloadRegistry::Instance().contains("echo"));
  EXPECT_EQ(WorkloadRegistry::Instance().make("no-such-workload", WorkloadParams{}), nullptr);
}

TEST(BenchWorkload, EchoPayloadsStayInTheSizeRangeAndDiffer) {
  WorkloadParams params;
  params.size_min = 10;
  params.size_max = 20;
  auto echo = WorkloadRegistry::Instance().make("echo", params);
  Rng rng(1);
  std::string a, b;
  bool saw_min = false, saw_max = false;
  for (int i = 0; i < 1000; ++i) {
    echo->makeRequest(rng, &a);
    ASSERT_GE(a.size(), 10u);
    ASSERT_LE(a.size(), 20u);
    saw_min |= a.size() == 10;
    saw_max |= a.size() == 20;
  }
  EXPECT_TRUE(saw_min && saw_max);
  echo->makeRequest(rng, &b);
  EXPECT_NE(a, b);
}

TEST(BenchWorkload, EchoAcceptsOnlyTheExactBytesBack) {
  auto echo = WorkloadRegistry::Instance().make("echo", WorkloadParams{});
  Rng rng(2);
  std::string request;
  echo->makeRequest(rng, &request);
  EXPECT_EQ(echo->checkReply(request, request), ReplyCheck::kOk);
  std::string flipped = request;
  flipped[flipped.size() / 2] ^= 0x01;
  EXPECT_EQ(echo->checkReply(request, flipped), ReplyCheck::kMismatch);
  EXPECT_EQ(echo->checkReply(request, request.substr(1)), ReplyCheck::kMismatch);
  EXPECT_EQ(echo->checkReply(request, request + "x"), ReplyCheck::kMismatch);
}

TEST(BenchWorkload, EchoPayloadsForTheLineProtocolHaveNoLineEndings) {
  WorkloadParams params;
  params.size_min = params.size_max = 4000;
  params.line_safe = true;
  auto echo = WorkloadRegistry::Instance().make("echo", params);
  Rng rng(3);
  std::string request;
  for (int i = 0; i < 100; ++i) {
    echo->makeRequest(rng, &request);
    ASSERT_EQ(request.find('\n'), std::string::npos);
    ASSERT_EQ(request.find('\r'), std::string::npos);
  }
}

}  // namespace
}  // namespace solar::bench
