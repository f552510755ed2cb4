// Framers: cut a TCP byte stream into whole requests, and frame replies.
// Pure and stateless, tested without sockets (STYLE rule 11).
//   frame32: 4-byte big-endian length, then that many payload bytes. A reply
//            whose length word has bit 31 set is an error reply: the low 31
//            bits give the length of the UTF-8 message that follows.
//   line:    bytes up to '\n' (a '\r' before it is dropped too).
//   raw:     whatever has arrived is one request (seed 003: each read forwarded).
// Runs in: listener.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "base/buffer.h"
#include "config.pb.h"

namespace solar {

class Framer {
 public:
  enum class Status { kFrame, kNeedMore, kTooLarge };
  struct Frame {
    size_t payload_offset = 0;  // from the start of `data`
    size_t payload_len = 0;
    size_t consumed = 0;        // bytes to retrieve from the input
    size_t need = 0;            // kNeedMore: total bytes the frame needs, when known
  };

  explicit Framer(uint32_t max_frame) : max_frame_(max_frame) {}
  virtual ~Framer() = default;

  // Looks for one request at the start of `data`. `scanned` bytes at the start
  // are known to hold no delimiter (line), so a long line is scanned once.
  virtual Status next(std::string_view data, size_t scanned, Frame* frame) const = 0;
  // The bytes a reply of `payload_len` bytes goes between on the wire, so that
  // the listener can write head, payload and tail with one writev straight
  // from the worker's datagram, with no copy (frame32: the length word; line:
  // the newline; raw: nothing).
  struct Wrap {
    char head[4];
    size_t head_len = 0;
    std::string_view tail;
  };
  virtual Wrap wrap(size_t payload_len) const = 0;
  // Appends `payload` framed for the client to `out` (head, payload, tail).
  void encode(std::string_view payload, Buffer* out) const;
  // Appends an error reply carrying `message`; false when the protocol has
  // none (then the connection must be closed instead).
  virtual bool encodeError(std::string_view, Buffer*) const { return false; }

  uint32_t maxFrame() const { return max_frame_; }

 protected:
  uint32_t max_frame_;
};

std::unique_ptr<Framer> MakeFramer(Protocol protocol, uint32_t max_frame);

}  // namespace solar
