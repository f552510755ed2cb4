#include "master/master.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include <glog/logging.h>

#include "config/config.h"
#include "ipc/msg_queue.h"
#include "master/master_impl.h"
#include "sys/affinity.h"
#include "sys/kernel_limits.h"
#include "sys/process_title.h"
#include "sys/state_dir.h"

namespace solar {

Master::Master(Config config, std::string config_path, int ready_fd)
    : config_(std::move(config)), config_path_(std::move(config_path)), ready_fd_(ready_fd) {}

SupervisorSettings Master::settingsFrom(const Config& config) const {
  SupervisorSettings s;
  s.graceful_timeout_ms = config.graceful_timeout_ms();
  s.reload_start_timeout_ms = config.reload_start_timeout_ms();
  s.request_timeout_ms = config.request_timeout_ms();
  s.max_rss_mb = config.max_rss_mb();
  s.respawn_backoff_max_ms = config.respawn_backoff_max_ms();
  s.workers = config.workers();
  s.udp_workers = config.has_udp() ? config.udp().workers() : 0;
  return s;
}

bool Master::setUp() {
  master_pid_ = getpid();
  SetProcessTitle("solar: master");
  std::string error;
  if (!LookupUser(config_.user(), &user_, &error)) {
    LOG(ERROR) << error;
    return false;
  }
  drop_ = geteuid() == 0;
  if (!drop_) {
    LOG(WARNING) << "not running as root: children keep uid " << geteuid() << " (user \"" << config_.user()
                 << "\" applies only when started as root)";
  }
  for (const std::string& w : ConfigWarnings(config_, drop_)) LOG(WARNING) << w;
  if (!config_.log_dir().empty() && !prepareChildLogDir()) return false;
  if (config_.cpu_affinity()) cpus_ = AllowedCpus();

  KernelLimitNeeds needs;
  needs.nofile = config_.rlimit_nofile();
  // A listener: its connections, both ends of every worker socketpair it may
  // hold, its own, and a margin for logs, libevent and the spare accept fd.
  needs.nofile_required = uint64_t{config_.max_connections()} + 2 * uint64_t{config_.max_workers()} + 64;
  if (config_.has_udp()) {
    // A queue message is a 32-byte header plus the datagram.
    needs.msgmax = config_.udp().max_datagram_bytes() + sizeof(ipc::UdpMessageHeader);
    needs.msgmnb = config_.udp().queue_bytes();
  }
  CheckKernelLimits(needs, config_.raise_kernel_limits());

  // The pid file's lock first: it refuses a second instance before that one
  // could bind the same port (SO_REUSEPORT would let it). The pid is written
  // once the sockets are bound.
  pid_t holder = -1;
  if (!pid_file_.acquire(config_.pid_file(), &error, &holder)) {
    LOG(ERROR) << "cannot start: " << error;
    return false;
  }
  // After the lock: a second instance refused above must not touch the first
  // one's state.
  if (!PrepareStateDir(config_.state_dir(), drop_ ? &user_ : nullptr, &error)) {
    LOG(ERROR) << "cannot start: " << error;
    return false;
  }
  if (!signals_.install({SIGTERM, SIGINT, SIGQUIT, SIGCHLD, SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH})) {
    PLOG(ERROR) << "installing signal handlers failed";
    return false;
  }
  if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) PLOG(WARNING) << "ignoring SIGPIPE failed";
  if (!createBoard() || !endpoints_.open(config_, user_.uid, user_.gid)) return false;
  for (size_t l = 0; l < endpoints_.listeners(); ++l) {
    notices_.push_back(std::make_unique<ipc::OutChannel>(endpoints_.noticeFd(l)));
  }
  buildSupervisor();
  if (config_.worker().watch() && !setUpWatch()) return false;
  if (!pid_file_.writePid(&error)) {
    LOG(ERROR) << "cannot start: " << error;
    return false;
  }
  return true;
}

// Scoreboard layout: listeners, two slots per worker slot (a replacement
// starts beside the process it replaces), the UDP listener, two per UDP
// worker slot, the admin process.
bool Master::createBoard() {
  const size_t L = config_.listeners(), W = config_.max_workers();
  std::vector<Role> layout(L, Role::kListener);
  layout.insert(layout.end(), 2 * W, Role::kWorker);
  layout.push_back(config_.has_udp() ? Role::kUdpListener : Role::kNone);
  layout.insert(layout.end(), 2 * W, config_.has_udp() ? Role::kUdpWorker : Role::kNone);
  layout.push_back(config_.admin_listen().empty() ? Role::kNone : Role::kAdmin);
  board_ = Scoreboard::create(layout);
  if (!board_) return false;  // logged
  ScoreboardHeader& h = board_->header();
  h.master_pid.store(master_pid_);
  h.started_ms.store(NowRealtimeMs());
  h.state.store(static_cast<uint8_t>(ServerState::kStarting));
  h.draining.store(0);
  h.active_workers.store(config_.workers());
  h.max_connections.store(config_.max_connections());
  h.idle_timeout_ms.store(config_.idle_timeout_ms());
  h.request_read_timeout_ms.store(config_.request_read_timeout_ms());
  h.send_timeout_ms.store(config_.send_timeout_ms());
  return true;
}

