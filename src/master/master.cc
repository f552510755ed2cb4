#include "master/master.h"

#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <ctime>
#include <memory>
#include <vector>

#include <glog/logging.h>

#include "app/child_context.h"
#include "base/socket_address.h"
#include "base/sys_result.h"
#include "base/unique_fd.h"
#include "ipc/channel.h"
#include "ipc/record.h"
#include "ipc/msg_queue.h"
#include "listener/listener.h"
#include "master/process_table.h"
#include "scoreboard/scoreboard.h"
#include "sys/affinity.h"
#include "sys/kernel_limits.h"
#include "sys/pidfile.h"
#include "sys/privilege.h"
#include "sys/process_title.h"
#include "sys/signals.h"
#include "udp/udp_listener.h"
#include "worker/worker_process.h"

namespace solar {
namespace {

constexpr int64_t kMinHealthyLifeMs = 1000;  // dying sooner counts toward back-off
constexpr size_t kSocketpairSndbuf = 4u << 20;

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

std::string DescribeStatus(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    std::string s = std::string("killed by signal ") + strsignal(WTERMSIG(status));
    if (WCOREDUMP(status)) s += " (core dumped)";
    return s;
  }
  return "status " + std::to_string(status);
}

using Pair = std::array<UniqueFd, 2>;  // [0] sends, [1] receives

class Master {
 public:
  Master(const Config& config, std::string config_path)
      : config_(config), config_path_(std::move(config_path)),
        respawn_(kMinHealthyLifeMs, config.respawn_backoff_max_ms()) {}
  int run();

 private:
  enum class State { kRunning, kStoppingListeners, kStoppingWorkers, kDone };

  bool setUp();
  bool bindListeners();
  bool setUpUdp();
  void removeQueue();
  bool makePair(Pair* pair, const std::string& what);
  void spawn(ChildSlot& slot);
  [[noreturn]] void childMain(ChildSlot& slot);
  void handleSignal(int signo);
  void reap();
  void workerLost(const ChildSlot& slot);
  void respawnDue(int64_t now);
  void beginStop(const char* why);
  void advanceStop(int64_t now);
  void killAll(int sig);
  void checkReady();
  void logTotals();
  int pollTimeoutMs(int64_t now) const;

  const Config& config_;
  const std::string config_path_;
  RespawnPolicy respawn_;
  State state_ = State::kRunning;
  int exit_code_ = 0;
  int64_t stop_deadline_ms_ = 0;
  bool ready_logged_ = false;

  UserIds user_;
  bool drop_ = false;
  std::vector<int> cpus_;
  SocketAddress address_;
  PidFile pid_file_;
  SelfPipe signals_;
  std::unique_ptr<Scoreboard> board_;
  ProcessTable table_;
  std::vector<UniqueFd> listen_fds_;   // one per listener
  std::vector<Pair> worker_pairs_;     // listeners -> worker w
  std::vector<Pair> listener_pairs_;   // workers (and master) -> listener l
  std::vector<std::unique_ptr<ipc::OutChannel>> notices_;  // master -> listener l
  pid_t master_pid_ = 0;
  // UDP path (only with a udp section)
  SocketAddress udp_address_;
  UniqueFd udp_fd_;
  int queue_id_ = -1;
  int queue_id_for_children_ = -1;
  size_t msgmax_ = 8192;
  int64_t last_udp_term_ms_ = 0;
};

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
  if (config_.cpu_affinity()) cpus_ = AllowedCpus();

  KernelLimitNeeds needs;
  needs.nofile = config_.rlimit_nofile();
  // A queue message is a 32-byte header plus the datagram.
  if (config_.has_udp()) {
    needs.msgmax = config_.udp().max_datagram_bytes() + sizeof(ipc::UdpMessageHeader);
    needs.msgmnb = config_.udp().queue_bytes();
  }
  CheckKernelLimits(needs, config_.raise_kernel_limits());

