#include "worker/worker_process.h"

#include <csignal>
#include <cstring>
#include <exception>
#include <memory>
#include <unordered_map>
#include <vector>

#include <event2/event.h>
#include <glog/logging.h>

#include "app/worker_start.h"
#include "base/event_loop.h"
#include "base/event_ptr.h"
#include "base/noncopyable.h"
#include "ipc/channel.h"
#include "ipc/out_link.h"
#include "ipc/record.h"

namespace solar {
namespace {

using ipc::RecordHeader;
using ipc::RecordType;

// Datagrams per receive: every request of a batch goes on the held list
// before the first runs, and the list must hold a whole batch with room to
// spare for replies still waiting for their socket (it overflows into "assume
// every request held" otherwise).
constexpr size_t kWorkerBatch = 2;
static_assert(kWorkerBatch * ipc::kMaxRecordsPerDatagram * 2 <= kMaxHeld, "a batch must fit the held list twice");
constexpr int kBatchesPerEvent = 16;  // of up to kWorkerBatch datagrams
constexpr int kStopFlushTimeoutMs = 2000;


uint64_t ConnKey(uint16_t listener, uint32_t conn_id) { return (uint64_t{listener} << 32) | conn_id; }

class WorkerProcess : NonCopyable {
 public:
  explicit WorkerProcess(const ChildContext& ctx);
  // The loop is over and the stop has begun; the master repeats TERM every
  // 100 ms while it waits. Freeing the signal events puts TERM back to its
  // default, which would cut short what follows — the Worker's destructor
  // (closing its database), exit() — so TERM is ignored from here on; a
  // process that hangs still meets SIGKILL at graceful_timeout_ms.
  ~WorkerProcess() {
    loop_.clearSignals();
    std::signal(SIGTERM, SIG_IGN);
  }
  int init();
  int run();

 private:
  static void InputCb(evutil_socket_t, short, void* arg) { static_cast<WorkerProcess*>(arg)->onInput(); }
  static void StopCb(evutil_socket_t, short, void* arg) { static_cast<WorkerProcess*>(arg)->beginStop(); }
  static void RetireCb(evutil_socket_t, short, void* arg) { static_cast<WorkerProcess*>(arg)->beginRetire(); }
  static void ActivateCb(evutil_socket_t, short, void* arg) { static_cast<WorkerProcess*>(arg)->activate(); }
  static void OutProgress(void* self, size_t listener, bool drained) {
    if (drained) static_cast<WorkerProcess*>(self)->onOutDrained(listener);
  }
  static void StopTimeoutCb(evutil_socket_t, short, void* arg) { static_cast<WorkerProcess*>(arg)->loop_.exit(); }

  void onInput();
  void handleRecord(const RecordHeader& h, std::string_view payload);
  void handleData(const RecordHeader& h, std::string_view chunk);
  void processRequest(const RecordHeader& h, std::string_view message);
  void closeConn(uint64_t key);
  void flushOut();
  void onOutDrained(size_t listener);
  void repliesSent(size_t listener);
  bool anyPending() const;
  void setInputEnabled(bool on);
  void beginStop();
  void maybeExitAfterStop();
  void beginRetire();
  void activate();

  const ChildContext& ctx_;
  const Config& config_;
  std::unique_ptr<Worker> worker_;
  std::string name_;
  EventLoop loop_;  // before every event: freed after them
  ipc::InChannel in_;
  EventPtr input_ev_, stop_timeout_ev_;
  bool input_enabled_ = false;
  ipc::Limits limits_;
  ipc::Reassembler reassembler_;
  HeldList held_;
  struct ReceivedRecord {
    RecordHeader h;
    std::string_view payload;  // into in_'s buffer: valid until the next read
  };
  std::vector<ReceivedRecord> batch_;  // one receive's records, reused
  std::vector<size_t> batch_ends_;     // where each datagram's records end in batch_

