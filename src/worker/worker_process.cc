// The worker's start, its reading of the socketpair (batches of datagrams,
// backpressure), and the signals that end it: retire, activate, stop.
#include "worker/worker_process.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <exception>
#include <memory>

#include <event2/event.h>
#include <glog/logging.h>

#include "app/worker_start.h"
#include "worker/worker_process_impl.h"

namespace solar {
namespace {

// Datagrams per receive: every request of a batch goes on the held list
// before the first runs, and the list must hold a whole batch with room to
// spare for replies still waiting for their socket (it overflows into "assume
// every request held" otherwise).
constexpr size_t kWorkerBatch = 2;
static_assert(kWorkerBatch * ipc::kMaxRecordsPerDatagram * 2 <= kMaxHeld, "a batch must fit the held list twice");
constexpr int kBatchesPerEvent = 16;  // of up to kWorkerBatch datagrams
constexpr int kStopFlushTimeoutMs = 2000;

}  // namespace

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
    collectBatch();
    runBatch();
    if (in_.drained()) break;  // a short batch: nothing more is waiting
  }
  flushOut();
  maybeExitAfterStop();
}

void WorkerProcess::collectBatch() {
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
}

void WorkerProcess::runBatch() {
  size_t next = 0;
  for (size_t end : batch_ends_) {
    for (; next < end; ++next) handleRecord(batch_[next].h, batch_[next].payload);
    // The replies of a datagram go out before the next datagram runs: a slow
    // request further on must not hold back replies already made (batching
    // across datagrams saved ~1% CPU and cost a whole request's latency).
    flushOut();
  }
  batch_.clear();
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

int RunWorker(const ChildContext& ctx) {
  WorkerProcess worker(ctx);
  const int code = worker.init();
  return code != kExitOk ? code : worker.run();
}

}  // namespace solar
