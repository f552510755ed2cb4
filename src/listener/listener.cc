#include "listener/listener.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <memory>
#include <vector>

#include <event2/event.h>
#include <glog/logging.h>

#include "base/sys_result.h"
#include "ipc/channel.h"
#include "ipc/record.h"
#include "listener/connection.h"
#include "listener/dispatcher.h"
#include "listener/framer.h"

namespace solar {
namespace {

using ipc::RecordHeader;
using ipc::RecordType;

constexpr size_t kReadChunk = 8192;  // seed 003: each readable event reads up to 8 KiB
constexpr int kReadsPerEvent = 8;    // fairness: at most 64 KiB per connection per pass
constexpr int kAcceptsPerEvent = 64;
constexpr int kRepliesPerEvent = 256;
// A worker's queue in this listener above this stops reading the connections
// that feed it; below the low mark they resume.
constexpr size_t kChannelHighWater = 8u << 20;
constexpr size_t kChannelLowWater = 1u << 20;
constexpr int kTickMs = 100;
constexpr int kDrainReads = 512;  // stop: what a client sent before the stop (up to 4 MiB) is still read

class Listener : NonCopyable {
 public:
  explicit Listener(const ChildContext& ctx);
  bool init();
  int run();

 private:
  // libevent trampolines
  static void AcceptCb(evutil_socket_t, short, void* arg) { static_cast<Listener*>(arg)->onAccept(); }
  static void RepliesCb(evutil_socket_t, short, void* arg) { static_cast<Listener*>(arg)->onReplies(); }
  static void FlushCb(evutil_socket_t, short, void* arg) { static_cast<Listener*>(arg)->flushAll(); }
  static void TickCb(evutil_socket_t, short, void* arg) { static_cast<Listener*>(arg)->onTick(); }
  static void StopCb(evutil_socket_t, short, void* arg) { static_cast<Listener*>(arg)->beginStop(); }
  static void ClientReadCb(evutil_socket_t, short, void* arg);
  static void ClientWriteCb(evutil_socket_t, short, void* arg);
  static void ChannelWriteCb(evutil_socket_t, short, void* arg);

  void onAccept();
  void acceptOne(UniqueFd fd, const sockaddr_storage& ss);
  void onClientRead(Connection* c);
  void onClientWrite(Connection* c);
  bool frameInput(Connection* c);
  void forward(Connection* c, RecordType type, std::string_view payload, uint64_t seq);
  void onReplies();
  void handleReply(const RecordHeader& h, std::string_view chunk);
  void handleWorkerLost(const RecordHeader& h, std::string_view payload);
  void onChannelWritable(size_t w);
  void scheduleFlush();
  void flushAll();
  bool writeOut(Connection* c);
  void markDirty(Connection* c);
  void pauseRead(Connection* c);
  bool resumeRead(Connection* c);  // false if framing the buffered input closed it
  bool readInput(Connection* c, int max_reads);  // false if the connection was closed
  void waitForChannel(Connection* c);
  void resumePaused(size_t w);
  void maybeFinish(Connection* c);
  void closeConnection(Connection* c);
  Connection* lookup(uint32_t slot, uint32_t gen);
  void onTick();
  void beginStop();

  const ChildContext& ctx_;
  const Config& config_;
  const uint16_t id_;
  EventBasePtr base_;
  UniqueFd listen_fd_;
  UniqueFd idle_fd_;  // spare fd for EMFILE (muduo, after libev's docs)
  EventPtr accept_ev_, replies_ev_, flush_ev_, tick_ev_;
  std::vector<EventPtr> signal_evs_;
  std::unique_ptr<Framer> framer_;
  Dispatcher dispatcher_;

  std::vector<std::unique_ptr<Connection>> conns_;  // index = connection slot
  std::vector<uint32_t> free_slots_;
  uint32_t next_gen_;
  size_t live_ = 0;

