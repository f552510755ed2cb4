#include "master/master.h"

#include <poll.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <ctime>

#include <glog/logging.h>

#include "config/config.h"
#include "ipc/msg_queue.h"
#include "master/master_impl.h"
#include "sys/affinity.h"
#include "sys/kernel_limits.h"
#include "sys/process_title.h"
#include "sys/state_dir.h"

namespace solar {

namespace {
constexpr int64_t kMinHealthyLifeMs = 1000;  // dying sooner counts toward back-off
constexpr size_t kSocketpairSndbuf = 4u << 20;
}  // namespace

namespace {

// A listening TCP socket at *addr; a port 0 is replaced by the port the kernel
// chose, so the rest of a SO_REUSEPORT group binds the same one. Logs and
// returns an empty fd on failure.
// SO_REUSEPORT lets any socket of the same user join a group, so a second
// solar on a served port would silently share it (issue 10). A plain bind
// first, without SO_REUSEPORT, fails with EADDRINUSE when anything listens
// there, as nginx refuses; for port 0 it also picks the port the group takes.
// Returns false (logged) if the address is taken.
bool ProbeAddressFree(SocketAddress* addr, const std::string& what) {
  UniqueFd probe(::socket(addr->family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe) {
    PLOG(ERROR) << "socket() for " << what << " failed";
    return false;
  }
  int one = 1;
  if (setsockopt(probe.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
    PLOG(WARNING) << "setsockopt(SO_REUSEADDR) for " << what << " failed";  // only TIME_WAIT reuse is lost
  if (::bind(probe.get(), addr->get(), addr->length) != 0) {
    PLOG(ERROR) << "bind(" << addr->toString() << ") for " << what << " failed"
                << (errno == EADDRINUSE ? " (another process serves this address)" : "");
    return false;
  }
  if (addr->port() == 0) {
    socklen_t len = sizeof(addr->storage);
    if (getsockname(probe.get(), reinterpret_cast<sockaddr*>(&addr->storage), &len) != 0) {
      PLOG(ERROR) << "getsockname() for " << what << " failed";
      return false;
    }
  }
  return true;
}

UniqueFd BindStream(SocketAddress* addr, bool reuseport, int backlog, const std::string& what) {
  UniqueFd fd(::socket(addr->family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    PLOG(ERROR) << "socket() for " << what << " failed";
    return fd;
  }
  int one = 1;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
    PLOG(WARNING) << "setsockopt(SO_REUSEADDR) for " << what << " failed";  // only TIME_WAIT reuse is lost
  if (reuseport && setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    PLOG(ERROR) << "setsockopt(SO_REUSEPORT) for " << what << " failed";
    return UniqueFd();
  }
  if (::bind(fd.get(), addr->get(), addr->length) != 0) {
    PLOG(ERROR) << "bind(" << addr->toString() << ") for " << what << " failed";
    return UniqueFd();
  }
  if (::listen(fd.get(), backlog) != 0) {
    PLOG(ERROR) << "listen(" << addr->toString() << ") for " << what << " failed";
    return UniqueFd();
  }
  if (addr->port() == 0) {
    // Without the chosen port, each socket of the group would bind another one.
    socklen_t len = sizeof(addr->storage);
    if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr->storage), &len) != 0) {
      PLOG(ERROR) << "getsockname() for " << what << " failed";
      return UniqueFd();
    }
  }
  return fd;
}

}  // namespace

std::string DescribeStatus(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    std::string s = std::string("killed by signal ") + strsignal(WTERMSIG(status));
    if (WCOREDUMP(status)) s += " (core dumped)";
    return s;
  }
  return "status " + std::to_string(status);
}

Master::Master(Config config, std::string config_path, int ready_fd)
    : config_(std::move(config)), config_path_(std::move(config_path)), ready_fd_(ready_fd),
      respawn_(kMinHealthyLifeMs, config_.respawn_backoff_max_ms()) {}

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
  signal(SIGPIPE, SIG_IGN);