void Master::buildSupervisor() {
  const size_t L = config_.listeners(), W = config_.max_workers();
  std::vector<size_t> listener_boards;
  for (size_t l = 0; l < L; ++l) listener_boards.push_back(l);
  probe_ = std::make_unique<BoardProbe>(board_.get(), std::move(listener_boards));
  supervisor_ = std::make_unique<Supervisor>(settingsFrom(config_), probe_.get());
  Supervisor& sup = *supervisor_;
  for (size_t l = 0; l < L; ++l) sup.addSlot(Role::kListener, static_cast<int>(l), l, 0, true);
  for (size_t w = 0; w < W; ++w) {
    sup.addSlot(Role::kWorker, static_cast<int>(w), L + 2 * w, L + 2 * w + 1, w < config_.workers());
  }
  if (config_.has_udp()) {
    sup.addSlot(Role::kUdpListener, 0, L + 2 * W, 0, true);
    for (size_t u = 0; u < W; ++u) {
      sup.addSlot(Role::kUdpWorker, static_cast<int>(u), L + 2 * W + 1 + 2 * u, L + 2 * W + 2 + 2 * u,
                  u < config_.udp().workers());
    }
  }
  if (!config_.admin_listen().empty()) sup.addSlot(Role::kAdmin, 0, L + 4 * W + 1, 0, true);
}

// Signals as process control (PHP-FPM fpm_pctl): the supervisor ignores a
// duplicate and lets nothing override a stop.
void Master::handleSignal(int signo, int64_t now) {
  switch (signo) {
    case SIGCHLD:
      reap(now);
      break;
    case SIGTERM:
    case SIGINT:
    case SIGQUIT:
      supervisor_->stop(strsignal(signo), now);
      break;
    case SIGUSR1:
      supervisor_->reload("USR1", now);
      break;
    case SIGHUP:
      if (supervisor_->running()) reconfigure();
      break;
    case SIGUSR2:
      LOG(WARNING) << "USR2 (binary upgrade) is not supported by this version; ignored";
      break;
    case SIGWINCH:  // solarctl drain
      if (supervisor_->running() && board_->header().draining.exchange(1) == 0) {
        LOG(INFO) << "draining (WINCH): /health answers 503 so that a load balancer sends new connections "
                     "elsewhere; still serving every connection; stop it (TERM) when they have moved";
      }
      break;
    default:
      break;
  }
}

void Master::carryOut() {
  for (std::vector<Action> batch; !(batch = supervisor_->takeActions()).empty();) {
    for (const Action& a : batch) carryOut(a);
  }
}

void Master::carryOut(const Action& a) {
  ScoreboardHeader& h = board_->header();
  const Slot& slot = supervisor_->slots()[a.slot];
  switch (a.kind) {
    case Action::Kind::kFork: fork(a); break;
    case Action::Kind::kSignal: SignalProcess(a.pid, a.sig); break;  // ESRCH (just exited) is expected
    case Action::Kind::kWorkerDown: tellWorkerState(slot.index, true, a.listener); break;
    case Action::Kind::kWorkerUp: tellWorkerState(slot.index, false, -1); break;
    case Action::Kind::kWorkerLost: workerLost(slot, a.board); break;
    case Action::Kind::kDropQueued: dropQueued(slot); break;
    case Action::Kind::kClearBoard: clearBoard(a.board, a.role); break;
    case Action::Kind::kClearRecycle: board_->worker(a.board)->recycle.store(0); break;
    case Action::Kind::kServerState: h.state.store(static_cast<uint8_t>(a.state)); break;
    case Action::Kind::kNotify: notifySystemd(a.text.c_str()); break;
    case Action::Kind::kStopBegan: stopBegan(); break;
    case Action::Kind::kReady: announceReady(); break;
    case Action::Kind::kLog:
      LOG_IF(INFO, a.severity == 0) << a.text;
      LOG_IF(WARNING, a.severity == 1) << a.text;
      LOG_IF(ERROR, a.severity >= 2) << a.text;
      break;
    case Action::Kind::kCount:
      switch (a.counter) {
        case Action::Counter::kRespawns: h.respawns.fetch_add(1); break;
        case Action::Counter::kTimeouts: h.timeouts.fetch_add(1); break;
        case Action::Counter::kReloads: h.reloads.fetch_add(1); break;
        case Action::Counter::kReloadFailures: h.reload_failures.fetch_add(1); break;
        case Action::Counter::kRecycles: h.recycles.fetch_add(1); break;
      }
      break;
  }
}

