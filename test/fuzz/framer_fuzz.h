// The body of the three framer targets (frame32_fuzz.cc, line_fuzz.cc,
// raw_fuzz.cc): a TCP byte stream cut into requests by MakeFramer(protocol),
// as the listener's frameInput does it (src/listener/client_io.cc).
//
// Input: two bytes of max_frame_bytes (1..65536), one byte that seeds how the
// stream is split into reads, then the stream.
// Beyond "no crash": every frame lies inside the buffered bytes and within
// max_frame; a frame consumes at least one byte (else the listener would loop);
// kNeedMore's `need` is past what is buffered; the frames and the final verdict
// do not depend on how the stream was split into reads; a framed payload
// encoded as a reply and framed again comes back the same.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/buffer.h"
#include "fuzz_support.h"
#include "listener/framer.h"

namespace solar::fuzz {

struct Framed {
  std::vector<std::string> frames;
  bool too_large = false;
};

inline void CheckFrame(const Framer& framer, std::string_view data, const Framer::Frame& f) {
  FUZZ_CHECK(f.consumed > 0);
  FUZZ_CHECK(f.consumed <= data.size());
  FUZZ_CHECK(f.payload_offset + f.payload_len <= f.consumed);
  FUZZ_CHECK(f.payload_len <= framer.maxFrame());
}

// The whole stream in one buffer: the reference.
inline Framed FrameAtOnce(const Framer& framer, std::string_view stream) {
  Framed out;
  for (;;) {
    Framer::Frame f;
    Framer::Status st = framer.next(stream, 0, &f);
    if (st == Framer::Status::kTooLarge) {
      out.too_large = true;
      return out;
    }
    if (st == Framer::Status::kNeedMore) return out;
    CheckFrame(framer, stream, f);
    out.frames.emplace_back(stream.substr(f.payload_offset, f.payload_len));
    stream.remove_prefix(f.consumed);
  }
}

// Read by read, into a Buffer, with `scanned` kept between reads as the listener does.
inline Framed FrameByReads(const Framer& framer, std::string_view stream, uint8_t seed) {
  Framed out;
  Buffer in;
  size_t scanned = 0;
  uint32_t lcg = seed;
  while (!stream.empty()) {
    lcg = lcg * 1103515245u + 12345u;
    const size_t n = std::min<size_t>(stream.size(), 1 + (lcg >> 16) % 64);
    in.ensureWritable(n);
    in.append(stream.substr(0, n));
    stream.remove_prefix(n);
    for (;;) {
      Framer::Frame f;
      Framer::Status st = framer.next(in.view(), scanned, &f);
      if (st == Framer::Status::kTooLarge) {
        out.too_large = true;
        return out;
      }
      if (st == Framer::Status::kNeedMore) {
        FUZZ_CHECK(f.need == 0 || f.need > in.readable());
        scanned = in.readable();
        if (f.need > in.readable()) in.ensureWritable(std::min(f.need - in.readable(), in.readable() + 16));
        break;
      }
      CheckFrame(framer, in.view(), f);
      out.frames.emplace_back(in.view().substr(f.payload_offset, f.payload_len));
      in.retrieve(f.consumed);
      scanned = 0;
    }
  }
  return out;
}

// A reply framed by encode() and cut again gives the payload back. LINE cannot
// carry a payload that ends in '\r' (the reader drops it before the '\n').
inline void CheckEncodeRoundTrip(const Framer& framer, Protocol protocol, const std::string& payload) {
  if (protocol == LINE && !payload.empty() && payload.back() == '\r') return;
  Buffer out;
  framer.encode(payload, &out);
  Framer::Frame f;
  FUZZ_CHECK(framer.next(out.view(), 0, &f) == Framer::Status::kFrame);
  FUZZ_CHECK(f.consumed == out.readable());
  FUZZ_CHECK(out.view().substr(f.payload_offset, f.payload_len) == payload);
}

inline int FuzzFramer(Protocol protocol, const uint8_t* data, size_t size) {
  static const bool quiet = (QuietLogs(), true);
  (void)quiet;
  Bytes in(data, size);
  const uint32_t max_frame = 1u + in.u16();
  const uint8_t seed = in.u8();
  const std::string_view stream(reinterpret_cast<const char*>(in.rest()), in.left());
  const auto framer = MakeFramer(protocol, max_frame);
  FUZZ_CHECK(framer != nullptr && framer->maxFrame() == max_frame);

  const Framed whole = FrameAtOnce(*framer, stream);
  const Framed reads = FrameByReads(*framer, stream, seed);
  if (protocol != RAW) {  // raw's frames are the reads themselves
    FUZZ_CHECK(whole.too_large == reads.too_large);
    FUZZ_CHECK(whole.frames == reads.frames);
  } else {
    std::string joined, again;
    for (const auto& f : whole.frames) joined += f;
    for (const auto& f : reads.frames) again += f;
    FUZZ_CHECK(joined == stream && again == stream);
  }
  for (const auto& payload : whole.frames) CheckEncodeRoundTrip(*framer, protocol, payload);
  return 0;
}

}  // namespace solar::fuzz
