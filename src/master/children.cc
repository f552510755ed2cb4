// Forking children into their slots, the child's start-up order, and reaping.
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <utility>

#include <glog/logging.h>

#include "admin/admin_http.h"
#include "app/module_loader.h"
#include "app/child_context.h"
#include "listener/listener.h"
#include "master/master_impl.h"
#include "sys/affinity.h"
#include "sys/process_title.h"
#include "udp/udp_listener.h"
#include "worker/worker_process.h"

namespace solar {

void Master::spawn(ChildSlot& slot, bool standby) {
  if (slot.role == Role::kWorker && slot.down && !standby) dropQueuedForDownWorker(slot);
  const size_t board = standby ? slot.alt_board : slot.board;
  board_->reset(board, slot.role, slot.index);
  ++slot.spawns;
  slot.respawn_at_ms = -1;
  sigset_t old;
  BlockAllSignals(&old);  // no handler may run in the child before it resets them
  pid_t pid = fork();
  if (pid == 0) childMain(slot, board, standby);
  RestoreSignalMask(old);
  if (pid < 0) {
    PLOG(ERROR) << "fork() for " << RoleName(slot.role) << " " << slot.index << " failed; retrying in 1 s";
    if (!standby) slot.respawn_at_ms = NowMonotonicMs() + 1000;
    return;
  }
  board_->slot(board).pid.store(pid);
  if (standby) {
    slot.standby_pid = pid;
  } else {
    slot.pid = pid;
    slot.started_ms = NowMonotonicMs();
    slot.retire_sent = false;
    if (slot.role == Role::kListener) {  // a new listener knows nothing yet of workers that cannot start
      for (auto& w : table_.slots()) {
        if (w.role == Role::kWorker && w.down) tellWorkerState(w, true, slot.index);
      }
    }
  }
}

// The child's fixed order (STYLE rule 7): signal dispositions, affinity,
// privilege drop, parent-death signal, close what this role does not use,
// unblock signals, run the role.
void Master::childMain(ChildSlot& slot, size_t board, bool standby) {
  ResetSignalsInChild();  // defaults while still blocked
  const std::string role = std::string(RoleName(slot.role)) + " " + std::to_string(slot.index);
  SetProcessTitle("solar: " + role);
  if (!cpus_.empty()) {
    // Listeners, then workers, then the UDP roles: one sequence over the CPUs.
    int ordinal = slot.role == Role::kListener ? slot.index
                  : slot.role == Role::kWorker ? static_cast<int>(config_.listeners()) + slot.index
                                               : static_cast<int>(config_.listeners() + config_.workers()) + 1 +
                                                     (slot.role == Role::kUdpWorker ? slot.index : -1);
    int cpu = CpuForSlot(ordinal, cpus_);
    if (!PinToCpu(cpu)) PLOG(WARNING) << role << ": sched_setaffinity(cpu " << cpu << ") failed";
  }
  if (drop_) {
    std::string error;
    if (DropPrivileges(user_, &error) != DropResult::kDropped) {
      LOG(ERROR) << role << ": dropping privileges to \"" << config_.user() << "\" failed: " << error;
      _exit(kExitFatal);
    }
  }
  if (!config_.log_dir().empty()) {  // see Master::prepareChildLogDir
    // One base per severity, as glog's own names have: solar.log.INFO.<time>.<pid>.
    for (int s = google::GLOG_INFO; s < google::NUM_SEVERITIES; ++s) {
      const std::string base = config_.log_dir() + "/children/solar.log." + google::GetLogSeverityName(s) + ".";
      google::SetLogDestination(s, base.c_str());
    }
  }
  // After the drop: a credential change clears PDEATHSIG. No child outlives a
  // killed master; if it already died, leave now.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
    PLOG(ERROR) << role << ": prctl(PR_SET_PDEATHSIG) failed; a killed master would leave this child behind";
    _exit(kExitFatal);
  }
  if (getppid() != master_pid_) _exit(kExitOk);
  if (std::string error; !ForbidNewPrivileges(&error)) {
    LOG(ERROR) << role << ": " << error;
    _exit(kExitFatal);
  }