  // Scoreboard layout: listeners, two slots per worker slot (a replacement
  // starts beside the process it replaces), the UDP listener, two per UDP
  // worker slot, the admin process.
  const size_t L = config_.listeners(), Wmax = config_.max_workers();
  board_ = Scoreboard::create(L + 4 * Wmax + 2);
  if (!board_) {
    PLOG(ERROR) << "mmap() of the scoreboard failed";
    return false;
  }
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

  if (!bindListeners()) return false;
  worker_pairs_.resize(Wmax);
  for (size_t w = 0; w < Wmax; ++w) {
    if (!makePair(&worker_pairs_[w], "worker " + std::to_string(w))) return false;
  }
  listener_pairs_.resize(L);
  for (size_t l = 0; l < L; ++l) {
    if (!makePair(&listener_pairs_[l], "listener " + std::to_string(l))) return false;
    notices_.push_back(std::make_unique<ipc::OutChannel>(listener_pairs_[l][0].get()));
  }
  for (size_t l = 0; l < L; ++l) table_.add(Role::kListener, static_cast<int>(l), l);
  for (size_t w = 0; w < Wmax; ++w) {
    table_.add(Role::kWorker, static_cast<int>(w), L + 2 * w, L + 2 * w + 1).enabled = w < config_.workers();
  }
  if (config_.has_udp()) {
    if (!setUpUdp()) return false;
    table_.add(Role::kUdpListener, 0, L + 2 * Wmax);
    for (size_t u = 0; u < Wmax; ++u) {
      table_.add(Role::kUdpWorker, static_cast<int>(u), L + 2 * Wmax + 1 + 2 * u, L + 2 * Wmax + 2 + 2 * u).enabled =
          u < config_.udp().workers();
    }
  }
  if (!config_.admin_listen().empty()) {
    if (!setUpAdmin()) return false;
    table_.add(Role::kAdmin, 0, L + 4 * Wmax + 1);
  }
  if (config_.worker().watch() && !setUpWatch()) return false;
  if (!pid_file_.writePid(&error)) {
    LOG(ERROR) << "cannot start: " << error;
    return false;
  }
  return true;
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

bool Master::bindListeners() {
  std::string error;
  if (!ParseSocketAddress(config_.listen(), &address_, &error)) {
    LOG(ERROR) << "listen: " << error;
    return false;
  }
  if (!ProbeAddressFree(&address_, "listen")) return false;
  for (uint32_t l = 0; l < config_.listeners(); ++l) {
    // One socket per listener in a SO_REUSEPORT group: the kernel spreads new
    // connections, so there is no thundering herd and no accept lock (seed 003 §4.2).
    UniqueFd fd = BindStream(&address_, /*reuseport=*/true, static_cast<int>(config_.backlog()),
                             "listener " + std::to_string(l));
    if (!fd) return false;
    listen_fds_.push_back(std::move(fd));
  }
  return true;
}

bool Master::setUpAdmin() {
  std::string error;
  if (!ParseSocketAddress(config_.admin_listen(), &admin_address_, &error)) {
    LOG(ERROR) << "admin_listen: " << error;
    return false;
  }
  admin_fd_ = BindStream(&admin_address_, /*reuseport=*/false, 64, "the admin endpoint");
  return static_cast<bool>(admin_fd_);
}

bool Master::setUpUdp() {
  const UdpConfig& udp = config_.udp();
  std::string error;
  if (!ParseSocketAddress(udp.listen(), &udp_address_, &error)) {
    LOG(ERROR) << "udp.listen: " << error;
    return false;
  }
  udp_fd_.reset(::socket(udp_address_.family(), SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!udp_fd_) {
    PLOG(ERROR) << "socket() for udp.listen failed";
    return false;
  }
  // No SO_REUSEADDR: on a UDP socket it would let a second server bind the
  // same port and take part of its datagrams (and UDP has no TIME_WAIT).
  // Bursts wait in the socket while the listener moves them to the queue.
  int rcvbuf = 4 << 20;
  if (setsockopt(udp_fd_.get(), SOL_SOCKET, geteuid() == 0 ? SO_RCVBUFFORCE : SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)))
    setsockopt(udp_fd_.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  if (::bind(udp_fd_.get(), udp_address_.get(), udp_address_.length) != 0) {
    PLOG(ERROR) << "bind(" << udp_address_.toString() << ") for udp.listen failed";
    return false;
  }
  socklen_t len = sizeof(udp_address_.storage);
  if (getsockname(udp_fd_.get(), reinterpret_cast<sockaddr*>(&udp_address_.storage), &len) != 0) {
    PLOG(ERROR) << "getsockname() for udp.listen failed";
    return false;
  }

  const key_t key = udp.queue_key() ? static_cast<key_t>(udp.queue_key()) : ipc::DeriveQueueKey(config_.pid_file());
  bool stale = false;
  queue_id_ = ipc::MsgQueue::Create(key, &stale);
  if (queue_id_ < 0) {
    PLOG(ERROR) << "msgget(key 0x" << std::hex << key << std::dec << ") for the UDP queue failed";
    return false;
  }
  if (stale) {
    LOG(WARNING) << "removed a stale UDP queue with key 0x" << std::hex << key << std::dec
                 << " (left by a run that did not stop cleanly)";
  }
  int err = ipc::MsgQueue::Configure(queue_id_, user_.uid, user_.gid, udp.queue_bytes());
  if (err != 0) {
    LOG(WARNING) << "could not set the UDP queue's byte limit to " << udp.queue_bytes() << " (" << strerror(err)
                 << "); the kernel default kernel.msgmnb=" << ReadSysctl("kernel/msgmnb")
                 << " applies: raise it with sysctl -w kernel.msgmnb=" << udp.queue_bytes();
  }
  int64_t msgmax = ReadSysctl("kernel/msgmax");
  if (msgmax > 0) msgmax_ = static_cast<size_t>(msgmax);
  return true;
}

void Master::removeQueue() {
  if (queue_id_ < 0) return;
  if (!ipc::MsgQueue::Remove(queue_id_)) PLOG(WARNING) << "msgctl(IPC_RMID) of the UDP queue failed";
  queue_id_ = -1;
}

bool Master::makePair(Pair* pair, const std::string& what) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) != 0) {
    PLOG(ERROR) << "socketpair() for " << what << " failed";
    return false;
  }
  (*pair)[0].reset(sv[0]);
  (*pair)[1].reset(sv[1]);
  // Every datagram in flight is charged to the sending socket: a bigger send
  // buffer lets more requests wait for a busy worker without EAGAIN.
  int size = static_cast<int>(kSocketpairSndbuf);
  if (setsockopt(sv[0], SOL_SOCKET, geteuid() == 0 ? SO_SNDBUFFORCE : SO_SNDBUF, &size, sizeof(size)) != 0) {
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  }
  return true;
}