  // The pid file first: its lock refuses a second instance before that one
  // could bind the same port (SO_REUSEPORT would let it).
  pid_t holder = -1;
  if (!pid_file_.acquire(config_.pid_file(), &error, &holder)) {
    LOG(ERROR) << "cannot start: " << error;
    return false;
  }
  if (!signals_.install({SIGTERM, SIGINT, SIGQUIT, SIGCHLD, SIGHUP, SIGUSR1, SIGUSR2})) {
    PLOG(ERROR) << "installing signal handlers failed";
    return false;
  }
  signal(SIGPIPE, SIG_IGN);

  const size_t L = config_.listeners(), W = config_.workers();
  const size_t U = config_.has_udp() ? config_.udp().workers() : 0;
  board_ = Scoreboard::create(L + W + (U ? 1 + U : 0));
  if (!board_) {
    PLOG(ERROR) << "mmap() of the scoreboard (" << L + W << " slots) failed";
    return false;
  }
  if (!bindListeners()) return false;
  worker_pairs_.resize(W);
  for (size_t w = 0; w < W; ++w) {
    if (!makePair(&worker_pairs_[w], "worker " + std::to_string(w))) return false;
  }
  listener_pairs_.resize(L);
  for (size_t l = 0; l < L; ++l) {
    if (!makePair(&listener_pairs_[l], "listener " + std::to_string(l))) return false;
    notices_.push_back(std::make_unique<ipc::OutChannel>(listener_pairs_[l][0].get()));
  }
  for (size_t l = 0; l < L; ++l) table_.add(Role::kListener, static_cast<int>(l), l);
  for (size_t w = 0; w < W; ++w) table_.add(Role::kWorker, static_cast<int>(w), L + w);
  if (U > 0) {
    if (!setUpUdp()) return false;
    table_.add(Role::kUdpListener, 0, L + W);
    for (size_t u = 0; u < U; ++u) table_.add(Role::kUdpWorker, static_cast<int>(u), L + W + 1 + u);
  }
  return true;
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
  int one = 1;
  setsockopt(udp_fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  // Bursts wait in the socket while the listener moves them to the queue.
  int rcvbuf = 4 << 20;
  if (setsockopt(udp_fd_.get(), SOL_SOCKET, geteuid() == 0 ? SO_RCVBUFFORCE : SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)))
    setsockopt(udp_fd_.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  if (::bind(udp_fd_.get(), udp_address_.get(), udp_address_.length) != 0) {
    PLOG(ERROR) << "bind(" << udp_address_.toString() << ") for udp.listen failed";
    return false;
  }
  socklen_t len = sizeof(udp_address_.storage);
  getsockname(udp_fd_.get(), reinterpret_cast<sockaddr*>(&udp_address_.storage), &len);

  const key_t key = udp.queue_key() ? static_cast<key_t>(udp.queue_key()) : ipc::DeriveQueueKey(config_.pid_file());
  bool stale = false;
  queue_id_ = ipc::MsgQueue::Create(key, &stale);
  queue_id_for_children_ = queue_id_;
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

bool Master::bindListeners() {
  std::string error;
  if (!ParseSocketAddress(config_.listen(), &address_, &error)) {
    LOG(ERROR) << "listen: " << error;
    return false;
  }
  for (uint32_t l = 0; l < config_.listeners(); ++l) {
    UniqueFd fd(::socket(address_.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) {
      PLOG(ERROR) << "socket() for listener " << l << " failed";
      return false;
    }
    int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    // One socket per listener in a SO_REUSEPORT group: the kernel spreads new
    // connections, so there is no thundering herd and no accept lock (seed 003 §4.2).
    if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
      PLOG(ERROR) << "setsockopt(SO_REUSEPORT) for listener " << l << " failed";
      return false;
    }
    if (::bind(fd.get(), address_.get(), address_.length) != 0) {
      PLOG(ERROR) << "bind(" << address_.toString() << ") for listener " << l << " failed";
      return false;
    }
    if (::listen(fd.get(), static_cast<int>(config_.backlog())) != 0) {
      PLOG(ERROR) << "listen(" << address_.toString() << ") for listener " << l << " failed";
      return false;
    }
    if (address_.port() == 0) {  // port 0: the rest of the group binds the port the kernel chose
      socklen_t len = sizeof(address_.storage);
      getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address_.storage), &len);
    }
    listen_fds_.push_back(std::move(fd));
  }
  return true;
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

void Master::spawn(ChildSlot& slot) {
  board_->reset(slot.board, slot.role);
  ++slot.spawns;
  slot.respawn_at_ms = -1;
  sigset_t old;
  BlockAllSignals(&old);  // no handler may run in the child before it resets them
  pid_t pid = fork();
  if (pid == 0) childMain(slot);
  RestoreSignalMask(old);
  if (pid < 0) {
    PLOG(ERROR) << "fork() for " << RoleName(slot.role) << " " << slot.index << " failed; retrying in 1 s";
    slot.respawn_at_ms = NowMs() + 1000;
    return;
  }
  slot.pid = pid;
  slot.started_ms = NowMs();
  board_->slot(slot.board).pid.store(pid);
}

// The child's fixed order (STYLE rule 7): signal dispositions, affinity,
// privilege drop, parent-death signal, close what this role does not use,
// unblock signals, run the role.
void Master::childMain(ChildSlot& slot) {
  ResetSignalsInChild();  // defaults while still blocked
  const std::string role = std::string(RoleName(slot.role)) + " " + std::to_string(slot.index);
  SetProcessTitle("solar: " + role);
  if (!cpus_.empty()) {
    int cpu = CpuForSlot(static_cast<int>(slot.board), cpus_);
    if (!PinToCpu(cpu)) PLOG(WARNING) << role << ": sched_setaffinity(cpu " << cpu << ") failed";
  }
  if (drop_) {
    std::string error;
    if (DropPrivileges(user_, &error) != DropResult::kDropped) {
      LOG(ERROR) << role << ": dropping privileges to \"" << config_.user() << "\" failed: " << error;
      _exit(kExitFatal);
    }
  }
  // After the drop: a credential change clears PDEATHSIG. No child outlives a
  // killed master; if it already died, leave now.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != master_pid_) _exit(kExitOk);

  ChildContext ctx;
  ctx.config = &config_;
  ctx.config_path = config_path_;
  ctx.index = slot.index;
  ctx.epoch = slot.spawns;
  ctx.slot = &board_->slot(slot.board);
  signals_.close();
  pid_file_.closeInChild();
  notices_.clear();
  queue_id_ = -1;  // the master alone removes the queue
  if (slot.role == Role::kListener) {
    ctx.listen_fd = listen_fds_[slot.index].release();
    ctx.in_fd = listener_pairs_[slot.index][1].release();
    for (auto& p : worker_pairs_) ctx.out_fds.push_back(p[0].release());
  } else if (slot.role == Role::kWorker) {
    ctx.in_fd = worker_pairs_[slot.index][1].release();
    for (auto& p : listener_pairs_) ctx.out_fds.push_back(p[0].release());
  } else {
    ctx.udp_fd = udp_fd_.release();
    ctx.queue_id = queue_id_for_children_;
    ctx.queue_msgmax = msgmax_;
  }
  udp_fd_.reset();
  listen_fds_.clear();  // closes every end this role did not take
  worker_pairs_.clear();
  listener_pairs_.clear();
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  int code = kExitOk;
  switch (slot.role) {
    case Role::kListener: code = RunListener(ctx); break;
    case Role::kWorker: code = RunWorker(ctx); break;
    case Role::kUdpListener: code = RunUdpListener(ctx); break;
    case Role::kUdpWorker: code = RunUdpWorker(ctx); break;
    default: code = kExitFatal;
  }
  google::FlushLogFiles(google::GLOG_INFO);
  exit(code);
}

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
        // A second stop signal during the drain: stop at once.
        LOG(WARNING) << "second stop signal during the drain: killing all children now";
        killAll(SIGKILL);
      }
      break;
    case SIGHUP:
    case SIGUSR1:
    case SIGUSR2:
      LOG(WARNING) << strsignal(signo) << " received: reload is not supported by this build; ignored";
      break;
    default:
      break;
  }
}