  ChildContext ctx;
  ctx.config = &config_;
  ctx.config_path = config_path_;
  ctx.index = slot.index;
  ctx.epoch = slot.spawns;
  ctx.slot = &board_->slot(board);
  ctx.header = &board_->header();
  ctx.board = board_.get();
  ctx.standby = standby;
  signals_.close();
  pid_file_.closeInChild();
  inotify_fd_.reset();
  if (ready_fd_ >= 0) close(ready_fd_);
  notices_.clear();
  const int queue_id = std::exchange(queue_id_, -1);  // the master alone removes the queue
  switch (slot.role) {
    case Role::kListener:
      ctx.listen_fd = listen_fds_[slot.index].release();
      ctx.in_fd = listener_pairs_[slot.index][1].release();
      for (auto& p : worker_pairs_) ctx.out_fds.push_back(p[0].release());
      break;
    case Role::kWorker:
      ctx.in_fd = worker_pairs_[slot.index][1].release();
      for (auto& p : listener_pairs_) ctx.out_fds.push_back(p[0].release());
      break;
    case Role::kUdpListener:
    case Role::kUdpWorker:
      ctx.udp_fd = udp_fd_.release();
      ctx.queue_id = queue_id;
      ctx.queue_msgmax = msgmax_;
      break;
    case Role::kAdmin:
      ctx.listen_fd = admin_fd_.release();
      break;
    default:
      _exit(kExitFatal);
  }
  listen_fds_.clear();  // closes every end this role did not take
  worker_pairs_.clear();
  listener_pairs_.clear();
  udp_fd_.reset();
  admin_fd_.reset();
  UnblockAllSignals();

  int code = kExitFatal;
  switch (slot.role) {
    case Role::kListener: code = RunListener(ctx); break;
    case Role::kWorker: code = RunWorker(ctx); break;
    case Role::kUdpListener: code = RunUdpListener(ctx); break;
    case Role::kUdpWorker: code = RunUdpWorker(ctx); break;
    case Role::kAdmin: code = RunAdmin(ctx); break;
    default: break;
  }
  google::FlushLogFiles(google::GLOG_INFO);
  exit(code);
}

void Master::reap() {
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    if (pid == hup_check_.pid) {
      finishHupCheck(status);
      continue;
    }
    if (ChildSlot* slot = table_.byStandbyPid(pid)) {
      // A reload's replacement died before it was handed the slot.
      slot->standby_pid = 0;
      board_->slot(slot->alt_board).pid.store(0);
      board_->slot(slot->alt_board).state.store(static_cast<uint8_t>(SlotState::kEmpty));
      if (reload_.active && reload_.current >= 0 && &table_.slots()[reload_.current] == slot) {
        reloadFailed("the replacement for " + std::string(RoleName(slot->role)) + " " +
                     std::to_string(slot->index) + " " + DescribeStatus(status) + " before it was ready");
      }
      continue;
    }
    if (ChildSlot* slot = table_.byPid(pid)) onExit(*slot, pid, status);
  }
}

