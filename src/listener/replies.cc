// The workers' side: replies and the master's worker-lost notices arriving
// on this listener's socketpair, and flushing the queues towards the workers.
#include <unistd.h>

#include <cstring>

#include <glog/logging.h>

#include "base/sys_result.h"
#include "listener/listener_impl.h"

namespace solar {

// ---- replies from workers ----

void Listener::onReplies() {
  auto on_record = [this](const RecordHeader& h, std::string_view payload) {
    switch (static_cast<RecordType>(h.type)) {
      case RecordType::kReply: handleReply(h, payload); break;
      case RecordType::kWorkerLost: handleWorkerLost(h, payload); break;
      case RecordType::kWorkerState: handleWorkerState(h); break;
      default:
        Add(ctx_.slot, kBadRecords);
        LOG_EVERY_T(ERROR, 5) << "listener " << id_ << ": unexpected record type " << int{h.type};
    }
  };
  if (per_request_) replies_now_ms_ = NowMonotonicMs();
  for (int i = 0; i < kReplyBatchesPerEvent; ++i) {
    int err = 0;
    const auto r = from_workers_.receive(ipc::InChannel::kMaxBatch, &err);
    if (r == ipc::InChannel::BatchResult::kAgain) break;
    if (r == ipc::InChannel::BatchResult::kError) {
      Add(ctx_.slot, kBadRecords);
      LOG_EVERY_T(ERROR, 5) << "listener " << id_ << ": from the workers' socketpair: "
                            << ipc::InChannel::describeError(err);
      break;
    }
    for (size_t d = 0; d < from_workers_.count(); ++d) {
      std::string why;
      if (from_workers_.records(d, limits_, on_record, &why) == ipc::InChannel::ReadResult::kRecords) continue;
      Add(ctx_.slot, kBadRecords);
      LOG_EVERY_T(ERROR, 5) << "listener " << id_ << ": from the workers' socketpair: " << why;
    }
    if (from_workers_.drained()) break;  // a short batch: nothing more is waiting
  }
}

void Listener::handleReply(const RecordHeader& h, std::string_view chunk) {
  Connection* c = lookup(h.conn_id, h.conn_gen);
  if (c == nullptr) {
    // Closed, or from before this listener restarted: never written to anyone.
    if (!(h.flags & ipc::kFlagMore)) Add(ctx_.slot, kStaleReplies);
    return;
  }
  std::string_view message;
  auto st = reassembler_.feed(replyKey(c->slot(), h.seq), h, chunk, &message);
  if (st == ipc::Reassembler::Status::kPartial) return;
  if (st == ipc::Reassembler::Status::kOrphan) {
    Add(ctx_.slot, kBadRecords);
    LOG_EVERY_T(ERROR, 5) << "listener " << id_ << ": reply chunk out of sequence for " << c->peer().toString()
                          << "; closing the connection";
    closeConnection(c);
    return;
  }
  if (per_request_) {
    completeInFlight(c, h, message);
    return;
  }
  if (h.seq != c->expectedReplySeq()) {
    Add(ctx_.slot, kBadRecords);
    LOG(ERROR) << "listener " << id_ << ": reply " << h.seq << " for " << c->peer().toString() << " while "
               << c->expectedReplySeq() << " was due; closing the connection";
    closeConnection(c);
    return;
  }
  deliverReply(c, h.flags, message);
}

void Listener::deliverReply(Connection* c, uint16_t flags, std::string_view message) {
  c->replied();
  if (c->close_after) {
    // An earlier reply closes the connection (closeAfterReply, or an error
    // where there is no error frame): nothing after it may reach the client,
    // which would take it for the answer to the failed request.
    Add(ctx_.slot, kStaleReplies);
    return;
  }
  if (flags & ipc::kFlagError) {
    // An error reply where the protocol has one (and error_replies is on);
    // elsewhere the connection is closed after the replies before it.
    if (!config_.error_replies() || !framer_->encodeError(message, &c->output())) flags |= ipc::kFlagCloseAfter;
  } else if (!(flags & ipc::kFlagNoReply) && !writeReplyNow(c, message)) {
    framer_->encode(message, &c->output());
  }
  // A client that does not read its replies stops being read. Checked here, as
  // each reply lands, and not only when writing: while the write event is
  // armed, no write is tried until the client reads, and a pipelining client
  // would otherwise be read (and answered into memory) without bound.
  if (c->output().readable() > config_.output_high_water_bytes()) pauseRead(c);
  if (flags & ipc::kFlagCloseAfter) {
    c->close_after = true;
    pauseRead(c);
  }
  c->last_active_ms = NowCoarseMs();
  markDirty(c);
}

// PER_REQUEST. Workers finish a connection's requests in any order; the
// replies leave in request order: one that comes early waits (copied) in its
// in-flight entry until every earlier one has been written.
void Listener::completeInFlight(Connection* c, const RecordHeader& h, std::string_view message) {
  auto& q = c->in_flight;
  size_t i = 0;
  while (i < q.size() && (q[i].seq != h.seq || q[i].done)) ++i;
  if (i == q.size()) {
    Add(ctx_.slot, kBadRecords);
    LOG(ERROR) << "listener " << id_ << ": reply " << h.seq << " for " << c->peer().toString()
               << " answers no request in flight; closing the connection";
    closeConnection(c);
    return;
  }
  countRequest(q[i].worker, -1);
  progress_ms_[q[i].worker] = replies_now_ms_;  // it answers: not stuck
  q[i].done = true;
  q[i].flags = h.flags;
  if (i > 0) {
    q[i].reply.assign(message.data(), message.size());
    return;
  }
  deliverReply(c, h.flags, message);
  size_t n = 1;
  for (; n < q.size() && q[n].done; ++n) deliverReply(c, q[n].flags, q[n].reply);
  q.erase(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(n));
  // Requests held back behind these may go now, and reading may resume.
  if (c->close_after) return;
  if (c->input().readable() > 0 && !frameInput(c)) return;
  if (c->read_paused && !c->waiting_channel && c->output().readable() <= config_.output_high_water_bytes() &&
      !(c->outstanding() >= max_in_flight_ && c->input().readable() > kHeldBackBytes)) {
    resumeRead(c);
  }
}

void Listener::handleWorkerLost(const RecordHeader& h, std::string_view payload) {
  const size_t worker = h.conn_id;
  size_t closed = 0;
  // Whether `c` waits for request `seq` (kAnySeq: any) on the dead worker.
  constexpr uint64_t kAnySeq = ~uint64_t{0};
  auto waits_on = [&](const Connection* c, uint64_t seq) {
    if (per_request_) {
      for (const auto& r : c->in_flight) {
        if (!r.done && r.worker == worker && (seq == kAnySeq || r.seq == seq)) return true;
      }
      return false;
    }
    if (c->worker() != worker || c->outstanding() == 0) return false;
    return seq == kAnySeq || seq >= c->expectedReplySeq();  // else its reply got through before the death
  };
  auto close_if_waiting = [&](Connection* c, uint64_t seq) {
    if (c == nullptr || !waits_on(c, seq)) return;
    Add(ctx_.slot, kLostClosed);
    ++closed;
    closeConnection(c);
  };
  if (h.flags & ipc::kFlagOverflow) {
    for (auto& p : conns_) {
      if (p) close_if_waiting(p.get(), kAnySeq);
    }
  } else {
    size_t n = payload.size() / sizeof(ipc::HeldEntry);
    for (size_t i = 0; i < n; ++i) {
      ipc::HeldEntry e;
      std::memcpy(&e, payload.data() + i * sizeof(e), sizeof(e));
      close_if_waiting(lookup(e.conn_id, e.conn_gen), e.seq);
    }
  }
  LOG(WARNING) << "listener " << id_ << ": worker " << worker << " died; closed " << closed
               << " connection(s) whose request it had taken; its queued requests go to its replacement";
}

// The master says a worker slot cannot start (its onStart fails, its module
// does not load) or serves again. While it cannot, a request for it would
// wait in its socketpair until the slot's back-off ends and a start
// succeeds, for all anyone knows forever: the connections waiting on it are
// closed now, a request arriving for it closes its connection, and new
// connections go to the other workers (issue 10: a request waited 5 s
// unanswered while its slot crash-looped).
void Listener::handleWorkerState(const RecordHeader& h) {
  const size_t worker = h.conn_id;
  if (worker >= worker_down_.size()) return;
  const bool down = h.flags & ipc::kFlagWorkerDown;
  worker_down_[worker] = down;
  dispatcher_.setAvailable(worker, !down);
  if (!down) {
    LOG(INFO) << "listener " << id_ << ": worker " << worker << " serves again";
    return;
  }
  size_t closed = 0;
  for (auto& p : conns_) {
    Connection* c = p.get();
    if (c == nullptr) continue;
    if (per_request_) {
      bool waits = false;
      for (const auto& r : c->in_flight) waits = waits || (!r.done && r.worker == worker);
      if (!waits) continue;
    } else if (c->worker() != worker || c->outstanding() == 0) {
      continue;
    }
    Add(ctx_.slot, kUnavailableClosed);
    ++closed;
    closeConnection(c);
  }
  // What still waits here for its socket was sent by the connections just
  // closed: it must never reach a worker that starts later (the master empties
  // the socketpair itself before each new attempt).
  const size_t dropped = workers_[worker].out->discard();
  publishQueued();
  LOG(WARNING) << "listener " << id_ << ": worker " << worker << " cannot start; closed " << closed
               << " connection(s) waiting on it" << (dropped > 0 ? " and dropped their " + std::to_string(dropped) +
                                                                      " queued byte(s)" : "")
               << ", and its connections' next requests close them";
}

// ---- flushing ----

void Listener::scheduleFlush() { loop_.scheduleEndOfPass(); }

void Listener::flushAll() {
  bool queued_changed = false;
  for (size_t w = 0; w < workers_.size(); ++w) {
    switch (workers_[w].out->flush()) {
      case ipc::OutLink::Flush::kNothing: break;
      case ipc::OutLink::Flush::kSent: resumePaused(w); break;
      case ipc::OutLink::Flush::kWaiting: queued_changed = true; break;
    }
  }
  if (queued_changed) publishQueued();
  // Swap out first: writeOut may close connections, which may mark others.
  std::vector<std::pair<uint32_t, uint32_t>> dirty;
  dirty.swap(dirty_);
  for (auto [slot, gen] : dirty) {
    Connection* c = lookup(slot, gen);
    if (c == nullptr) continue;
    c->dirty = false;
    if (!c->write_armed && writeOut(c)) maybeFinish(c);
  }
  if (dirty_.capacity() < dirty.capacity()) dirty_.swap(dirty), dirty_.clear();
}

// A worker's queue here had to wait for its socket: some or all of it went.
void Listener::onChannelProgress(size_t w, bool drained) {
  publishQueued();
  if (drained) resumePaused(w);
}

// The bytes waiting here for busy workers, as a scoreboard gauge. Only the
// EAGAIN paths call it (a queue starts waiting, a queue drains): a queue that
// never waits holds nothing between loop passes.
void Listener::publishQueued() {
  uint64_t total = 0;
  for (const auto& link : workers_) {
    if (link.out->waiting()) total += link.out->pendingBytes();
  }
  ctx_.slot->counters[kQueuedToWorker].store(total, std::memory_order_relaxed);
}

void Listener::resumePaused(size_t w) {
  WorkerLink& link = workers_[w];
  if (link.paused.empty() || link.out->pendingBytes() > kChannelLowWater) return;
  auto paused = std::move(link.paused);
  link.paused.clear();
  for (auto [slot, gen] : paused) {
    Connection* c = lookup(slot, gen);
    if (c == nullptr) continue;
    c->waiting_channel = false;
    // A client still behind on its replies stays paused; writeOut resumes it.
    if (c->output().readable() <= config_.output_high_water_bytes()) resumeRead(c);
  }
}


}  // namespace solar
