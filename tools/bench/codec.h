// Codec: how request payloads are framed on a TCP stream and how replies are
// cut out of it, for --proto frame32, line and raw. Pure: no I/O, no state.
// (UDP needs none: a datagram is a payload.)
// Runs in: solar-bench load threads.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "options.h"

namespace solar::bench {

class Codec {
 public:
  // A reply longer than this means the stream is not what we think it is.
  static constexpr size_t kMaxReplyBytes = 64u << 20;

  struct Decoded {
    enum Status { kNeedMore, kReply, kInvalid } status = kNeedMore;
    size_t consumed = 0;       // wire bytes of the reply, framing included
    std::string_view payload;  // points into the input
    bool error = false;        // an error reply (frame32: bit 31 of the length); payload is the message
  };

  virtual ~Codec() = default;

  // Appends the wire form of `payload` to *out.
  virtual void encode(std::string_view payload, std::string* out) const = 0;

  // Looks for one whole reply at the start of `in`. `expected_size` is the
  // payload size of the oldest request in flight: raw replies have no framing,
  // so "send N bytes, get N bytes back" is the only way to find their end.
  // kInvalid means the stream cannot be resynchronised (the connection must go).
  virtual Decoded decode(std::string_view in, size_t expected_size) const = 0;

  // Framing bytes added to each request (for the transfer statistics).
  virtual size_t overhead() const = 0;
};

// For kFrame32, kLine and kRaw; nullptr for kUdp.
std::unique_ptr<Codec> MakeCodec(Proto proto);

}  // namespace solar::bench
