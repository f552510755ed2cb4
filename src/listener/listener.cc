#include "listener/listener.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>

#include <glog/logging.h>

#include "base/sys_result.h"
#include "listener/listener_impl.h"

namespace solar {

Listener::Listener(const ChildContext& ctx)
    : ctx_(ctx),
      config_(*ctx.config),
      id_(static_cast<uint16_t>(ctx.index)),
      listen_fd_(ctx.listen_fd),
      framer_(MakeFramer(config_.protocol(), config_.max_frame_bytes())),
      dispatcher_(config_.dispatch(), ctx.out_fds.size(), static_cast<size_t>(ctx.index)),
      per_request_(config_.dispatch() == PER_REQUEST),
      max_in_flight_(std::max<size_t>(1, config_.max_in_flight_per_connection())),
      requests_(ctx.out_fds.size(), 0),
      progress_ms_(ctx.out_fds.size(), 0),
      running_(ctx.out_fds.size(), true),
      // Generations start from the slot's spawn count, so a reply addressed to
      // a connection of an earlier incarnation of this listener never matches.
      next_gen_(ctx.epoch << 24),
      from_workers_(ctx.in_fd) {
  limits_.max_message = config_.max_frame_bytes();
  limits_.listeners = static_cast<uint16_t>(config_.listeners());
}

bool Listener::init() {
  // The end-of-pass flush: one pass batches every request and reply it read
  // into as few datagrams and writes as possible.
  if (!loop_.init(FlushCb, this)) {
    LOG(ERROR) << "listener " << id_ << ": event_base_new failed";
    return false;
  }
  idle_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));

  evutil_make_socket_nonblocking(listen_fd_.get());
  accept_ev_ = loop_.newEvent(listen_fd_.get(), EV_READ | EV_PERSIST, AcceptCb, this);
  replies_ev_ = loop_.newEvent(from_workers_.fd(), EV_READ | EV_PERSIST, RepliesCb, this);
  tick_ev_ = loop_.newEvent(-1, EV_PERSIST, TickCb, this);
  if (!accept_ev_ || !replies_ev_ || !tick_ev_ || !loop_.onSignal(SIGTERM, StopCb, this)) {
    LOG(ERROR) << "listener " << id_ << ": cannot set up its events";
    return false;
  }
  timeval tick{0, kTickMs * 1000};
  if (event_add(accept_ev_.get(), nullptr) != 0 || event_add(replies_ev_.get(), nullptr) != 0 ||
      event_add(tick_ev_.get(), &tick) != 0) {
    LOG(ERROR) << "listener " << id_ << ": event_add failed";
    return false;
  }

  workers_.resize(ctx_.out_fds.size());
  worker_down_.assign(ctx_.out_fds.size(), false);
  for (size_t w = 0; w < workers_.size(); ++w) {
    workers_[w].out = std::make_unique<ipc::OutLink>(loop_.base(), ctx_.out_fds[w], w, this, ChannelProgress);
    if (!workers_[w].out->ok()) {
      LOG(ERROR) << "listener " << id_ << ": event_new() for worker " << w << "'s socketpair failed";
      return false;
    }
    // Tell each worker this listener (re)started, so it forgets connections of
    // an earlier incarnation (they are gone with it).
    workers_[w].out->append(ipc::MakeHeader(RecordType::kHello, id_, 0, next_gen_), {});
  }
  scheduleFlush();
  return true;
}