void Master::reap() {
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    ChildSlot* slot = table_.byPid(pid);
    if (slot == nullptr) continue;
    const std::string who = std::string(RoleName(slot->role)) + " " + std::to_string(slot->index) + " (pid " +
                            std::to_string(pid) + ")";
    slot->pid = 0;
    board_->slot(slot->board).pid.store(0);
    board_->slot(slot->board).state.store(static_cast<uint8_t>(SlotState::kEmpty));
    const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == kExitOk;
    if (slot->role == Role::kWorker) workerLost(*slot);
    if (state_ != State::kRunning) {
      if (!clean) LOG(WARNING) << who << " " << DescribeStatus(status) << " during stop";
      continue;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == kExitFatal) {
      LOG(ERROR) << who << " cannot run safely (" << DescribeStatus(status) << "); stopping the server";
      exit_code_ = 1;
      beginStop("a child failed fatally");
      continue;
    }
    const int64_t now = NowMs();
    const int64_t delay = respawn_.onExit(slot, now);
    LOG(WARNING) << who << " " << DescribeStatus(status) << "; respawning in the same slot"
                 << (delay > 0 ? " in " + std::to_string(delay) + " ms (it keeps dying at start)" : "");
    slot->respawn_at_ms = now + delay;
  }
}

// A dead worker may have taken requests it never answered; the scoreboard says
// which. Tell each listener, in the same FIFO the worker's replies used, so a
// reply sent just before the death is seen first.
void Master::workerLost(const ChildSlot& slot) {
  ProcessSlot& ps = board_->slot(slot.board);
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
}

