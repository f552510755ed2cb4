#include "codec.h"

#include <cstdint>
#include <cstring>

namespace solar::bench {
namespace {

// 4-byte big-endian length, then the payload (solar's FRAME32).
class Frame32Codec : public Codec {
 public:
  void encode(std::string_view payload, std::string* out) const override {
    const uint32_t n = static_cast<uint32_t>(payload.size());
    const char header[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                            static_cast<char>(n)};
    out->append(header, sizeof(header));
    out->append(payload);
  }

  Decoded decode(std::string_view in, size_t) const override {
    Decoded d;
    if (in.size() < 4) return d;
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    // Bit 31 marks an error reply: the rest is the length of its message.
    const bool error = (p[0] & 0x80) != 0;
    const size_t n = (size_t{p[0] & 0x7fu} << 24) | (size_t{p[1]} << 16) | (size_t{p[2]} << 8) | size_t{p[3]};
    if (n > kMaxReplyBytes) {
      d.status = Decoded::kInvalid;
      return d;
    }
    if (in.size() < 4 + n) return d;
    d.status = Decoded::kReply;
    d.consumed = 4 + n;
    d.payload = in.substr(4, n);
    d.error = error;
    return d;
  }

  size_t overhead() const override { return 4; }
};

// Payload, then '\n' (solar's LINE). A reply ends at '\n', or "\r\n" as many
// line servers write it; neither is part of the payload (and line-safe
// payloads never contain '\r', so nothing real is cut off).
class LineCodec : public Codec {
 public:
  void encode(std::string_view payload, std::string* out) const override {
    out->append(payload);
    out->push_back('\n');
  }

  Decoded decode(std::string_view in, size_t) const override {
    Decoded d;
    const void* nl = std::memchr(in.data(), '\n', in.size());
    if (nl == nullptr) {
      if (in.size() > kMaxReplyBytes) d.status = Decoded::kInvalid;
      return d;
    }
    const size_t n = static_cast<size_t>(static_cast<const char*>(nl) - in.data());
    d.status = Decoded::kReply;
    d.consumed = n + 1;
    d.payload = in.substr(0, n > 0 && in[n - 1] == '\r' ? n - 1 : n);
    return d;
  }

  size_t overhead() const override { return 1; }
};

// No framing: N bytes out, N bytes back. Works against any echo server.
class RawCodec : public Codec {
 public:
  void encode(std::string_view payload, std::string* out) const override { out->append(payload); }

  Decoded decode(std::string_view in, size_t expected_size) const override {
    Decoded d;
    if (in.size() < expected_size) return d;
    d.status = Decoded::kReply;
    d.consumed = expected_size;
    d.payload = in.substr(0, expected_size);
    return d;
  }

  size_t overhead() const override { return 0; }
};

}  // namespace

std::unique_ptr<Codec> MakeCodec(Proto proto) {
  switch (proto) {
    case Proto::kFrame32:
      return std::make_unique<Frame32Codec>();
    case Proto::kLine:
      return std::make_unique<LineCodec>();
    case Proto::kRaw:
      return std::make_unique<RawCodec>();
    case Proto::kUdp:
      break;
  }
  return nullptr;
}

}  // namespace solar::bench