// Signals as process control (PHP-FPM fpm_pctl): a duplicate is ignored, and
// nothing overrides a stop.
void Master::handleSignal(int signo) {
  switch (signo) {
    case SIGCHLD:
      reap();
      break;
    case SIGTERM:
    case SIGINT:
    case SIGQUIT:
      if (state_ == State::kRunning) {
        beginStop(strsignal(signo));
      } else if (state_ != State::kDone) {
        LOG(WARNING) << "second stop signal during the drain: killing all children now";
        killAll(SIGKILL);
      }
      break;
    case SIGUSR1:
      if (state_ == State::kRunning) startReload("USR1");
      break;
    case SIGHUP:
      if (state_ == State::kRunning) reconfigure();
      break;
    case SIGUSR2:
      LOG(WARNING) << "USR2 (binary upgrade) is not supported by this version; ignored";
      break;
    case SIGWINCH:  // solarctl drain
      if (state_ == State::kRunning && board_->header().draining.exchange(1) == 0) {
        LOG(INFO) << "draining (WINCH): /health answers 503 so that a load balancer sends new connections "
                     "elsewhere; still serving every connection; stop it (TERM) when they have moved";
      }
      break;
    default:
      break;
  }
}

void Master::beginStop(const char* why) {
  if (state_ != State::kRunning) return;
  LOG(INFO) << "stopping (" << why << "): no new connections; finishing requests in flight";
  notifySystemd("STOPPING=1");
  state_ = State::kStoppingListeners;
  board_->header().state.store(static_cast<uint8_t>(ServerState::kStopping));
  board_->header().draining.store(1);
  stop_deadline_ms_ = NowMonotonicMs() + config_.graceful_timeout_ms();
  reload_ = Reload();
  hup_again_ = false;
  if (hup_check_.pid > 0) SignalProcess(hup_check_.pid, SIGKILL);  // a HUP being checked is not applied now
  // Our copies of the listening sockets go now, so the port closes as soon as
  // each listener closes its own.
  listen_fds_.clear();
  for (auto& slot : table_.slots()) {
    // Worker slots stay served until the listeners are gone: a pending
    // respawn still happens, and a replacement whose predecessor is already
    // retiring still takes over (onExit promotes it).
    if (!isWorkerRole(slot.role)) slot.respawn_at_ms = -1;
    if (slot.standby_pid > 0 && !slot.retire_sent) SignalProcess(slot.standby_pid, SIGTERM);
    // The admin endpoint stays up while the listeners drain: /health says
    // "503 stopping" to the load balancer rather than refusing the check.
    if ((slot.role == Role::kListener || slot.role == Role::kUdpListener) && slot.pid > 0)
      SignalProcess(slot.pid, SIGTERM);
  }
}

