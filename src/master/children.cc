// Forking children into their slots, the child's start-up order, reaping,
// and the notices the master sends listeners about workers.
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <utility>

#include <glog/logging.h>

#include "admin/admin_http.h"
#include "app/child_context.h"
#include "app/module_loader.h"
#include "listener/listener.h"
#include "master/master_impl.h"
#include "sys/affinity.h"
#include "sys/process_title.h"
#include "udp/udp_listener.h"
#include "worker/worker_process.h"

namespace solar {

void Master::fork(const Action& a) {
  const Slot& slot = supervisor_->slots()[a.slot];
  board_->reset(a.board, slot.role, slot.index);
  sigset_t old;
  BlockAllSignals(&old);  // no handler may run in the child before it resets them
  const pid_t pid = ::fork();
  if (pid == 0) childMain(slot, a.board, a.standby, a.epoch);
  RestoreSignalMask(old);
  const int64_t now = NowMonotonicMs();
  if (pid < 0) {
    PLOG(ERROR) << "fork() for " << RoleName(slot.role) << " " << slot.index << " failed";
    supervisor_->forkFailed(a.slot, a.standby, now);
    return;
  }
  board_->slot(a.board).pid.store(pid);
  // The admin child cannot write its slot (see childMain): serving from the start.
  if (slot.role == Role::kAdmin) board_->slot(a.board).state.store(static_cast<uint8_t>(SlotState::kIdle));
  supervisor_->forked(a.slot, a.standby, pid, now);
}

// The child's fixed order (STYLE rule 7): signal dispositions, affinity,
// privilege drop, parent-death signal, close what this role does not use,
// unblock signals, run the role.
void Master::childMain(const Slot& slot, size_t board, bool standby, uint32_t epoch) {
  ResetSignalsInChild();  // defaults while still blocked
  const std::string name = std::string(RoleName(slot.role)) + " " + std::to_string(slot.index);
  prepareChildProcess(slot, name);
  ChildContext ctx;
  ctx.config = &config_;
  ctx.config_path = config_path_;
  ctx.index = slot.index;
  ctx.epoch = epoch;
  ctx.slot = &board_->slot(board);
  ctx.worker_slot = board_->worker(board);
  ctx.listener_slot = board_->listener(board);
  ctx.header = &board_->header();
  ctx.board = board_.get();
  ctx.standby = standby;
  // The admin endpoint parses HTTP from the network: it writes nothing shared.
  const long own = slot.role == Role::kAdmin ? -1 : static_cast<long>(board);
  if (std::string error; !board_->restrictTo(own, &error)) {
    LOG(ERROR) << name << ": " << error;
    _exit(kExitRespawn);
  }
  signals_.close();
  pid_file_.closeInChild();
  inotify_fd_.reset();
  hup_check_.output.reset();
  if (ready_fd_ >= 0) close(ready_fd_);
  notices_.clear();
  // The hand-off: this role's ends leave their owners here (STYLE rule 2);
  // every other end is closed with the endpoints.
  ChildFds fds = endpoints_.takeFor(slot.role, slot.index);
  ctx.listen_fd = fds.listen.release();
  ctx.in_fd = fds.in.release();
  for (UniqueFd& out : fds.out) ctx.out_fds.push_back(out.release());
  ctx.udp_fd = fds.udp.release();
  ctx.queue_id = fds.queue_id;
  ctx.queue_msgmax = fds.queue_msgmax;
  UnblockAllSignals();

  int code = kExitFatal;
  switch (slot.role) {
    case Role::kListener: code = RunListener(ctx); break;
    case Role::kWorker: code = RunWorker(ctx); break;
    case Role::kUdpListener: code = RunUdpListener(ctx); break;
    case Role::kUdpWorker: code = RunUdpWorker(ctx); break;
    case Role::kAdmin: code = RunAdmin(ctx); break;
    default: LOG(ERROR) << name << ": no such role"; break;
  }
  google::FlushLogFiles(google::GLOG_INFO);
  exit(code);
}

// Affinity, privilege drop, log files, parent-death signal: any failure that
// would leave the child unsafe exits kExitFatal (the master stops) with a line.
void Master::prepareChildProcess(const Slot& slot, const std::string& name) {
  SetProcessTitle("solar: " + name);
  if (!cpus_.empty()) {
    // Listeners, then workers, then the UDP roles: one sequence over the CPUs.
    const int ordinal = slot.role == Role::kListener ? slot.index
                        : slot.role == Role::kWorker ? static_cast<int>(config_.listeners()) + slot.index
                                                     : static_cast<int>(config_.listeners() + config_.workers()) + 1 +
                                                           (slot.role == Role::kUdpWorker ? slot.index : -1);
    const int cpu = CpuForSlot(ordinal, cpus_);
    if (!PinToCpu(cpu)) PLOG(WARNING) << name << ": sched_setaffinity(cpu " << cpu << ") failed";
  }
  if ((slot.role == Role::kWorker || slot.role == Role::kUdpWorker) && config_.worker_scheduling() == BATCH &&
      !UseBatchScheduling())
    PLOG(WARNING) << name << ": sched_setscheduler(SCHED_BATCH) failed; keeping its scheduling policy";
  if (drop_) {
    std::string error;
    if (DropPrivileges(user_, &error) != DropResult::kDropped) {
      LOG(ERROR) << name << ": dropping privileges to \"" << config_.user() << "\" failed: " << error;
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
    PLOG(ERROR) << name << ": prctl(PR_SET_PDEATHSIG) failed; a killed master would leave this child behind";
    _exit(kExitFatal);
  }
  if (getppid() != master_pid_) {
    LOG(WARNING) << name << ": the master died before this child started; exiting";
    _exit(kExitOk);
  }
  if (std::string error; !ForbidNewPrivileges(&error)) {
    LOG(ERROR) << name << ": " << error;
    _exit(kExitFatal);
  }
}

// glog opens a file per process, named with its pid, when a forked child
// first logs: as `user`, a child cannot create one in the root-owned log_dir
// (and its lines, onStart's failure among them, were lost). Children log to
// LOG_DIR/children, which that user owns; the master's own files stay in
// LOG_DIR, where a worker cannot touch them.
bool Master::prepareChildLogDir() {
  const std::string dir = config_.log_dir() + "/children";
  if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
    PLOG(ERROR) << "cannot start: mkdir(" << dir << ") for the children's logs failed";
    return false;
  }
  if (drop_ && ::chown(dir.c_str(), user_.uid, user_.gid) != 0) {
    PLOG(ERROR) << "cannot start: chown(" << dir << ") for the children's logs failed";
    return false;
  }
  return true;
}

void Master::reap(int64_t now) {
  for (;;) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid == 0 || (pid < 0 && errno == ECHILD)) return;
    if (pid < 0) {
      if (errno != EINTR) PLOG(ERROR) << "waitpid() in the master failed";
      return;
    }
    if (pid == hup_check_.pid) {
      finishHupCheck(status);
      continue;
    }
    if (!supervisor_->exited(pid, status, now)) LOG(WARNING) << "reaped pid " << pid << ", not a child of a slot";
  }
}