void Master::respawnDue(int64_t now) {
  if (state_ != State::kRunning) return;
  for (auto& slot : table_.slots()) {
    if (slot.pid == 0 && slot.respawn_at_ms >= 0 && slot.respawn_at_ms <= now) spawn(slot);
  }
}

void Master::beginStop(const char* why) {
  if (state_ != State::kRunning) return;
  LOG(INFO) << "stopping (" << why << "): no new connections; finishing requests in flight";
  state_ = State::kStoppingListeners;
  stop_deadline_ms_ = NowMs() + config_.graceful_timeout_ms();
  // Our copies of the listening sockets go now, so the port closes as soon as
  // each listener closes its own.
  listen_fds_.clear();
  for (auto& slot : table_.slots()) {
    slot.respawn_at_ms = -1;
    if ((slot.role == Role::kListener || slot.role == Role::kUdpListener) && slot.pid > 0) kill(slot.pid, SIGTERM);
  }
}

void Master::advanceStop(int64_t now) {
  if (state_ == State::kStoppingListeners && table_.running(Role::kListener) == 0 &&
      table_.running(Role::kUdpListener) == 0) {
    // Listeners are gone only once every reply was written: workers can go.
    // UDP workers first drain what the UDP listener queued.
    state_ = State::kStoppingWorkers;
    for (auto& slot : table_.slots()) {
      if ((slot.role == Role::kWorker || slot.role == Role::kUdpWorker) && slot.pid > 0) kill(slot.pid, SIGTERM);
    }
    last_udp_term_ms_ = now;
  }
  if (state_ == State::kStoppingWorkers && now - last_udp_term_ms_ >= 100) {
    // A TERM that lands just before a UDP worker enters msgrcv() is not seen
    // until the next message; repeating it closes that window.
    for (auto& slot : table_.slots()) {
      if (slot.role == Role::kUdpWorker && slot.pid > 0) kill(slot.pid, SIGTERM);
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
    if (slot.pid > 0) kill(slot.pid, sig);
  }
}

void Master::checkReady() {
  if (ready_logged_ || state_ != State::kRunning) return;
  for (auto& slot : table_.slots()) {
    if (slot.pid <= 0) return;
    auto st = static_cast<SlotState>(board_->slot(slot.board).state.load());
    if (st != SlotState::kIdle && st != SlotState::kBusy) return;
  }
  ready_logged_ = true;
  LOG(INFO) << "ready: listening on " << address_.toString() << " with " << config_.listeners()
            << " listener(s) and " << config_.workers() << " worker(s) running " << config_.worker().name()
            << (config_.has_udp() ? "; udp on " + udp_address_.toString() + " with " +
                                        std::to_string(config_.udp().workers()) + " udp worker(s)"
                                  : std::string())
            << ", master pid " << getpid();
}

// One line per role with its non-zero counters summed over its slots, so a
// stop leaves a record of drops and errors (the admin endpoint shows them live).
void Master::logTotals() {
  for (Role role : {Role::kListener, Role::kWorker, Role::kUdpListener, Role::kUdpWorker}) {
    uint64_t sum[kCounterCount] = {};
    bool any = false;
    for (auto& slot : table_.slots()) {
      if (slot.role != role) continue;
      any = true;
      for (int c = 0; c < kCounterCount; ++c) sum[c] += board_->slot(slot.board).counters[c].load();
    }
    if (!any) continue;
    std::string line;
    for (int c = 0; c < kCounterCount; ++c) {
      if (sum[c] != 0 && c != kConnections && c != kQueuedToWorker) line += " " + std::string(CounterName(c)) + "=" + std::to_string(sum[c]);
    }
    LOG(INFO) << "totals for " << RoleName(role) << "s since their last start:" << (line.empty() ? " none" : line);
  }
}

int Master::pollTimeoutMs(int64_t now) const {
  int64_t next = now + 1000;
  if (!ready_logged_) next = now + 20;
  if (state_ != State::kRunning && state_ != State::kDone) next = std::min(next, now + 50);
  for (const auto& slot : const_cast<ProcessTable&>(table_).slots()) {
    if (slot.pid == 0 && slot.respawn_at_ms >= 0) next = std::min(next, slot.respawn_at_ms);
  }
  return static_cast<int>(std::max<int64_t>(0, next - now));
}

int Master::run() {
  if (!setUp()) {
    removeQueue();
    return 1;
  }
  for (auto& slot : table_.slots()) spawn(slot);
  while (state_ != State::kDone) {
    std::vector<pollfd> fds;
    fds.push_back({signals_.readFd(), POLLIN, 0});
    for (auto& n : notices_) {
      if (n->hasPending()) fds.push_back({n->fd(), POLLOUT, 0});
    }
    int64_t now = NowMs();
    int rc = ::poll(fds.data(), fds.size(), pollTimeoutMs(now));
    if (rc < 0 && errno != EINTR) PLOG(ERROR) << "poll() in the master failed";
    for (int signo; (signo = signals_.next()) != 0;) handleSignal(signo);
    reap();  // a coalesced SIGCHLD is harmless: reap in a loop anyway
    for (auto& n : notices_) {
      if (n->hasPending()) n->flush();
    }
    now = NowMs();
    respawnDue(now);
    checkReady();
    if (state_ != State::kRunning) advanceStop(now);
  }
  logTotals();
  removeQueue();
  pid_file_.remove();
  LOG(INFO) << "stopped";
  return exit_code_;
}

}  // namespace

int RunMaster(const Config& config, const std::string& config_path) {
  Master master(config, config_path);
  return master.run();
}

}  // namespace solar