  struct WorkerLink {
    std::unique_ptr<ipc::OutChannel> channel;
    EventPtr write_ev;
    bool write_armed = false;
    bool needs_flush = false;
    std::vector<std::pair<uint32_t, uint32_t>> paused;  // (slot, gen) waiting for this queue to drain
  };
  std::vector<WorkerLink> workers_;
  ipc::InChannel from_workers_;
  ipc::Reassembler reassembler_;
  ipc::Limits limits_;
  bool flush_scheduled_ = false;
  std::vector<std::pair<uint32_t, uint32_t>> dirty_;
  bool stopping_ = false;
  int ticks_ = 0;
};

Listener::Listener(const ChildContext& ctx)
    : ctx_(ctx),
      config_(*ctx.config),
      id_(static_cast<uint16_t>(ctx.index)),
      listen_fd_(ctx.listen_fd),
      framer_(MakeFramer(config_.protocol(), config_.max_frame_bytes())),
      dispatcher_(config_.dispatch(), ctx.out_fds.size(), static_cast<size_t>(ctx.index)),
      // Generations start from the slot's spawn count, so a reply addressed to
      // a connection of an earlier incarnation of this listener never matches.
      next_gen_(ctx.epoch << 24),
      from_workers_(ctx.in_fd) {
  limits_.max_message = config_.max_frame_bytes();
  limits_.listeners = static_cast<uint16_t>(config_.listeners());
}

bool Listener::init() {
  event_config* cfg = event_config_new();
  base_.reset(event_base_new_with_config(cfg));
  event_config_free(cfg);
  if (!base_) {
    LOG(ERROR) << "listener " << id_ << ": event_base_new failed";
    return false;
  }
  // Two priorities: I/O first, then the flush pass, so one pass batches every
  // request and reply it read into as few datagrams and writes as possible.
  event_base_priority_init(base_.get(), 2);
  idle_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));

  evutil_make_socket_nonblocking(listen_fd_.get());
  accept_ev_.reset(event_new(base_.get(), listen_fd_.get(), EV_READ | EV_PERSIST, AcceptCb, this));
  replies_ev_.reset(event_new(base_.get(), from_workers_.fd(), EV_READ | EV_PERSIST, RepliesCb, this));
  flush_ev_.reset(event_new(base_.get(), -1, 0, FlushCb, this));
  event_priority_set(flush_ev_.get(), 1);
  tick_ev_.reset(event_new(base_.get(), -1, EV_PERSIST, TickCb, this));
  for (int s : {SIGTERM}) {
    signal_evs_.emplace_back(evsignal_new(base_.get(), s, StopCb, this));
    event_add(signal_evs_.back().get(), nullptr);
  }
  event_add(accept_ev_.get(), nullptr);
  event_add(replies_ev_.get(), nullptr);
  timeval tick{0, kTickMs * 1000};
  event_add(tick_ev_.get(), &tick);

  workers_.resize(ctx_.out_fds.size());
  for (size_t w = 0; w < workers_.size(); ++w) {
    workers_[w].channel = std::make_unique<ipc::OutChannel>(ctx_.out_fds[w]);
    workers_[w].write_ev.reset(event_new(base_.get(), ctx_.out_fds[w], EV_WRITE | EV_PERSIST, ChannelWriteCb, this));
    // Tell each worker this listener (re)started, so it forgets connections of
    // an earlier incarnation (they are gone with it).
    RecordHeader h = ipc::MakeHeader(RecordType::kHello, id_, 0, next_gen_);
    workers_[w].channel->append(h, {});
    workers_[w].needs_flush = true;
  }
  scheduleFlush();
  return true;
}

int Listener::run() {
  ctx_.slot->state.store(static_cast<uint8_t>(SlotState::kIdle));
  event_base_dispatch(base_.get());
  return kExitOk;
}

// ---- accepting ----

