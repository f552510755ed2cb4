// One client connection held by a listener (DESIGN.md "TCP path").
// Runs in: listener.
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "api/request.h"
#include "base/buffer.h"
#include "base/event_ptr.h"
#include "base/noncopyable.h"
#include "base/unique_fd.h"

namespace solar {

class Listener;

class Connection : NonCopyable {
 public:
  Connection(Listener* owner, UniqueFd fd, uint32_t slot, uint32_t generation, size_t worker,
             const ClientAddress& peer)
      : owner_(owner), fd_(std::move(fd)), slot_(slot), generation_(generation), worker_(worker), peer_(peer) {}

  // The listener that holds it: its events' callbacks reach it through here.
  Listener* owner() const { return owner_; }

  int fd() const { return fd_.get(); }
  uint32_t slot() const { return slot_; }
  uint32_t generation() const { return generation_; }
  size_t worker() const { return worker_; }
  const ClientAddress& peer() const { return peer_; }

  Buffer& input() { return input_; }
  Buffer& output() { return output_; }

  // Requests forwarded and not yet answered (written back, in order).
  uint64_t outstanding() const { return next_seq_ - next_reply_seq_; }
  uint64_t takeSeq() { return next_seq_++; }
  uint64_t expectedReplySeq() const { return next_reply_seq_; }
  void replied() { ++next_reply_seq_; }

  // PER_REQUEST: the requests forwarded and not yet written back, in seq
  // order: where each went, and a reply that came before its turn.
  struct InFlight {
    uint64_t seq = 0;
    uint32_t worker = 0;
    bool done = false;   // its reply arrived (held in `reply` until its turn)
    uint16_t flags = 0;  // the reply's record flags
    std::string reply;
  };
  std::vector<InFlight> in_flight;

  size_t scanned = 0;          // input bytes known to hold no delimiter (line framer)
  bool read_closed = false;    // the client sent EOF
  bool read_paused = false;    // backpressure: not reading now
  bool waiting_channel = false;  // listed in its worker queue's paused list
  bool close_after = false;    // close once the output is written
  bool write_armed = false;    // EV_WRITE is pending
  bool dirty = false;          // has output to write at the end of this loop pass
  int64_t last_active_ms = 0;  // NowMonotonicMs()
  int64_t partial_since_ms = 0;  // when the incomplete request in input() began; 0: none
  int64_t write_blocked_ms = 0;  // replies wait and the client took no byte since then; 0: none wait
  EventPtr read_ev;
  EventPtr write_ev;

 private:
  Listener* const owner_;
  UniqueFd fd_;
  uint32_t slot_;
  uint32_t generation_;
  size_t worker_;
  ClientAddress peer_;
  Buffer input_;
  Buffer output_;
  uint64_t next_seq_ = 0;
  uint64_t next_reply_seq_ = 0;
};

}  // namespace solar