void Master::onExit(ChildSlot& slot, pid_t pid, int status) {
  const std::string who = std::string(RoleName(slot.role)) + " " + std::to_string(slot.index) + " (pid " +
                          std::to_string(pid) + ")";
  slot.pid = 0;
  // A worker that failed its own start-up (module load, onStart: it exits
  // kExitRespawn, or crashes) did not become idle: it will fail the same way
  // after its back-off, most likely. One killed from outside while starting
  // (an operator's KILL, the OOM killer) says nothing of the next start.
  const bool killed_from_outside =
      WIFSIGNALED(status) && (WTERMSIG(status) == SIGKILL || WTERMSIG(status) == SIGTERM || WTERMSIG(status) == SIGINT);
  const bool failed_start = (WIFEXITED(status) && WEXITSTATUS(status) == kExitRespawn) ||
                            (WIFSIGNALED(status) && !killed_from_outside);
  const bool never_ready =
      board_->slot(slot.board).state.load() == static_cast<uint8_t>(SlotState::kStarting) && failed_start;
  board_->slot(slot.board).pid.store(0);
  board_->slot(slot.board).state.store(static_cast<uint8_t>(SlotState::kEmpty));
  if (slot.role == Role::kListener) {
    // Its connections died with it: no worker is busy on its behalf any more
    // (the other listeners' PER_REQUEST choices and scale-down read these).
    for (auto& n : board_->slot(slot.board).conns_per_worker) n.store(0);
    for (auto& n : board_->slot(slot.board).requests_per_worker) n.store(0);
  }
  const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == kExitOk;
  if (slot.role == Role::kWorker) workerLost(slot, slot.board);
  const bool replacing = reload_.active && reload_.current >= 0 && &table_.slots()[reload_.current] == &slot;
  if (slot.standby_pid > 0 && (replacing || slot.retire_sent)) {
    // Retired for a reload (or died while its replacement was starting): the
    // replacement takes the slot, now or as soon as it is ready — also during
    // a stop, so that the slot's queued requests are still served.
    if (!clean || !slot.retire_sent) LOG(WARNING) << who << " " << DescribeStatus(status) << " while being replaced";
    if (slot.retire_sent || !replacing) promote(slot);
    return;
  }
  if (state_ == State::kStoppingListeners && isWorkerRole(slot.role) && slot.enabled && !slot.removing) {
    // The listeners still hold connections whose requests go to this slot.
    LOG_IF(WARNING, !clean) << who << " " << DescribeStatus(status) << " during stop; respawning it for the drain";
    LOG_IF(INFO, clean) << who << " exited during stop; respawning it for the drain";
    if (slot.role == Role::kWorker && never_ready && !slot.down) tellWorkerState(slot, true);
    slot.respawn_at_ms = NowMonotonicMs() + downDelay(slot, respawn_.onExit(&slot, NowMonotonicMs()));
    return;
  }
  if (state_ != State::kRunning) {
    if (!clean) LOG(WARNING) << who << " " << DescribeStatus(status) << " during stop";
    return;
  }
  if (slot.removing && slot.retire_sent && clean) {  // scaled down: the slot goes quiet
    slot.removing = false;
    slot.enabled = false;
    LOG(INFO) << who << " retired (worker count lowered)";
    return;
  }
  if (!slot.enabled) return;
  if (WIFEXITED(status) && WEXITSTATUS(status) == kExitFatal) {
    LOG(ERROR) << who << " cannot run safely (" << DescribeStatus(status) << "); stopping the server";
    exit_code_ = 1;
    beginStop("a child failed fatally");
    return;
  }
  const int64_t now = NowMonotonicMs();
  board_->header().respawns.fetch_add(1);
  if (slot.role == Role::kWorker && never_ready && !slot.down) tellWorkerState(slot, true);
  const int64_t delay = downDelay(slot, respawn_.onExit(&slot, now));
  LOG(WARNING) << who << " " << DescribeStatus(status) << "; respawning in the same slot"
               << (delay > 0 ? " in " + std::to_string(delay) + " ms (it keeps dying at start)" : "");
  slot.respawn_at_ms = now + delay;
}

// A dead worker may have taken requests it never answered; the scoreboard says
// which. Tell each listener, in the same FIFO the worker's replies used, so a
// reply sent just before the death is seen first.
void Master::workerLost(const ChildSlot& slot, size_t board) {
  ProcessSlot& ps = board_->slot(board);
  std::vector<std::string> per_listener(listener_pairs_.size());
  for (uint32_t i = 0; i < ps.held_high && i < kMaxHeld; ++i) {
    const HeldEntry& e = ps.held[i];
    if (!e.used || e.listener >= per_listener.size()) continue;
    ipc::HeldEntry out{e.conn_id, e.conn_gen, e.seq};
    per_listener[e.listener].append(reinterpret_cast<const char*>(&out), sizeof(out));
  }
  for (size_t l = 0; l < per_listener.size(); ++l) {
    if (per_listener[l].empty() && !ps.held_overflow) continue;
    ipc::RecordHeader h = ipc::MakeHeader(ipc::RecordType::kWorkerLost, static_cast<uint16_t>(l),
                                          static_cast<uint32_t>(slot.index), 0);
    if (ps.held_overflow) h.flags |= ipc::kFlagOverflow;
    notices_[l]->append(h, per_listener[l]);
    notices_[l]->flush();  // on EAGAIN the poll loop retries
  }
  ps.held_high = 0;
  ps.held_overflow = 0;
}