void Listener::onAccept() {
  for (int i = 0; i < kAcceptsPerEvent; ++i) {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    int fd = ::accept4(listen_fd_.get(), reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      acceptOne(UniqueFd(fd), ss);
      continue;
    }
    int err = errno;
    if (IsAgain(err) || err == EINTR) return;
    if (err == ECONNABORTED || err == EPROTO) continue;  // the client gave up; not our error
    if (err == EMFILE || err == ENFILE) {
      // Out of fds: free the spare, accept and close at once so the client is
      // told no instead of waiting in the backlog forever.
      LOG_EVERY_T(ERROR, 5) << "listener " << id_ << ": accept(): out of file descriptors; refusing connections";
      idle_fd_.reset();
      UniqueFd refused(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      refused.reset();
      idle_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
      Add(ctx_.slot, kRejected);
      return;
    }
    LOG_EVERY_T(ERROR, 5) << "listener " << id_ << ": accept() failed: " << strerror(err);
    return;
  }
}

void Listener::acceptOne(UniqueFd fd, const sockaddr_storage& ss) {
  Add(ctx_.slot, kAccepted);
  const uint32_t max_connections = ctx_.header->max_connections.load(std::memory_order_relaxed);
  if (live_ >= max_connections) {
    Add(ctx_.slot, kRejected);
    LOG_EVERY_T(WARNING, 5) << "listener " << id_ << ": max_connections (" << max_connections
                            << ") reached; closing new connections";
    return;  // fd closes here
  }
  int one = 1;
  setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(conns_.size());
    conns_.emplace_back();
  }
  ClientAddress peer;
  peer.storage = ss;
  size_t worker = dispatcher_.assign(ctx_.header->active_workers.load(std::memory_order_relaxed));
  ctx_.slot->conns_per_worker[worker].fetch_add(1, std::memory_order_relaxed);
  auto conn = std::make_unique<Connection>(std::move(fd), slot, next_gen_++, worker, peer);
  Connection* c = conn.get();
  c->read_ev.reset(event_new(base_.get(), c->fd(), EV_READ | EV_PERSIST, ClientReadCb, c));
  c->write_ev.reset(event_new(base_.get(), c->fd(), EV_WRITE | EV_PERSIST, ClientWriteCb, c));
  c->last_active_ms = MonotonicMs();
  conns_[slot] = std::move(conn);
  ++live_;
  Add(ctx_.slot, kConnections);
  forward(c, RecordType::kOpen, {}, 0);
  event_add(c->read_ev.get(), nullptr);
}

// ---- client I/O ----

// The connection's callbacks need the listener; one static instance per
// process keeps Connection free of a back pointer.
Listener* g_listener = nullptr;

void Listener::ClientReadCb(evutil_socket_t, short, void* arg) {
  g_listener->onClientRead(static_cast<Connection*>(arg));
}
void Listener::ClientWriteCb(evutil_socket_t, short, void* arg) {
  g_listener->onClientWrite(static_cast<Connection*>(arg));
}
void Listener::ChannelWriteCb(evutil_socket_t fd, short, void*) {
  for (size_t w = 0; w < g_listener->workers_.size(); ++w) {
    if (g_listener->workers_[w].channel->fd() == fd) g_listener->onChannelWritable(w);
  }
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
      c->last_active_ms = MonotonicMs();
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
  while (!c->close_after) {
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
      if (f.need > in.readable()) in.ensureWritable(f.need - in.readable());  // one allocation per big frame
      break;
    }
    forward(c, RecordType::kData, in.view().substr(f.payload_offset, f.payload_len), c->takeSeq());
    in.retrieve(f.consumed);
    c->scanned = 0;
  }
  in.shrinkIfEmpty(1u << 20);
  if (workers_[c->worker()].channel->pendingBytes() > kChannelHighWater && !c->read_paused) {
    pauseRead(c);
    waitForChannel(c);
  }
  return true;
}

// Reading `c` resumes when its worker's queue in this listener drains.
void Listener::waitForChannel(Connection* c) {
  if (c->waiting_channel) return;
  c->waiting_channel = true;
  workers_[c->worker()].paused.emplace_back(c->slot(), c->generation());
}

void Listener::forward(Connection* c, RecordType type, std::string_view payload, uint64_t seq) {
  RecordHeader h = ipc::MakeHeader(type, id_, c->slot(), c->generation());
  h.seq = seq;
  ipc::SetAddress(&h, c->peer());
  WorkerLink& link = workers_[c->worker()];
  link.channel->append(h, payload);
  link.needs_flush = true;
  scheduleFlush();
}

void Listener::onClientWrite(Connection* c) {
  if (writeOut(c)) maybeFinish(c);
}