void Master::advanceStop(int64_t now) {
  if (state_ == State::kStoppingListeners && table_.running(Role::kListener) == 0 &&
      table_.running(Role::kUdpListener) == 0) {
    // Listeners are gone only once every reply was written: workers can go.
    // UDP workers first drain what the UDP listener queued.
    state_ = State::kStoppingWorkers;
    for (auto& slot : table_.slots()) {
      if ((isWorkerRole(slot.role) || slot.role == Role::kAdmin) && slot.pid > 0) SignalProcess(slot.pid, SIGTERM);
    }
    last_udp_term_ms_ = now;
  }
  if (state_ == State::kStoppingWorkers && now - last_udp_term_ms_ >= 100) {
    // Repeated: a TERM that lands just before a UDP worker enters msgrcv() is
    // not seen until the next message, and a worker promoted during the stop
    // gets its TERM once it has left standby (a standby told to stop would
    // exit without serving its slot).
    for (auto& slot : table_.slots()) {
      if (!isWorkerRole(slot.role) || slot.pid <= 0) continue;
      if (static_cast<SlotState>(board_->slot(slot.board).state.load()) == SlotState::kStandby) continue;
      SignalProcess(slot.pid, SIGTERM);
    }
    last_udp_term_ms_ = now;
  }
  if (state_ == State::kStoppingWorkers && table_.running() == 0) state_ = State::kDone;
  if (state_ != State::kDone && now >= stop_deadline_ms_) {
    LOG(WARNING) << "graceful_timeout_ms (" << config_.graceful_timeout_ms() << ") passed; killing "
                 << table_.running() << " child(ren)";
    killAll(SIGKILL);
    stop_deadline_ms_ = now + 1000000;
  }
}

void Master::killAll(int sig) {
  for (auto& slot : table_.slots()) {
    if (slot.pid > 0) SignalProcess(slot.pid, sig);
    if (slot.standby_pid > 0) SignalProcess(slot.standby_pid, sig);
  }
}