void Master::stopBegan() {
  board_->header().draining.store(1);
  hup_again_ = false;
  if (hup_check_.pid > 0) SignalProcess(hup_check_.pid, SIGKILL);  // a HUP being checked is not applied now
  // Our copies of the listening sockets go now, so the port closes as soon as
  // each listener closes its own.
  endpoints_.closeListeningSockets();
}

void Master::announceReady() {
  LOG(INFO) << "ready: listening on " << endpoints_.address().toString() << " with " << config_.listeners()
            << " listener(s) and " << config_.workers() << " worker(s) running "
            << (config_.worker().module().empty() ? config_.worker().name() : config_.worker().module())
            << (config_.has_udp() ? "; udp on " + endpoints_.udpAddress().toString() + " with " +
                                        std::to_string(config_.udp().workers()) + " udp worker(s)"
                                  : std::string())
            << (config_.admin_listen().empty() ? std::string()
                                               : "; admin on " + endpoints_.adminAddress().toString())
            << ", master pid " << getpid();
  notifySystemd("READY=1");
  if (ready_fd_ >= 0) {  // daemon mode: the parent waiting in the foreground may exit 0 now
    if (write(ready_fd_, "1", 1) != 1) PLOG(WARNING) << "writing to the daemon's ready pipe failed";
    close(ready_fd_);
    ready_fd_ = -1;
  }
}

// One line per role with its non-zero counters summed over its slots, so a
// stop leaves a record of drops and errors (the admin endpoint shows them live).
void Master::logTotals() {
  for (Role role : {Role::kListener, Role::kWorker, Role::kUdpListener, Role::kUdpWorker}) {
    uint64_t sum[kCounterCount] = {};
    bool any = false;
    for (const Slot& slot : supervisor_->slots()) {
      if (slot.role != role || (!slot.wanted && slot.spawns == 0)) continue;
      any = true;
      // A worker slot has two scoreboard slots (the second for a replacement);
      // other roles one (their alt_board is unused).
      for (int c = 0; c < kCounterCount; ++c) sum[c] += board_->slot(slot.board).counters[c].load();
      if (slot.role == Role::kWorker || slot.role == Role::kUdpWorker) {
        for (int c = 0; c < kCounterCount; ++c) sum[c] += board_->slot(slot.alt_board).counters[c].load();
      }
    }
    if (!any) continue;
    std::string line;
    for (int c = 0; c < kCounterCount; ++c) {
      if (sum[c] != 0 && c != kConnections && c != kQueuedToWorker)
        line += " " + std::string(CounterName(c)) + "=" + std::to_string(sum[c]);
    }
    LOG(INFO) << "totals for " << RoleName(role) << "s since their last start:" << (line.empty() ? " none" : line);
  }
}

int Master::pollTimeoutMs(int64_t now) const {
  int64_t next = supervisor_->nextDueMs(now);
  if (watch_due_ms_ >= 0) next = std::min(next, watch_due_ms_);
  if (hup_check_.pid > 0) next = std::min(next, now + 20);  // its result applied promptly
  return static_cast<int>(std::max<int64_t>(0, next - now));
}

int Master::run() {
  if (!setUp()) {
    endpoints_.removeQueue();
    return 1;
  }
  supervisor_->start(NowMonotonicMs());
  carryOut();
  while (!supervisor_->done()) {
    std::vector<pollfd> fds;
    fds.push_back({signals_.readFd(), POLLIN, 0});
    if (inotify_fd_) fds.push_back({inotify_fd_.get(), POLLIN, 0});
    for (auto& n : notices_) {
      if (n->hasPending()) fds.push_back({n->fd(), POLLOUT, 0});
    }
    const int rc = ::poll(fds.data(), fds.size(), pollTimeoutMs(NowMonotonicMs()));
    if (rc < 0 && errno != EINTR) PLOG(ERROR) << "poll() in the master failed";
    int64_t now = NowMonotonicMs();
    for (int signo; (signo = signals_.next()) != 0;) handleSignal(signo, now);
    reap(now);  // a coalesced SIGCHLD is harmless: reap in a loop anyway
    carryOut();  // the boards of reaped children cleared before the tick reads them
    for (auto& n : notices_) {
      if (n->hasPending()) n->flush();  // EAGAIN: polled for POLLOUT next pass
    }
    now = NowMonotonicMs();
    if (inotify_fd_ && fds.size() > 1 && (fds[1].revents & POLLIN)) onWatchEvent(now);
    if (watch_due_ms_ >= 0 && now >= watch_due_ms_ && supervisor_->running()) {
      watch_due_ms_ = -1;
      supervisor_->reload("module " + config_.worker().module() + " changed", now);
    }
    watchHupCheck(now);
    supervisor_->tick(now);
    carryOut();
  }
  logTotals();
  endpoints_.removeQueue();
  pid_file_.remove();
  LOG(INFO) << "stopped";
  return supervisor_->exitCode();
}

int RunMaster(const Config& config, const std::string& config_path, int ready_fd) {
  Master master(config, config_path, ready_fd);
  return master.run();
}

}  // namespace solar