// Writes what it can. Returns false if the connection was closed.
bool Listener::writeOut(Connection* c) {
  Buffer& out = c->output();
  while (out.readable() > 0) {
    ssize_t n = ::send(c->fd(), out.peek(), out.readable(), MSG_NOSIGNAL);
    if (n > 0) {
      out.retrieve(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && IsAgain(errno)) break;
    closeConnection(c);  // EPIPE, ECONNRESET
    return false;
  }
  out.shrinkIfEmpty(1u << 20);
  if (out.readable() > 0) {
    if (!c->write_armed) {
      event_add(c->write_ev.get(), nullptr);
      c->write_armed = true;
    }
    // A client that does not read its replies stops being read (backpressure).
    if (out.readable() > config_.output_high_water_bytes()) pauseRead(c);
  } else {
    if (c->write_armed) {
      event_del(c->write_ev.get());
      c->write_armed = false;
    }
    if (c->read_paused && !c->read_closed && !c->close_after) {
      // Output drained; the other reason to pause may still hold.
      if (workers_[c->worker()].channel->pendingBytes() <= kChannelHighWater) return resumeRead(c);
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
  event_add(c->read_ev.get(), nullptr);
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
  forward(c, RecordType::kClose, {}, 0);  // the worker runs onClose and frees its state
  dispatcher_.release(c->worker());
  ctx_.slot->conns_per_worker[c->worker()].fetch_sub(1, std::memory_order_relaxed);
  reassembler_.drop(c->slot());
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

// ---- replies from workers ----

void Listener::onReplies() {
  for (int i = 0; i < kRepliesPerEvent; ++i) {
    std::string_view dgram;
    int err = 0;
    auto r = from_workers_.recv(&dgram, &err);
    if (r == ipc::InChannel::RecvResult::kAgain) break;
    if (r != ipc::InChannel::RecvResult::kDatagram) {
      Add(ctx_.slot, kBadRecords);
      LOG_EVERY_T(ERROR, 5) << "listener " << id_ << ": bad datagram from workers ("
                            << (r == ipc::InChannel::RecvResult::kTruncated ? "truncated" : strerror(err)) << ")";
      if (r == ipc::InChannel::RecvResult::kError) break;
      continue;
    }
    ipc::RecordReader reader(dgram.data(), dgram.size(), limits_);
    RecordHeader h;
    std::string_view payload;
    while (reader.next(&h, &payload)) {
      switch (static_cast<RecordType>(h.type)) {
        case RecordType::kReply: handleReply(h, payload); break;
        case RecordType::kWorkerLost: handleWorkerLost(h, payload); break;
        default:
          Add(ctx_.slot, kBadRecords);
          LOG_EVERY_T(ERROR, 5) << "listener " << id_ << ": unexpected record type " << int{h.type};
      }
    }
    if (reader.error() != ipc::ParseError::kNone) {
      Add(ctx_.slot, kBadRecords);
      LOG_EVERY_T(ERROR, 5) << "listener " << id_ << ": invalid record from a worker ("
                            << ipc::ParseErrorName(reader.error()) << "); rest of datagram dropped";
    }
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
  auto st = reassembler_.feed(c->slot(), h, chunk, &message);
  if (st == ipc::Reassembler::Status::kPartial) return;
  if (st == ipc::Reassembler::Status::kOrphan) {
    Add(ctx_.slot, kBadRecords);
    LOG_EVERY_T(ERROR, 5) << "listener " << id_ << ": reply chunk out of sequence for " << c->peer().toString()
                          << "; closing the connection";
    closeConnection(c);
    return;
  }
  if (h.seq != c->expectedReplySeq()) {
    Add(ctx_.slot, kBadRecords);
    LOG(ERROR) << "listener " << id_ << ": reply " << h.seq << " for " << c->peer().toString() << " while "
               << c->expectedReplySeq() << " was due; closing the connection";
    closeConnection(c);
    return;
  }
  c->replied();
  if (!(h.flags & ipc::kFlagNoReply)) framer_->encode(message, &c->output());
  if (h.flags & ipc::kFlagCloseAfter) {
    c->close_after = true;
    pauseRead(c);
  }
  c->last_active_ms = MonotonicMs();
  markDirty(c);
}

void Listener::handleWorkerLost(const RecordHeader& h, std::string_view payload) {
  const size_t worker = h.conn_id;
  size_t closed = 0;
  auto close_if_waiting = [&](Connection* c, uint64_t seq) {
    if (c == nullptr || c->worker() != worker || c->outstanding() == 0) return;
    if (seq < c->expectedReplySeq()) return;  // its reply got through before the death
    Add(ctx_.slot, kLostClosed);
    ++closed;
    closeConnection(c);
  };
  if (h.flags & ipc::kFlagOverflow) {
    for (auto& p : conns_) {
      if (p) close_if_waiting(p.get(), p->expectedReplySeq());
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

// ---- flushing ----

void Listener::scheduleFlush() {
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  event_active(flush_ev_.get(), EV_TIMEOUT, 0);
}

void Listener::flushAll() {
  flush_scheduled_ = false;
  for (size_t w = 0; w < workers_.size(); ++w) {
    WorkerLink& link = workers_[w];
    if (!link.needs_flush || link.write_armed) continue;
    link.needs_flush = false;
    if (link.channel->flush() == ipc::OutChannel::FlushResult::kAgain) {
      event_add(link.write_ev.get(), nullptr);
      link.write_armed = true;
    } else {
      resumePaused(w);
    }
  }
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

void Listener::onChannelWritable(size_t w) {
  WorkerLink& link = workers_[w];
  link.needs_flush = false;
  if (link.channel->flush() == ipc::OutChannel::FlushResult::kAgain) return;
  event_del(link.write_ev.get());
  link.write_armed = false;
  resumePaused(w);
}

void Listener::resumePaused(size_t w) {
  WorkerLink& link = workers_[w];
  if (link.paused.empty() || link.channel->pendingBytes() > kChannelLowWater) return;
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

// ---- timers and stop ----

void Listener::onTick() {
  ++ticks_;
  const int64_t now = MonotonicMs();
  const uint32_t idle_timeout_ms = ctx_.header->idle_timeout_ms.load(std::memory_order_relaxed);
  const bool idle_sweep = idle_timeout_ms > 0 && ticks_ % 10 == 0;
  if (idle_sweep && !stopping_) {
    for (auto& p : conns_) {
      Connection* c = p.get();
      if (c == nullptr || c->outstanding() > 0 || c->output().readable() > 0) continue;
      if (now - c->last_active_ms >= static_cast<int64_t>(idle_timeout_ms)) {
        Add(ctx_.slot, kIdleClosed);
        closeConnection(c);
      }
    }
  }
  if (stopping_ && live_ == 0) {
    bool pending = false;
    for (auto& link : workers_) {
      if (link.channel->hasPending()) {
        link.channel->flush();
        pending = pending || link.channel->hasPending();
      }
    }
    if (!pending) event_base_loopexit(base_.get(), nullptr);
  }
}

void Listener::beginStop() {
  if (stopping_) return;
  stopping_ = true;
  ctx_.slot->state.store(static_cast<uint8_t>(SlotState::kStopping));
  // No new connections: the master has closed its copy of this socket too, so
  // the port stops accepting once this one is closed.
  event_del(accept_ev_.get());
  listen_fd_.reset();
  LOG(INFO) << "listener " << id_ << ": stopping; draining " << live_ << " connection(s)";
  // Every request a client sent before the stop is answered: read what is in
  // each socket now, then read no more (a busy client would otherwise keep
  // the drain going until graceful_timeout_ms). Each connection closes once
  // its replies are written, as after a client's EOF (nginx closes keep-alive
  // connections after their current request the same way).
  size_t partial = 0;
  for (size_t i = 0; i < conns_.size(); ++i) {
    Connection* c = conns_[i].get();
    if (c == nullptr) continue;
    if (!c->read_closed && !c->close_after && !c->read_paused && !readInput(c, kDrainReads)) continue;
    if (c->input().readable() > 0) ++partial;  // half a request: never complete now
    c->read_closed = true;
    pauseRead(c);
    maybeFinish(c);
  }
  if (partial > 0) LOG(INFO) << "listener " << id_ << ": " << partial << " connection(s) held half a request at the stop";
}

}  // namespace

int RunListener(const ChildContext& ctx) {
  Listener listener(ctx);
  g_listener = &listener;
  if (!listener.init()) return kExitRespawn;
  int code = listener.run();
  g_listener = nullptr;
  return code;
}

}  // namespace solar