void Master::checkReady() {
  if (ready_ || state_ != State::kRunning) return;
  for (auto& slot : table_.slots()) {
    if (!slot.enabled) continue;
    if (slot.pid <= 0) return;
    auto st = static_cast<SlotState>(board_->slot(slot.board).state.load());
    if (st != SlotState::kIdle && st != SlotState::kBusy) return;
  }
  ready_ = true;
  board_->header().state.store(static_cast<uint8_t>(ServerState::kRunning));
  LOG(INFO) << "ready: listening on " << address_.toString() << " with " << config_.listeners()
            << " listener(s) and " << config_.workers() << " worker(s) running "
            << (config_.worker().module().empty() ? config_.worker().name() : config_.worker().module())
            << (config_.has_udp() ? "; udp on " + udp_address_.toString() + " with " +
                                        std::to_string(config_.udp().workers()) + " udp worker(s)"
                                  : std::string())
            << (config_.admin_listen().empty() ? std::string() : "; admin on " + admin_address_.toString())
            << ", master pid " << getpid();
  notifySystemd("READY=1");
  if (ready_fd_ >= 0) {  // daemon mode: the parent waiting in the foreground may exit 0 now
    [[maybe_unused]] ssize_t n = write(ready_fd_, "1", 1);
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
    for (auto& slot : table_.slots()) {
      if (slot.role != role || !slot.enabled) continue;
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
  int64_t next = now + 100;  // heartbeat: timeouts, recycling, reload steps
  if (!ready_ || reload_.active) next = now + 20;
  if (state_ != State::kRunning && state_ != State::kDone) next = std::min(next, now + 50);
  for (const auto& slot : const_cast<ProcessTable&>(table_).slots()) {
    if (slot.pid == 0 && slot.respawn_at_ms >= 0) next = std::min(next, slot.respawn_at_ms);
  }
  if (watch_due_ms_ >= 0) next = std::min(next, watch_due_ms_);
  if (hup_check_.pid > 0) next = std::min(next, now + 20);  // its result applied promptly
  return static_cast<int>(std::max<int64_t>(0, next - now));
}

int Master::run() {
  if (!setUp()) {
    removeQueue();
    return 1;
  }
  for (auto& slot : table_.slots()) {
    if (slot.enabled) spawn(slot, /*standby=*/false);
  }
  while (state_ != State::kDone) {
    std::vector<pollfd> fds;
    fds.push_back({signals_.readFd(), POLLIN, 0});
    if (inotify_fd_) fds.push_back({inotify_fd_.get(), POLLIN, 0});
    for (auto& n : notices_) {
      if (n->hasPending()) fds.push_back({n->fd(), POLLOUT, 0});
    }
    int64_t now = NowMonotonicMs();
    int rc = ::poll(fds.data(), fds.size(), pollTimeoutMs(now));
    if (rc < 0 && errno != EINTR) PLOG(ERROR) << "poll() in the master failed";
    for (int signo; (signo = signals_.next()) != 0;) handleSignal(signo);
    reap();  // a coalesced SIGCHLD is harmless: reap in a loop anyway
    for (auto& n : notices_) {
      if (n->hasPending()) n->flush();
    }
    now = NowMonotonicMs();
    if (inotify_fd_ && fds.size() > 1 && (fds[1].revents & POLLIN)) onWatchEvent(now);
    if (watch_due_ms_ >= 0 && now >= watch_due_ms_ && state_ == State::kRunning) {
      watch_due_ms_ = -1;
      startReload("module " + config_.worker().module() + " changed");
    }
    respawnDue(now);
    watchHupCheck(now);
    checkReady();
    if (state_ == State::kRunning) {
      heartbeat(now);
      if (reload_.active) stepReload(now);
    } else {
      advanceStop(now);
    }
  }
  logTotals();
  removeQueue();
  pid_file_.remove();
  LOG(INFO) << "stopped";
  return exit_code_;
}

int RunMaster(const Config& config, const std::string& config_path, int ready_fd) {
  Master master(config, config_path, ready_fd);
  return master.run();
}

}  // namespace solar