int Listener::run() {
  ctx_.slot->state.store(static_cast<uint8_t>(SlotState::kIdle));
  loop_.run();
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
  if (setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {  // replies would wait for Nagle
    PLOG_EVERY_N(WARNING, 1000) << "listener " << id_ << ": setsockopt(TCP_NODELAY) failed";
  }
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
  // PER_REQUEST: no worker of its own (each request picks one), and no
  // kOpen/kClose: onConnect/onClose belong to the pinned modes.
  size_t worker = 0;
  if (!per_request_) {
    worker = dispatcher_.assign(ctx_.header->active_workers.load(std::memory_order_relaxed));
    ctx_.listener_slot->conns_per_worker[worker].fetch_add(1, std::memory_order_relaxed);
  }
  auto conn = std::make_unique<Connection>(this, std::move(fd), slot, next_gen_++, worker, peer);
  Connection* c = conn.get();
  c->read_ev = loop_.newEvent(c->fd(), EV_READ | EV_PERSIST, ClientReadCb, c);
  c->write_ev = loop_.newEvent(c->fd(), EV_WRITE | EV_PERSIST, ClientWriteCb, c);
  if (!c->read_ev || !c->write_ev) {  // out of memory: refuse this one, serve the rest
    LOG_EVERY_T(ERROR, 1) << "listener " << id_ << ": event_new() for a connection failed; closing it";
    if (!per_request_) ctx_.listener_slot->conns_per_worker[worker].fetch_sub(1, std::memory_order_relaxed);
    free_slots_.push_back(slot);
    Add(ctx_.slot, kRejected);
    return;
  }
  c->last_active_ms = NowMonotonicMs();
  conns_[slot] = std::move(conn);
  ++live_;
  Add(ctx_.slot, kConnections);
  if (!per_request_) forward(c, worker, RecordType::kOpen, {}, 0);
  if (event_add(c->read_ev.get(), nullptr) != 0) {
    LOG_EVERY_T(ERROR, 1) << "listener " << id_ << ": event_add() for a new connection failed; closing it";
    closeConnection(c);
  }
}

// ---- timers and stop ----

void Listener::onTick() {
  ++ticks_;
  const int64_t now = NowMonotonicMs();
  if (per_request_) refreshRunning();
  const int64_t idle_timeout_ms = ctx_.header->idle_timeout_ms.load(std::memory_order_relaxed);
  const int64_t read_timeout_ms = ctx_.header->request_read_timeout_ms.load(std::memory_order_relaxed);
  const int64_t send_timeout_ms = ctx_.header->send_timeout_ms.load(std::memory_order_relaxed);
  if ((idle_timeout_ms > 0 || read_timeout_ms > 0 || send_timeout_ms > 0) && ticks_ % 10 == 0 && !stopping_) {
    size_t read_timeouts = 0, send_timeouts = 0;
    for (auto& p : conns_) {
      Connection* c = p.get();
      if (c == nullptr) continue;
      // A client that stopped taking its replies: its connection and up to
      // output_high_water_bytes would be held for as long as it stays away.
      if (send_timeout_ms > 0 && c->write_blocked_ms != 0 && now - c->write_blocked_ms >= send_timeout_ms) {
        Add(ctx_.slot, kSendTimeouts);
        ++send_timeouts;
        closeConnection(c);
        continue;
      }
      // Slowloris: bytes that trickle in keep the idle timer fresh, so an
      // incomplete request has a deadline of its own (nginx's
      // client_header_timeout). Not while we paused the reading ourselves.
      if (read_timeout_ms > 0 && c->partial_since_ms != 0 && !c->read_paused && !c->read_closed &&
          now - c->partial_since_ms >= read_timeout_ms) {
        Add(ctx_.slot, kReadTimeouts);
        ++read_timeouts;
        closeConnection(c);
        continue;
      }
      if (idle_timeout_ms == 0 || c->outstanding() > 0 || c->output().readable() > 0) continue;
      if (now - c->last_active_ms >= idle_timeout_ms) {
        Add(ctx_.slot, kIdleClosed);
        closeConnection(c);
      }
    }
    if (send_timeouts > 0) {
      LOG_EVERY_T(WARNING, 10) << "listener " << id_ << ": closed " << send_timeouts
                               << " connection(s) whose client took no reply byte for send_timeout_ms ("
                               << send_timeout_ms << ")";
    }
    if (read_timeouts > 0) {
      LOG_EVERY_T(WARNING, 10) << "listener " << id_ << ": closed " << read_timeouts
                               << " connection(s) that held part of a request for request_read_timeout_ms ("
                               << read_timeout_ms << ")";
    }
  }
  if (stopping_ && live_ == 0) {
    bool pending = false;
    for (auto& link : workers_) pending = !link.out->flushNow() || pending;
    if (!pending) loop_.exit();
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
    // Half a request: never complete now. (PER_REQUEST holds whole requests
    // back while others of the connection are in flight: those still run.)
    if (c->input().readable() > 0 && c->outstanding() == 0) ++partial;
    c->read_closed = true;
    pauseRead(c);
    maybeFinish(c);
  }
  if (partial > 0) LOG(INFO) << "listener " << id_ << ": " << partial << " connection(s) held half a request at the stop";
}

int RunListener(const ChildContext& ctx) {
  Listener listener(ctx);
  if (!listener.init()) return kExitRespawn;
  return listener.run();
}

}  // namespace solar