  struct ListenerLink {
    std::unique_ptr<ipc::OutLink> out;
    std::vector<ipc::HeldEntry> replies_queued;  // held until their datagram is sent
  };
  std::vector<ListenerLink> listeners_;
  std::unordered_map<uint64_t, ConnectionInfo> conns_;
  Response resp_;
  bool stopping_ = false;
  bool retiring_ = false;
  bool standby_ = false;
  uint64_t served_ = 0;
  uint64_t recycle_after_ = 0;  // 0: never
};

WorkerProcess::WorkerProcess(const ChildContext& ctx)
    : ctx_(ctx), config_(*ctx.config), in_(ctx.in_fd), held_(ctx.worker_slot) {
  limits_.max_message = config_.max_frame_bytes();
  limits_.listeners = static_cast<uint16_t>(config_.listeners());
}

int WorkerProcess::init() {
  StartedWorker started = StartWorker(ctx_, Transport::kTcp);
  if (!started.worker) return kExitRespawn;
  worker_ = std::move(started.worker);
  name_ = started.name;
  recycle_after_ = started.recycle_after;

  if (!loop_.init()) {
    LOG(ERROR) << "worker " << ctx_.index << ": event_base_new failed";
    return kExitRespawn;
  }
  input_ev_ = loop_.newEvent(in_.fd(), EV_READ | EV_PERSIST, InputCb, this);
  stop_timeout_ev_ = loop_.newEvent(-1, 0, StopTimeoutCb, this);
  if (!input_ev_ || !stop_timeout_ev_ || !loop_.onSignal(SIGTERM, StopCb, this) ||
      !loop_.onSignal(SIGUSR1, RetireCb, this) || !loop_.onSignal(SIGUSR2, ActivateCb, this)) {
    LOG(ERROR) << "worker " << ctx_.index << ": cannot set up its events";
    return kExitRespawn;
  }
  listeners_.resize(ctx_.out_fds.size());
  for (size_t j = 0; j < listeners_.size(); ++j) {
    listeners_[j].out = std::make_unique<ipc::OutLink>(loop_.base(), ctx_.out_fds[j], j, this, OutProgress);
    if (!listeners_[j].out->ok()) {
      LOG(ERROR) << "worker " << ctx_.index << ": event_new() for listener " << j << "'s socketpair failed";
      return kExitRespawn;
    }
  }
  standby_ = ctx_.standby;
  if (!standby_) setInputEnabled(true);
  return kExitOk;
}

int WorkerProcess::run() {
  ctx_.slot->state.store(static_cast<uint8_t>(standby_ ? SlotState::kStandby : SlotState::kIdle));
  loop_.run();
  if (!retiring_) {
    // A retiring worker's connections live on with its replacement; on a stop
    // they are closed, and onClose says so.
    ctx_.slot->state.store(static_cast<uint8_t>(SlotState::kStopping));
    for (auto& [key, info] : conns_) {
      try {
        worker_->onClose(info);
      } catch (...) {
      }
    }
  }
  try {
    worker_->onStop();
  } catch (const std::exception& e) {
    LOG(ERROR) << "worker " << ctx_.index << ": onStop failed: " << e.what();
  }
  return kExitOk;
}

void WorkerProcess::setInputEnabled(bool on) {
  // A retiring worker reads on only to complete a request it holds part of.
  if (on && (standby_ || (retiring_ && reassembler_.partials() == 0))) return;
  if (on == input_enabled_) return;
  input_enabled_ = on;
  if (!on) {
    event_del(input_ev_.get());
  } else if (event_add(input_ev_.get(), nullptr) != 0) {
    // It would never read its socketpair again: die as a crash does, so the
    // master tells the listeners what it held and respawns the slot.
    LOG(ERROR) << "worker " << ctx_.index << ": event_add() of its input failed; exiting to be respawned";
    google::FlushLogFiles(google::GLOG_INFO);
    _exit(kExitRespawn);
  }
}

void WorkerProcess::onInput() {
  for (int i = 0; i < kBatchesPerEvent; ++i) {
    if (retiring_ && reassembler_.partials() == 0) {  // nothing half-read left: let go
      flushOut();
      setInputEnabled(false);
      if (!anyPending()) loop_.exit();
      return;
    }
    if (anyPending()) {  // backpressure: a listener's queue is full; read no more until it drains
      flushOut();
      setInputEnabled(false);
      return;
    }
    int err = 0;
    // Retiring, it reads only what completes a request it holds part of: one
    // datagram at a time, so that it takes nothing more from its replacement.
    const auto r = in_.receive(retiring_ ? 1 : kWorkerBatch, &err);
    if (r == ipc::InChannel::BatchResult::kAgain) break;
    if (r == ipc::InChannel::BatchResult::kError) {
      Add(ctx_.slot, kBadRecords);
      LOG_EVERY_T(ERROR, 5) << "worker " << ctx_.index << ": from its socketpair: " << ipc::InChannel::describeError(err);
      break;
    }
    // Every request of the batch goes on the held list before the first one
    // runs: the datagrams left the socketpair together, so if this process
    // dies in process(), the requests behind the running one are gone with
    // it too, and the master can only close their connections if it knows.
    batch_.clear();
    batch_ends_.clear();
    for (size_t d = 0; d < in_.count(); ++d) {
      std::string why;
      const auto parsed = in_.records(
          d, limits_, [&](const RecordHeader& h, std::string_view payload) { batch_.push_back({h, payload}); },
          &why);
      batch_ends_.push_back(batch_.size());
      if (parsed != ipc::InChannel::ReadResult::kRecords) {
        Add(ctx_.slot, kBadRecords);
        LOG_EVERY_T(ERROR, 5) << "worker " << ctx_.index << ": from its socketpair: " << why;
      }
    }
    for (const auto& rec : batch_) {
      if (rec.h.type == static_cast<uint8_t>(RecordType::kData) && (rec.h.flags & ipc::kFlagFirst))
        held_.insert(rec.h.listener_id, rec.h.conn_id, rec.h.conn_gen, rec.h.seq);
    }
    size_t next = 0;
    for (size_t end : batch_ends_) {
      for (; next < end; ++next) handleRecord(batch_[next].h, batch_[next].payload);
      // The replies of a datagram go out before the next datagram runs: a slow
      // request further on must not hold back replies already made (batching
      // across datagrams saved ~1% CPU and cost a whole request's latency).
      flushOut();
    }
    batch_.clear();
    if (in_.drained()) break;  // a short batch: nothing more is waiting
  }
  flushOut();
  maybeExitAfterStop();
}

void WorkerProcess::handleRecord(const RecordHeader& h, std::string_view payload) {
  const uint64_t key = ConnKey(h.listener_id, h.conn_id);
  switch (static_cast<RecordType>(h.type)) {
    case RecordType::kData:
      handleData(h, payload);
      return;
    case RecordType::kOpen: {
      if (conns_.count(key)) closeConn(key);  // an earlier connection in the slot lost its close
      ConnectionInfo info;
      info.id = ConnectionId{h.listener_id, h.conn_id, h.conn_gen};
      info.peer = ipc::GetAddress(h);
      conns_.emplace(key, info);
      try {
        worker_->onConnect(info);
      } catch (const std::exception& e) {
        LOG_EVERY_T(ERROR, 5) << "worker " << ctx_.index << ": onConnect threw: " << e.what();
      }
      return;
    }
    case RecordType::kClose:
      closeConn(key);
      return;
    case RecordType::kHello: {
      // Listener h.listener_id (re)started: its earlier connections are gone,
      // and so are the requests it had only partly sent (PER_REQUEST has no
      // connection entries here, so those are looked up by key).
      std::vector<uint64_t> gone;
      for (auto& [k, info] : conns_) {
        if (info.id.listener == h.listener_id) gone.push_back(k);
      }
      reassembler_.forEachPartial([&](uint64_t key, const RecordHeader& first) {
        if (first.listener_id == h.listener_id && !conns_.count(key)) gone.push_back(key);
      });
      for (uint64_t k : gone) closeConn(k);
      return;
    }
    default:
      Add(ctx_.slot, kBadRecords);
      LOG_EVERY_T(ERROR, 5) << "worker " << ctx_.index << ": unexpected record type " << int{h.type};
  }
}

void WorkerProcess::closeConn(uint64_t key) {
  RecordHeader partial;
  if (reassembler_.take(key, &partial)) held_.erase(partial.listener_id, partial.conn_id, partial.conn_gen, partial.seq);
  auto it = conns_.find(key);
  if (it == conns_.end()) return;
  ConnectionInfo info = it->second;
  conns_.erase(it);
  try {
    worker_->onClose(info);
  } catch (const std::exception& e) {
    LOG_EVERY_T(ERROR, 5) << "worker " << ctx_.index << ": onClose threw: " << e.what();
  }
}

void WorkerProcess::handleData(const RecordHeader& h, std::string_view chunk) {
  const uint64_t key = ConnKey(h.listener_id, h.conn_id);
  std::string_view message;  // a first chunk is already on the held list (onInput)
  RecordHeader discarded;
  bool was_discarded = false;
  const auto status = reassembler_.feed(key, h, chunk, &message, &discarded, &was_discarded);
  if (was_discarded) held_.erase(discarded.listener_id, discarded.conn_id, discarded.conn_gen, discarded.seq);
  switch (status) {
    case ipc::Reassembler::Status::kPartial:
      return;
    case ipc::Reassembler::Status::kOrphan: {
      // Its start went to a worker that died; the listener closes the
      // connection when the master tells it. Nothing to answer.
      Add(ctx_.slot, kOrphanChunks);
      LOG_EVERY_T(WARNING, 5) << "worker " << ctx_.index << ": dropped a request chunk whose start was lost";
      return;
    }
    case ipc::Reassembler::Status::kComplete:
      processRequest(h, message);
      return;
  }
}

void WorkerProcess::processRequest(const RecordHeader& h, std::string_view message) {
  ProcessSlot* slot = ctx_.slot;
  WorkerSlot* mine = ctx_.worker_slot;
  CurrentRequest current{};
  current.listener = h.listener_id;
  current.transport = 0;
  current.conn_id = h.conn_id;
  current.conn_gen = h.conn_gen;
  current.seq = h.seq;
  current.addr_family = h.addr_family;
  current.port = h.port;
  std::memcpy(current.addr, h.addr, sizeof(h.addr));
  mine->current.publish(current);
  mine->request_start_ms.store(NowMonotonicMs(), std::memory_order_relaxed);
  slot->state.store(static_cast<uint8_t>(SlotState::kBusy), std::memory_order_relaxed);
  ClientAddress peer = ipc::GetAddress(h);
  Request req(Transport::kTcp, message, peer, ConnectionId{h.listener_id, h.conn_id, h.conn_gen}, h.seq);
  resp_.clear();
  RecordHeader reply = ipc::MakeHeader(RecordType::kReply, h.listener_id, h.conn_id, h.conn_gen);
  reply.seq = h.seq;
  try {
    worker_->process(req, resp_);
  } catch (const std::exception& e) {
    // An error reply for this request (the listener closes the connection
    // instead where the protocol has no error frame). Others are unaffected.
    LOG_EVERY_T(ERROR, 1) << "worker " << ctx_.index << ": process() threw for " << peer.toString() << ": "
                          << e.what();
    resp_.clear();
    resp_.error(e.what());
  } catch (...) {
    LOG_EVERY_T(ERROR, 1) << "worker " << ctx_.index << ": process() threw a non-exception";
    resp_.clear();
    resp_.error("process() threw a non-exception");
  }
  if (resp_.body().size() > config_.max_frame_bytes()) {
    LOG_EVERY_T(ERROR, 1) << "worker " << ctx_.index << ": reply of " << resp_.body().size()
                          << " bytes is over max_frame_bytes; answering with an error";
    const std::string why = "reply of " + std::to_string(resp_.body().size()) + " bytes is over max_frame_bytes";
    resp_.clear();
    resp_.error(why);
  }
  if (resp_.isError()) {
    Add(slot, kErrors);
    reply.flags |= ipc::kFlagError;
  } else if (resp_.isNoReply()) {
    reply.flags |= ipc::kFlagNoReply;
  }
  if (resp_.isCloseAfterReply()) reply.flags |= ipc::kFlagCloseAfter;
  ListenerLink& link = listeners_[h.listener_id];
  link.out->append(reply, reply.flags & ipc::kFlagNoReply ? std::string_view() : std::string_view(resp_.body()));
  link.replies_queued.push_back(ipc::HeldEntry{h.conn_id, h.conn_gen, h.seq});
  Add(slot, kRequests);
  Add(slot, kBytesIn, message.size());
  Add(slot, kBytesOut, resp_.body().size());
  mine->request_start_ms.store(0, std::memory_order_relaxed);
  slot->state.store(static_cast<uint8_t>(retiring_ ? SlotState::kRetiring : SlotState::kIdle),
                    std::memory_order_relaxed);
  if (recycle_after_ != 0 && ++served_ == recycle_after_) {
    // Ask for a replacement; keep serving until the master hands the slot over.
    mine->recycle.store(1);
    LOG(INFO) << "worker " << ctx_.index << ": served " << served_ << " requests (max_requests); asking to be replaced";
  }
}

void WorkerProcess::flushOut() {
  for (size_t j = 0; j < listeners_.size(); ++j) {
    if (listeners_[j].out->flush() == ipc::OutLink::Flush::kSent) repliesSent(j);
  }
}

// The replies queued to listener j are in its socket: no longer held here.
void WorkerProcess::repliesSent(size_t j) {
  ListenerLink& link = listeners_[j];
  for (const auto& e : link.replies_queued) held_.erase(static_cast<uint16_t>(j), e.conn_id, e.conn_gen, e.seq);
  link.replies_queued.clear();
}

void WorkerProcess::onOutDrained(size_t j) {
  repliesSent(j);
  if (!anyPending()) {
    if (retiring_ && reassembler_.partials() == 0) {
      loop_.exit();
      return;
    }
    setInputEnabled(true);
    if (input_enabled_) onInput();  // the socket may have filled while we were not reading
  }
}

// SIGUSR1: a replacement is ready. Stop reading the slot's socketpair now (the
// replacement reads it next), send the replies already made, and exit.
void WorkerProcess::beginRetire() {
  if (retiring_ || stopping_) return;
  retiring_ = true;
  ctx_.slot->state.store(static_cast<uint8_t>(SlotState::kRetiring));
  // A request whose first chunks were read must be read to its end here: its
  // other chunks would be orphans to the replacement. Still the only reader:
  // the replacement waits until this process has exited.
  if (reassembler_.partials() > 0) return;
  setInputEnabled(false);
  if (!anyPending()) loop_.exit();
}

// SIGUSR2: the old worker has let go of the slot; start serving it.
void WorkerProcess::activate() {
  if (!standby_) return;
  standby_ = false;
  ctx_.slot->state.store(static_cast<uint8_t>(SlotState::kIdle));
  setInputEnabled(true);
  onInput();
}

bool WorkerProcess::anyPending() const {
  for (const auto& link : listeners_) {
    if (link.out->waiting()) return true;
  }
  return false;
}

void WorkerProcess::beginStop() {
  if (stopping_) return;
  stopping_ = true;
  if (standby_) {  // never served: nothing to drain
    loop_.exit();
    return;
  }
  // The master stops workers after every listener has exited, so what is left
  // in the socketpair is all there will be: serve it, then exit.
  timeval t{kStopFlushTimeoutMs / 1000, (kStopFlushTimeoutMs % 1000) * 1000};
  if (event_add(stop_timeout_ev_.get(), &t) != 0)
    LOG(WARNING) << "worker " << ctx_.index << ": event_add() of the stop timeout failed; exiting when the socketpair is empty";
  if (input_enabled_) onInput();
  maybeExitAfterStop();
}

void WorkerProcess::maybeExitAfterStop() {
  if (!stopping_ || anyPending()) return;
  // Peek without consuming: MSG_PEEK keeps a datagram for onInput.
  char probe;
  ssize_t n = ::recv(in_.fd(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) loop_.exit();
}

}  // namespace

int RunWorker(const ChildContext& ctx) {
  WorkerProcess worker(ctx);
  const int code = worker.init();
  return code != kExitOk ? code : worker.run();
}

}  // namespace solar