void Master::clearBoard(size_t board, Role role) {
  ProcessSlot& ps = board_->slot(board);
  ps.pid.store(0);
  ps.state.store(static_cast<uint8_t>(SlotState::kEmpty));
  if (ListenerSlot* l = board_->listener(board)) {
    // Its connections died with it: no worker is busy on its behalf any more
    // (the other listeners' PER_REQUEST choices and scale-down read these).
    for (auto& n : l->conns_per_worker) n.store(0);
    for (auto& n : l->requests_per_worker) n.store(0);
  }
}

// A dead worker may have taken requests it never answered; the scoreboard says
// which. Tell each listener, in the same FIFO the worker's replies used, so a
// reply sent just before the death is seen first.
void Master::workerLost(const Slot& slot, size_t board) {
  WorkerSlot& ps = *board_->worker(board);
  std::vector<std::string> per_listener(notices_.size());
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

// A worker that could not start: the listeners closed every connection with a
// request queued to it (unavailable_closed) and refuse its connections' next
// requests. What is still in its socketpair was sent before they knew, for
// connections already closed with an error; run later by a replacement that
// does start, those requests would change state the clients were told
// failed. So they are dropped before each new attempt (the master holds the
// slot's receiving end too), at least Supervisor::kDownRespawnMinMs after the
// notice; the listeners drop what they still had queued for it themselves.
void Master::dropQueued(const Slot& slot) {
  const int fd = endpoints_.workerInFd(slot.index);
  std::vector<char> buf(ipc::kMaxDatagram + 64);
  ipc::Limits limits;
  limits.max_message = config_.max_frame_bytes();
  limits.listeners = static_cast<uint16_t>(config_.listeners());
  size_t requests = 0;
  for (;;) {
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) PLOG(ERROR) << "recv() on worker " << slot.index << "'s socketpair failed";
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

void Master::tellWorkerState(int index, bool down, int listener) {
  if (listener < 0 && down) {
    LOG(ERROR) << "worker " << index << " could not start (" << DescribeWorker(config_.worker())
               << "); the listeners refuse its requests until a start succeeds";
  } else if (listener < 0) {
    LOG(INFO) << "worker " << index << " started and serves again";
  }
  for (size_t l = 0; l < notices_.size(); ++l) {
    if (listener >= 0 && static_cast<size_t>(listener) != l) continue;
    ipc::RecordHeader h = ipc::MakeHeader(ipc::RecordType::kWorkerState, static_cast<uint16_t>(l),
                                          static_cast<uint32_t>(index), 0);
    if (down) h.flags |= ipc::kFlagWorkerDown;
    notices_[l]->append(h, {});
    notices_[l]->flush();  // on EAGAIN the poll loop retries
  }
}

}  // namespace solar
