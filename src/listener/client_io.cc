// Client I/O: reading in 8 KiB chunks, framing, forwarding tagged records to
// the connection's worker, writing replies, and backpressure both ways.
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <glog/logging.h>

#include "base/sys_result.h"
#include "listener/listener_impl.h"

namespace solar {

void Listener::ClientReadCb(evutil_socket_t, short, void* arg) {
  auto* c = static_cast<Connection*>(arg);
  c->owner()->onClientRead(c);
}
void Listener::ClientWriteCb(evutil_socket_t, short, void* arg) {
  auto* c = static_cast<Connection*>(arg);
  c->owner()->onClientWrite(c);
}

void Listener::onClientRead(Connection* c) {
  if (readInput(c, kReadsPerEvent)) maybeFinish(c);
}

bool Listener::readInput(Connection* c, int max_reads) {
  for (int i = 0; i < max_reads; ++i) {
    Buffer& in = c->input();
    in.ensureWritable(kReadChunk);
    ssize_t n = ::read(c->fd(), in.writePtr(), kReadChunk);
    if (n > 0) {
      in.hasWritten(static_cast<size_t>(n));
      c->last_active_ms = NowCoarseMs();
      if (!frameInput(c)) return false;  // closed
      if (c->read_paused || static_cast<size_t>(n) < kReadChunk) break;
      continue;
    }
    if (n == 0) {  // EOF: answer what was asked, then close
      c->read_closed = true;
      event_del(c->read_ev.get());
      break;
    }
    if (errno == EINTR) continue;
    if (IsAgain(errno)) break;
    closeConnection(c);  // ECONNRESET and friends: the client is gone
    return false;
  }
  return true;
}

bool Listener::frameInput(Connection* c) {
  Buffer& in = c->input();
  bool framed = false;
  bool held_back = false;  // PER_REQUEST: whole requests wait for an in-flight one
  while (!c->close_after) {
    if (per_request_ && c->outstanding() >= max_in_flight_) {
      held_back = true;
      break;
    }
    Framer::Frame f;
    Framer::Status st = framer_->next(in.view(), c->scanned, &f);
    if (st == Framer::Status::kTooLarge) {
      Add(ctx_.slot, kOversized);
      LOG_EVERY_T(WARNING, 1) << "listener " << id_ << ": frame over max_frame_bytes ("
                              << config_.max_frame_bytes() << ") from " << c->peer().toString()
                              << "; closing the connection";
      closeConnection(c);
      return false;
    }
    if (st == Framer::Status::kNeedMore) {
      c->scanned = in.readable();
      // Grow towards the announced length, but never past twice what has
      // arrived: a header alone must not make the listener reserve (and
      // zero-fill) max_frame_bytes. Doubling keeps big frames to a few copies.
      if (f.need > in.readable()) in.ensureWritable(std::min(f.need - in.readable(), in.readable() + kReadChunk));
      break;
    }
    if (!forwardFrame(c, f)) return false;  // closed
    framed = true;
  }
  // The read deadline runs from the first byte of an incomplete request (not
  // while whole requests wait here for their turn).
  if (in.readable() == 0 || held_back) {
    c->partial_since_ms = 0;
  } else if (framed || c->partial_since_ms == 0) {
    c->partial_since_ms = NowCoarseMs();
  }
  in.shrinkIfEmpty(1u << 20);
  if (workers_[queueOf(c)].out->pendingBytes() > kChannelHighWater && !c->read_paused) {
    pauseRead(c);
    waitForChannel(c);
  }
  // Requests waiting for their turn are not read without bound: a reply
  // resumes reading (handleReply).
  if (held_back && in.readable() > kHeldBackBytes) pauseRead(c);
  return true;
}

bool Listener::forwardFrame(Connection* c, const Framer::Frame& f) {
  Buffer& in = c->input();
  const size_t w = per_request_ ? pickWorker() : c->worker();
  if (w == Dispatcher::kNone || worker_down_[w]) {
    // Nobody can take it: a prompt close, not a wait for a worker that keeps failing to start.
    Add(ctx_.slot, kUnavailableClosed);
    LOG_EVERY_T(WARNING, 5) << "listener " << id_ << ": "
                            << (w == Dispatcher::kNone ? std::string("no worker can start")
                                                       : "worker " + std::to_string(w) + " cannot start")
                            << "; closing " << c->peer().toString() << " instead of queueing its request";
    closeConnection(c);
    return false;
  }
  const uint64_t seq = c->takeSeq();
  if (per_request_) {
    c->in_flight.push_back(Connection::InFlight{seq, static_cast<uint32_t>(w), false, 0, {}});
    countRequest(w, +1);
  }
  forward(c, w, RecordType::kData, in.view().substr(f.payload_offset, f.payload_len), seq);
  in.retrieve(f.consumed);
  c->scanned = 0;
  return true;
}

// Reading `c` resumes when its worker's queue in this listener drains.
void Listener::waitForChannel(Connection* c) {
  if (c->waiting_channel) return;
  c->waiting_channel = true;
  workers_[queueOf(c)].paused.emplace_back(c->slot(), c->generation());
}

// PER_REQUEST: the least busy worker, counting every listener's requests.
// Outstanding counts alone would send a request behind a slow one: a worker
// running one 200 ms query has 1 outstanding while workers that answer fast
// requests may have 3 queued. So a worker with requests of ours that has
// answered none of them for kSlowRequestMs counts as busier than any worker
// that is making progress; among stuck workers the counts decide. The
// listener judges from its own replies (no cross-process reads on the hot
// path: a worker's slot line would bounce between the cores on every
// request); the threshold only has to separate "finishing" from "held up".
size_t Listener::pickWorker() {
  const size_t active = ctx_.header->active_workers.load(std::memory_order_relaxed);
  int64_t now = 0;  // read once, and only when no worker is idle
  return dispatcher_.pickLeastBusy(active, [this, &now](size_t w) {
    const uint64_t load = requestsOn(w);
    // An idle-looking worker may be a slot waiting out its respawn back-off:
    // its requests would wait for the respawn while others are free
    // (running_ is refreshed from the scoreboard every tick, off the hot path).
    if (load == 0) return running_[w] ? load : 2 * kStuckPenalty;
    if (requests_[w] == 0) return load;
    if (now == 0) now = NowMonotonicMs();
    return now - progress_ms_[w] >= kSlowRequestMs ? load + kStuckPenalty : load;
  });
}

// Refreshes running_ (onTick): the pids are written by the master alone.
void Listener::refreshRunning() {
  for (size_t w = 0; w < running_.size(); ++w) running_[w] = workerRunning(w);
}

bool Listener::workerRunning(size_t w) const {
  if (ctx_.board == nullptr) return true;
  const size_t first = config_.listeners() + 2 * w;  // the worker's two slots (reload hand-over)
  return ctx_.board->slot(first).pid.load(std::memory_order_relaxed) != 0 ||
         ctx_.board->slot(first + 1).pid.load(std::memory_order_relaxed) != 0;
}

uint64_t Listener::requestsOn(size_t w) const {
  uint64_t n = requests_[w];
  const size_t listeners = config_.listeners();
  if (listeners > 1 && ctx_.board != nullptr) {
    for (size_t l = 0; l < listeners; ++l) {  // listener l's scoreboard slot is l
      if (l != id_) n += ctx_.board->listener(l)->requests_per_worker[w].load(std::memory_order_relaxed);
    }
  }
  return n;
}

void Listener::countRequest(size_t w, int delta) {
  if (delta < 0 && requests_[w] == 0) return;
  if (delta > 0 && requests_[w] == 0) progress_ms_[w] = NowMonotonicMs();  // busy from now on
  requests_[w] += delta;
  ctx_.listener_slot->requests_per_worker[w].store(requests_[w], std::memory_order_relaxed);
}

void Listener::forward(Connection* c, size_t worker, RecordType type, std::string_view payload, uint64_t seq) {
  if (type == RecordType::kData) Add(ctx_.slot, kRequests);  // solarctl status shows them per listener
  RecordHeader h = ipc::MakeHeader(type, id_, c->slot(), c->generation());
  h.seq = seq;
  ipc::SetAddress(&h, c->peer());
  workers_[worker].out->append(h, payload);
  scheduleFlush();
}

void Listener::onClientWrite(Connection* c) {
  if (writeOut(c)) maybeFinish(c);
}

// The last reply a connection waits for goes to its socket at once, with one
// sendmsg of the framing and the bytes still in the worker's datagram: no
// copy into the output buffer. Only when nothing is queued before it (order)
// and no other reply is due (several replies of one pass go out in one write
// through the buffer instead). Bytes the socket does not take are buffered
// and the usual path (markDirty, writeOut) goes on from there, as it does for
// a failed write: the error comes back there and closes the connection, so
// that no caller here is left holding a closed one. False: not taken (the
// caller buffers the whole reply).
bool Listener::writeReplyNow(Connection* c, std::string_view message) {
  if (c->outstanding() != 0 || c->output().readable() != 0 || c->write_armed) return false;
  const Framer::Wrap w = framer_->wrap(message.size());
  iovec iov[3];
  int n = 0;
  for (std::string_view piece : {std::string_view(w.head, w.head_len), message, w.tail}) {
    if (!piece.empty()) iov[n++] = {const_cast<char*>(piece.data()), piece.size()};
  }
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = static_cast<size_t>(n);
  const auto r = RetryEintr([&] { return ::sendmsg(c->fd(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT); });
  size_t written = r.ok() ? static_cast<size_t>(r.value) : 0;
  if (written == w.head_len + message.size() + w.tail.size()) return true;
  Buffer& out = c->output();  // the rest, from where the socket stopped
  for (int i = 0; i < n; ++i) {
    const size_t skip = std::min(written, iov[i].iov_len);
    written -= skip;
    if (skip < iov[i].iov_len) out.append({static_cast<const char*>(iov[i].iov_base) + skip, iov[i].iov_len - skip});
  }
  return true;
}

// Writes what it can. Returns false if the connection was closed.
bool Listener::writeOut(Connection* c) {
  Buffer& out = c->output();
  bool progress = false;
  while (out.readable() > 0) {
    ssize_t n = ::send(c->fd(), out.peek(), out.readable(), MSG_NOSIGNAL);
    if (n > 0) {
      out.retrieve(static_cast<size_t>(n));
      progress = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && IsAgain(errno)) break;
    closeConnection(c);  // EPIPE, ECONNRESET
    return false;
  }
  out.shrinkIfEmpty(1u << 20);
  if (out.readable() > 0) {
    // send_timeout_ms runs from the last byte the client took (onTick).
    if (progress || c->write_blocked_ms == 0) c->write_blocked_ms = NowMonotonicMs();
    if (!c->write_armed) {
      if (event_add(c->write_ev.get(), nullptr) != 0) {  // its replies could never leave
        LOG_EVERY_T(ERROR, 1) << "listener " << id_ << ": event_add() of a write event failed; closing the connection";
        closeConnection(c);
        return false;
      }
      c->write_armed = true;
    }
    // A client that does not read its replies stops being read (backpressure).
    if (out.readable() > config_.output_high_water_bytes()) pauseRead(c);
  } else {
    c->write_blocked_ms = 0;
    if (c->write_armed) {
      event_del(c->write_ev.get());
      c->write_armed = false;
    }
    if (c->read_paused && !c->read_closed && !c->close_after) {
      // Output drained; the other reasons to pause may still hold.
      if (workers_[queueOf(c)].out->pendingBytes() <= kChannelHighWater) {
        if (per_request_ && c->outstanding() >= max_in_flight_ && c->input().readable() > kHeldBackBytes) return true;
        return resumeRead(c);
      }
      waitForChannel(c);
    }
  }
  return true;
}

void Listener::pauseRead(Connection* c) {
  if (c->read_paused) return;
  c->read_paused = true;
  event_del(c->read_ev.get());
}

bool Listener::resumeRead(Connection* c) {
  if (!c->read_paused) return true;
  c->read_paused = false;
  if (c->read_closed || c->close_after) return true;
  if (event_add(c->read_ev.get(), nullptr) != 0) {  // it could never be read again
    LOG_EVERY_T(ERROR, 1) << "listener " << id_ << ": event_add() of a read event failed; closing the connection";
    closeConnection(c);
    return false;
  }
  // While paused the client could not send the rest: its deadline restarts.
  if (c->partial_since_ms != 0) c->partial_since_ms = NowMonotonicMs();
  // Bytes may already be buffered (read before the pause): frame them now.
  return c->input().readable() == 0 || frameInput(c);
}

void Listener::markDirty(Connection* c) {
  if (c->dirty) return;
  c->dirty = true;
  dirty_.emplace_back(c->slot(), c->generation());
  scheduleFlush();
}

// Closes the connection when nothing more will be written to it.
void Listener::maybeFinish(Connection* c) {
  if (c->output().readable() > 0) return;
  if (c->close_after || (c->read_closed && c->outstanding() == 0)) closeConnection(c);
}

void Listener::closeConnection(Connection* c) {
  if (per_request_) {
    // Its unanswered requests no longer count against their workers (a reply
    // that still comes is stale), and no half reply of theirs is kept.
    for (const auto& r : c->in_flight) {
      if (r.done) continue;
      countRequest(r.worker, -1);
      reassembler_.drop(replyKey(c->slot(), r.seq));
    }
  } else {
    forward(c, c->worker(), RecordType::kClose, {}, 0);  // the worker runs onClose and frees its state
    dispatcher_.release(c->worker());
    ctx_.listener_slot->conns_per_worker[c->worker()].fetch_sub(1, std::memory_order_relaxed);
    reassembler_.drop(c->slot());
  }
  uint32_t slot = c->slot();
  conns_[slot].reset();  // closes the fd, frees the events
  free_slots_.push_back(slot);
  --live_;
  Sub(ctx_.slot, kConnections);
}

Connection* Listener::lookup(uint32_t slot, uint32_t gen) {
  if (slot >= conns_.size()) return nullptr;
  Connection* c = conns_[slot].get();
  return c != nullptr && c->generation() == gen ? c : nullptr;
}


}  // namespace solar