// A worker marked down is not tried again before the listeners have surely
// read the notice (they answer it within a loop pass): what they sent before
// it is then all in the socketpair, which dropQueuedForDownWorker empties.
int64_t Master::downDelay(const ChildSlot& slot, int64_t delay) const {
  return slot.role == Role::kWorker && slot.down ? std::max<int64_t>(delay, kDownRespawnMinMs) : delay;
}

// A worker that could not start: the listeners closed every connection with a
// request queued to it (unavailable_closed) and refuse its connections' next
// requests. What is still in its socketpair was sent before they knew, for
// connections already closed with an error; run later by a replacement that
// does start, those requests would change state the clients were told
// failed. So they are dropped before each new attempt (the master holds the
// slot's receiving end too), at least kDownRespawnMinMs after the notice; the
// listeners drop what they still had queued for it themselves.
void Master::dropQueuedForDownWorker(const ChildSlot& slot) {
  const int fd = worker_pairs_[slot.index][1].get();
  std::vector<char> buf(ipc::kMaxDatagram + 64);
  ipc::Limits limits;
  limits.max_message = config_.max_frame_bytes();
  limits.listeners = static_cast<uint16_t>(config_.listeners());
  size_t requests = 0;
  for (;;) {
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // empty (EAGAIN) or an error: nothing more to take
    ipc::RecordReader reader(buf.data(), static_cast<size_t>(n), limits);
    ipc::RecordHeader h;
    std::string_view payload;
    while (reader.next(&h, &payload)) {
      if (h.type == static_cast<uint8_t>(ipc::RecordType::kData) && (h.flags & ipc::kFlagFirst)) ++requests;
    }
  }
  if (requests > 0) {
    LOG(WARNING) << "worker " << slot.index << ": dropped " << requests
                 << " request(s) queued while it could not start (their connections were closed as unavailable)";
  }
}

void Master::tellWorkerState(ChildSlot& slot, bool down, int listener) {
  if (listener < 0) {
    slot.down = down;
    if (down) {
      LOG(ERROR) << "worker " << slot.index << " could not start (" << DescribeWorker(config_.worker())
                 << "); the listeners refuse its requests until a start succeeds";
    } else {
      LOG(INFO) << "worker " << slot.index << " started and serves again";
    }
  }
  for (size_t l = 0; l < notices_.size(); ++l) {
    if (listener >= 0 && static_cast<size_t>(listener) != l) continue;
    ipc::RecordHeader h = ipc::MakeHeader(ipc::RecordType::kWorkerState, static_cast<uint16_t>(l),
                                          static_cast<uint32_t>(slot.index), 0);
    if (down) h.flags |= ipc::kFlagWorkerDown;
    notices_[l]->append(h, {});
    notices_[l]->flush();  // on EAGAIN the poll loop retries
  }
}

void Master::respawnDue(int64_t now) {
  // While the listeners drain, worker slots must stay served (their
  // connections still send requests); after that, nothing respawns.
  if (state_ != State::kRunning && state_ != State::kStoppingListeners) return;
  for (auto& slot : table_.slots()) {
    if (state_ != State::kRunning && !isWorkerRole(slot.role)) continue;
    if (slot.enabled && slot.pid == 0 && slot.standby_pid == 0 && slot.respawn_at_ms >= 0 &&
        slot.respawn_at_ms <= now)
      spawn(slot, false);
  }
}

}  // namespace solar
