// The master's process control as a state machine (src/master/supervisor.h):
// driven alone, with a fake probe for the scoreboard and /proc, and a harness
// that carries out its forks with fake pids, as the Master would.
#include "master/supervisor.h"

#include <sys/wait.h>

#include <csignal>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "app/child_context.h"

namespace solar {
namespace {

using Kind = Action::Kind;
using Counter = Action::Counter;

constexpr int64_t kT0 = 1000000;  // CLOCK_MONOTONIC ms at start()
constexpr int64_t kLongAfter = kT0 + 10000;  // well past min_healthy_life_ms

int Exited(int code) { return W_EXITCODE(code, 0); }
int KilledBy(int sig) { return W_EXITCODE(0, sig); }

// What the supervisor reads of the running processes: the scoreboard's slots
// (state, request start, recycle flag), /proc (rss) and the listeners' load.
class FakeProbe : public SlotProbe {
 public:
  std::map<size_t, SlotState> state;
  std::map<size_t, int64_t> request_start;
  std::map<size_t, bool> recycle;
  std::map<pid_t, int64_t> rss;
  std::map<int, uint64_t> load;
  std::string request = "192.0.2.7:40000 on connection 1:17 request 4";

  SlotState boardState(size_t board) const override {
    auto it = state.find(board);
    return it == state.end() ? SlotState::kEmpty : it->second;
  }
  int64_t requestStartMs(size_t board) const override {
    auto it = request_start.find(board);
    return it == request_start.end() ? 0 : it->second;
  }
  bool recycleAsked(size_t board) const override {
    auto it = recycle.find(board);
    return it != recycle.end() && it->second;
  }
  int64_t rssMb(pid_t pid) const override {
    auto it = rss.find(pid);
    return it == rss.end() ? -1 : it->second;
  }
  uint64_t workerLoad(int index) const override {
    auto it = load.find(index);
    return it == load.end() ? 0 : it->second;
  }
  std::string describeRequest(size_t board) const override { return request; }

  // Scoreboard::reset before a fork: the child starts in kStarting.
  void reset(size_t board) {
    state[board] = SlotState::kStarting;
    request_start[board] = 0;
    recycle[board] = false;
  }
  void clear(size_t board) {
    state[board] = SlotState::kEmpty;
    request_start[board] = 0;
  }
};

struct Layout {
  size_t listeners = 2;
  size_t max_workers = 3;
  bool udp = false;
  bool admin = true;
};

SupervisorSettings Settings() {
  SupervisorSettings s;
  s.graceful_timeout_ms = 5000;
  s.reload_start_timeout_ms = 3000;
  s.request_timeout_ms = 0;
  s.max_rss_mb = 0;
  s.respawn_backoff_max_ms = 30000;
  s.min_healthy_life_ms = 1000;
  s.workers = 2;
  s.udp_workers = 0;
  return s;
}

struct ForkRecord {
  size_t slot;
  bool standby;
  size_t board;
  uint32_t epoch;
  pid_t pid;  // 0: the fork failed
};

std::string KindName(Kind k) {
  switch (k) {
    case Kind::kFork: return "fork";
    case Kind::kSignal: return "signal";
    case Kind::kWorkerDown: return "worker-down";
    case Kind::kWorkerUp: return "worker-up";
    case Kind::kWorkerLost: return "worker-lost";
    case Kind::kDropQueued: return "drop-queued";
    case Kind::kClearBoard: return "clear-board";
    case Kind::kClearRecycle: return "clear-recycle";
    case Kind::kServerState: return "server-state";
    case Kind::kCount: return "count";
    case Kind::kNotify: return "notify";
    case Kind::kStopBegan: return "stop-began";
    case Kind::kReady: return "ready";
    case Kind::kLog: return "log";
  }
  return "?";
}

// Builds the table as Master::buildSupervisor does (same scoreboard layout),
// carries out kFork actions (forked() with fresh pids, or forkFailed()), the
// board resets and clears, and records every action.
class Harness {
 public:
  explicit Harness(SupervisorSettings s = Settings(), Layout layout = Layout()) : sup(s, &probe) {
    const size_t L = layout.listeners, W = layout.max_workers;
    for (size_t l = 0; l < L; ++l) listeners.push_back(sup.addSlot(Role::kListener, static_cast<int>(l), l, 0, true));
    for (size_t w = 0; w < W; ++w) {
      workers.push_back(sup.addSlot(Role::kWorker, static_cast<int>(w), L + 2 * w, L + 2 * w + 1, w < s.workers));
    }
    if (layout.udp) {
      udp_listener = sup.addSlot(Role::kUdpListener, 0, L + 2 * W, 0, true);
      for (size_t u = 0; u < W; ++u) {
        udp_workers.push_back(sup.addSlot(Role::kUdpWorker, static_cast<int>(u), L + 2 * W + 1 + 2 * u,
                                          L + 2 * W + 2 + 2 * u, u < s.udp_workers));
      }
    }
    if (layout.admin) admin = sup.addSlot(Role::kAdmin, 0, L + 4 * W + 1, 0, true);
  }

  FakeProbe probe;
  Supervisor sup;
  std::vector<size_t> listeners, workers, udp_workers;
  size_t udp_listener = SIZE_MAX, admin = SIZE_MAX;
  std::vector<Action> seen;
  std::vector<ForkRecord> forks;
  int failing_forks = 0;  // the next N forks fail
  pid_t next_pid = 1001;
  int64_t now = kT0;

  // ---- events, each followed by carrying out what it asked for ----
  void start(int64_t t = kT0) {
    now = t;
    sup.start(t);
    pump();
  }
  void tick(int64_t t) {
    now = t;
    sup.tick(t);
    pump();
  }
  void exit(pid_t pid, int status, int64_t t) {
    ASSERT_GT(pid, 0);
    now = t;
    EXPECT_TRUE(sup.exited(pid, status, t)) << "pid " << pid;
    pump();
  }
  void stop(int64_t t) {
    now = t;
    sup.stop("SIGTERM", t);
    pump();
  }
  void reload(int64_t t) {
    now = t;
    sup.reload("USR1", t);
    pump();
  }
  void configChanged(const SupervisorSettings& s, int64_t t) {
    now = t;
    sup.configChanged(s, t);
    pump();
  }

  void pump() {
    for (std::vector<Action> batch; !(batch = sup.takeActions()).empty();) {
      for (const Action& a : batch) {
        seen.push_back(a);
        switch (a.kind) {
          case Kind::kFork:
            probe.reset(a.board);
            if (failing_forks > 0) {
              --failing_forks;
              forks.push_back({a.slot, a.standby, a.board, a.epoch, 0});
              sup.forkFailed(a.slot, a.standby, now);
            } else {
              const pid_t pid = next_pid++;
              forks.push_back({a.slot, a.standby, a.board, a.epoch, pid});
              sup.forked(a.slot, a.standby, pid, now);
            }
            break;
          case Kind::kClearBoard: probe.clear(a.board); break;
          case Kind::kClearRecycle: probe.recycle[a.board] = false; break;
          default: break;
        }
      }
    }
  }

  // start(), every process reports idle, the first tick: ready.
  void bringUp() {
    start(kT0);
    for (size_t i = 0; i < sup.slots().size(); ++i) {
      if (sup.slots()[i].pid > 0) idle(i);
    }
    tick(kT0 + 10);
    ASSERT_TRUE(sup.ready()) << dump();
    clear();
  }

  // ---- the fake children ----
  void idle(size_t slot) { probe.state[sup.slots()[slot].board] = SlotState::kIdle; }
  void standbyReports(size_t slot, SlotState st) { probe.state[sup.slots()[slot].alt_board] = st; }

  // The reload's current slot: its standby (forked already) is ready, the old
  // process retires cleanly on USR1, the standby takes over and serves. The
  // caller's next tick moves the reload on (next slot, or its end).
  void completeReplacement(size_t slot, int64_t* t) {
    const Slot& s = sup.slots()[slot];
    ASSERT_GT(s.standby_pid, 0) << dump();
    const pid_t old = s.pid;
    const pid_t standby = s.standby_pid;
    standbyReports(slot, s.role == Role::kWorker ? SlotState::kStandby : SlotState::kIdle);
    tick(*t += 10);
    ASSERT_EQ(signalsTo(old, SIGUSR1), 1) << dump();
    exit(old, Exited(kExitOk), *t += 10);
    ASSERT_EQ(sup.slots()[slot].pid, standby) << dump();
    idle(slot);
  }

  // ---- what the supervisor asked for ----
  void clear() {
    seen.clear();
    forks.clear();
  }
  std::vector<Action> of(Kind k) const {
    std::vector<Action> out;
    for (const Action& a : seen) {
      if (a.kind == k) out.push_back(a);
    }
    return out;
  }
  std::multiset<std::pair<pid_t, int>> signals() const {
    std::multiset<std::pair<pid_t, int>> out;
    for (const Action& a : of(Kind::kSignal)) out.insert({a.pid, a.sig});
    return out;
  }
  int signalsTo(pid_t pid, int sig) const {
    int n = 0;
    for (const Action& a : of(Kind::kSignal)) n += a.pid == pid && a.sig == sig;
    return n;
  }
  int signalsOf(int sig) const {
    int n = 0;
    for (const Action& a : of(Kind::kSignal)) n += a.sig == sig;
    return n;
  }
  int counted(Counter c) const {
    int n = 0;
    for (const Action& a : of(Kind::kCount)) n += a.counter == c;
    return n;
  }
  std::vector<std::string> notifies() const {
    std::vector<std::string> out;
    for (const Action& a : of(Kind::kNotify)) out.push_back(a.text);
    return out;
  }
  std::vector<ServerState> states() const {
    std::vector<ServerState> out;
    for (const Action& a : of(Kind::kServerState)) out.push_back(a.state);
    return out;
  }
  // Position of the first action of kind k (for slot, if given) in seen; -1: none.
  int indexOf(Kind k, size_t slot = SIZE_MAX) const {
    for (size_t i = 0; i < seen.size(); ++i) {
      if (seen[i].kind == k && (slot == SIZE_MAX || seen[i].slot == slot)) return static_cast<int>(i);
    }
    return -1;
  }
  bool logged(const std::string& part) const {
    for (const Action& a : of(Kind::kLog)) {
      if (a.text.find(part) != std::string::npos) return true;
    }
    return false;
  }

  pid_t pid(size_t slot) const { return sup.slots()[slot].pid; }
  std::string phase(size_t slot) const { return PhaseName(sup.slots()[slot].phase); }
  const Slot& slot(size_t i) const { return sup.slots()[i]; }

  std::string dump() const {
    std::string s = "\nactions:";
    for (const Action& a : seen) {
      s += "\n  " + KindName(a.kind) + " slot=" + std::to_string(a.slot) + " board=" + std::to_string(a.board) +
           " pid=" + std::to_string(a.pid) + " sig=" + std::to_string(a.sig) +
           " listener=" + std::to_string(a.listener) + (a.standby ? " standby" : "") +
           (a.text.empty() ? "" : " \"" + a.text + "\"");
    }
    s += "\nslots:";
    for (size_t i = 0; i < sup.slots().size(); ++i) {
      const Slot& x = sup.slots()[i];
      s += "\n  " + std::to_string(i) + " " + RoleName(x.role) + " " + std::to_string(x.index) + " " +
           PhaseName(x.phase) + " pid=" + std::to_string(x.pid) + " standby=" + std::to_string(x.standby_pid) +
           " board=" + std::to_string(x.board) + "/" + std::to_string(x.alt_board) +
           (x.wanted ? "" : " unwanted") + (x.down ? " down" : "");
    }
    return s;
  }
};

// ---------------------------------------------------------------- start, ready

TEST(Supervisor, StartForksEveryWantedSlotAndNoUnwantedOne) {
  Layout layout;
  layout.udp = true;
  SupervisorSettings s = Settings();
  s.udp_workers = 1;
  Harness h(s, layout);
  h.start();
  std::set<size_t> forked;
  for (const ForkRecord& f : h.forks) {
    EXPECT_FALSE(f.standby);
    EXPECT_EQ(f.board, h.slot(f.slot).board) << "slot " << f.slot;
    EXPECT_EQ(f.epoch, 1u);
    EXPECT_EQ(h.pid(f.slot), f.pid);
    EXPECT_EQ(h.phase(f.slot), "starting");
    forked.insert(f.slot);
  }
  EXPECT_EQ(h.forks.size(), forked.size()) << "one fork per slot";
  const std::set<size_t> wanted = {h.listeners[0], h.listeners[1], h.workers[0], h.workers[1],
                                   h.udp_listener,  h.udp_workers[0], h.admin};
  EXPECT_EQ(forked, wanted);
  for (size_t unwanted : {h.workers[2], h.udp_workers[1], h.udp_workers[2]}) {
    EXPECT_EQ(h.phase(unwanted), "off");
    EXPECT_EQ(h.pid(unwanted), 0);
  }
  EXPECT_EQ(h.sup.alive(), wanted.size());
  EXPECT_TRUE(h.signals().empty());
  EXPECT_FALSE(h.sup.ready());
}

TEST(Supervisor, ReadyOnlyOnceEveryWantedSlotIsIdleOrBusy) {
  Harness h;
  h.start();
  h.tick(kT0 + 10);
  EXPECT_TRUE(h.of(Kind::kReady).empty());
  EXPECT_TRUE(h.states().empty());
  // All but worker 1.
  for (size_t i : {h.listeners[0], h.listeners[1], h.workers[0], h.admin}) h.idle(i);
  h.tick(kT0 + 20);
  EXPECT_TRUE(h.of(Kind::kReady).empty()) << h.dump();
  EXPECT_FALSE(h.sup.ready());
  EXPECT_EQ(h.phase(h.workers[0]), "serving");
  EXPECT_EQ(h.phase(h.workers[1]), "starting");
  h.probe.state[h.slot(h.workers[1]).board] = SlotState::kBusy;
  h.tick(kT0 + 30);
  EXPECT_EQ(h.of(Kind::kReady).size(), 1u) << h.dump();
  EXPECT_EQ(h.states(), std::vector<ServerState>{ServerState::kRunning});
  EXPECT_TRUE(h.sup.ready());
  EXPECT_EQ(h.phase(h.workers[1]), "serving");
  EXPECT_EQ(h.phase(h.workers[2]), "off");  // unwanted: not waited for
  h.clear();
  h.tick(kT0 + 200);
  EXPECT_TRUE(h.of(Kind::kReady).empty());
  EXPECT_TRUE(h.states().empty());
}

TEST(Supervisor, ABoardStillStartingOrInStandbyIsNotReady) {
  Harness h;
  h.start();
  for (size_t i = 0; i < h.sup.slots().size(); ++i) {
    if (h.pid(i) > 0) h.idle(i);
  }
  h.probe.state[h.slot(h.admin).board] = SlotState::kStarting;
  h.probe.state[h.slot(h.workers[0]).board] = SlotState::kStandby;
  h.tick(kT0 + 10);
  EXPECT_FALSE(h.sup.ready());
  EXPECT_TRUE(h.of(Kind::kReady).empty());
  h.idle(h.admin);
  h.idle(h.workers[0]);
  h.tick(kT0 + 20);
  EXPECT_TRUE(h.sup.ready());
}

TEST(Supervisor, NextDueMsIsSoonWhileStartingAndAtTheHeartbeatOnceReady) {
  Harness h;
  h.start();
  EXPECT_EQ(h.sup.nextDueMs(kT0), kT0 + 20);
  for (size_t i = 0; i < h.sup.slots().size(); ++i) {
    if (h.pid(i) > 0) h.idle(i);
  }
  h.tick(kT0 + 10);
  ASSERT_TRUE(h.sup.ready());
  EXPECT_EQ(h.sup.nextDueMs(kT0 + 50), kT0 + 50 + Supervisor::kHeartbeatMs);
}

// ---------------------------------------------------------------- crashes and respawns

TEST(Supervisor, ACrashedWorkerIsForkedAgainInTheSameSlot) {
  Harness h;
  h.bringUp();
  const size_t w0 = h.workers[0];
  const pid_t old = h.pid(w0);
  const size_t board = h.slot(w0).board;
  h.exit(old, KilledBy(SIGSEGV), kLongAfter);
  const auto clears = h.of(Kind::kClearBoard);
  ASSERT_EQ(clears.size(), 1u);
  EXPECT_EQ(clears[0].board, board);
  EXPECT_EQ(clears[0].role, Role::kWorker);
  const auto lost = h.of(Kind::kWorkerLost);
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].slot, w0);
  EXPECT_EQ(lost[0].board, board);
  EXPECT_EQ(h.counted(Counter::kRespawns), 1);
  EXPECT_TRUE(h.of(Kind::kWorkerDown).empty()) << "it had served: not a failed start";
  EXPECT_EQ(h.phase(w0), "backing-off");
  EXPECT_EQ(h.pid(w0), 0);
  EXPECT_TRUE(h.forks.empty()) << "forked by the tick, not by exited()";

  h.tick(kLongAfter);  // a long life: no back-off
  ASSERT_EQ(h.forks.size(), 1u) << h.dump();
  EXPECT_EQ(h.forks[0].slot, w0);
  EXPECT_FALSE(h.forks[0].standby);
  EXPECT_EQ(h.forks[0].board, board);
  EXPECT_EQ(h.forks[0].epoch, 2u);
  EXPECT_EQ(h.pid(w0), h.forks[0].pid);
  EXPECT_NE(h.pid(w0), old);
  EXPECT_EQ(h.phase(w0), "starting");
  EXPECT_TRUE(h.of(Kind::kDropQueued).empty());
  EXPECT_TRUE(h.signals().empty());
  EXPECT_EQ(h.phase(h.workers[1]), "serving");
}

TEST(Supervisor, ACrashedListenerIsRespawnedAndItsBoardCleared) {
  Harness h;
  h.bringUp();
  const size_t l1 = h.listeners[1];
  h.exit(h.pid(l1), KilledBy(SIGABRT), kLongAfter);
  const auto clears = h.of(Kind::kClearBoard);
  ASSERT_EQ(clears.size(), 1u);
  EXPECT_EQ(clears[0].board, 1u);
  EXPECT_EQ(clears[0].role, Role::kListener);
  EXPECT_TRUE(h.of(Kind::kWorkerLost).empty());
  EXPECT_EQ(h.counted(Counter::kRespawns), 1);
  h.tick(kLongAfter);
  ASSERT_EQ(h.forks.size(), 1u);
  EXPECT_EQ(h.forks[0].slot, l1);
  EXPECT_TRUE(h.of(Kind::kWorkerDown).empty()) << "no worker is down";
}

TEST(Supervisor, AWorkerThatKeepsDyingSoonAfterStartBacksOffDoublingUpToTheMax) {
  SupervisorSettings s = Settings();
  s.respawn_backoff_max_ms = 500;
  Harness h(s);
  h.bringUp();
  const size_t w0 = h.workers[0];
  int64_t t = kLongAfter;
  h.exit(h.pid(w0), KilledBy(SIGABRT), t);
  h.tick(t);
  ASSERT_EQ(h.forks.size(), 1u) << "after a long life: at once";
  for (int64_t delay : {100, 200, 400, 500, 500}) {
    SCOPED_TRACE("delay " + std::to_string(delay));
    h.idle(w0);  // it got past start-up (so this is not a failed start) ...
    h.tick(t + 5);
    h.clear();
    t += 10;  // ... and died 10 ms after its fork
    h.exit(h.pid(w0), KilledBy(SIGABRT), t);
    EXPECT_EQ(h.counted(Counter::kRespawns), 1);
    EXPECT_TRUE(h.of(Kind::kWorkerDown).empty());
    EXPECT_TRUE(h.logged("in " + std::to_string(delay) + " ms")) << h.dump();
    EXPECT_EQ(h.phase(w0), "backing-off");
    EXPECT_EQ(h.sup.nextDueMs(t), std::min(t + delay, t + Supervisor::kHeartbeatMs));
    h.tick(t + delay - 1);
    EXPECT_TRUE(h.forks.empty()) << "forked before its delay" << h.dump();
    EXPECT_EQ(h.phase(w0), "backing-off");
    h.tick(t + delay);
    ASSERT_EQ(h.forks.size(), 1u) << h.dump();
    EXPECT_EQ(h.forks[0].slot, w0);
    t += delay;
  }
}

TEST(Supervisor, NextDueMsReflectsAPendingRespawn) {
  Harness h;
  h.bringUp();
  const size_t w0 = h.workers[0];
  // Forked at kT0; dying 500 ms later is a fast death: respawn in 100 ms.
  h.exit(h.pid(w0), KilledBy(SIGSEGV), kT0 + 500);
  ASSERT_EQ(h.slot(w0).respawn_at_ms, kT0 + 600);
  EXPECT_EQ(h.sup.nextDueMs(kT0 + 550), kT0 + 600);
  EXPECT_EQ(h.sup.nextDueMs(kT0 + 700), kT0 + 700) << "overdue: now";
  h.tick(kT0 + 600);
  ASSERT_EQ(h.forks.size(), 1u);
  EXPECT_EQ(h.sup.nextDueMs(kT0 + 650), kT0 + 650 + Supervisor::kHeartbeatMs) << "nothing pending any more";
}

TEST(Supervisor, AFailedForkIsRetriedAfterASecond) {
  Harness h;
  h.bringUp();
  const size_t w1 = h.workers[1];
  h.exit(h.pid(w1), KilledBy(SIGSEGV), kLongAfter);
  h.failing_forks = 1;
  h.tick(kLongAfter);
  ASSERT_EQ(h.forks.size(), 1u);
  EXPECT_EQ(h.forks[0].pid, 0);
  EXPECT_EQ(h.phase(w1), "backing-off");
  EXPECT_EQ(h.pid(w1), 0);
  EXPECT_EQ(h.sup.nextDueMs(kLongAfter + 950), kLongAfter + Supervisor::kForkRetryMs);
  h.clear();
  h.tick(kLongAfter + Supervisor::kForkRetryMs - 1);
  EXPECT_TRUE(h.forks.empty());
  h.tick(kLongAfter + Supervisor::kForkRetryMs);
  ASSERT_EQ(h.forks.size(), 1u);
  EXPECT_GT(h.pid(w1), 0);
  EXPECT_EQ(h.phase(w1), "starting");
}

// ---------------------------------------------------------------- workers that cannot start

// Worker 0 crashed and was forked again at kLongAfter (board kStarting).
void RespawnWorker0(Harness& h) {
  h.exit(h.pid(h.workers[0]), KilledBy(SIGSEGV), kLongAfter);
  h.tick(kLongAfter);
  ASSERT_EQ(h.forks.size(), 1u);
  ASSERT_EQ(h.probe.boardState(h.slot(h.workers[0]).board), SlotState::kStarting);
  h.clear();
}

TEST(Supervisor, ATcpWorkerThatFailsItsStartIsMarkedDownUntilAStartSucceeds) {
  Harness h;
  h.bringUp();
  const size_t w0 = h.workers[0];
  RespawnWorker0(h);
  // A slow start-up that fails after 2 s: a long life, no back-off of its own.
  const int64_t t = kLongAfter + 2000;
  h.exit(h.pid(w0), Exited(kExitRespawn), t);
  const auto down = h.of(Kind::kWorkerDown);
  ASSERT_EQ(down.size(), 1u) << h.dump();
  EXPECT_EQ(down[0].slot, w0);
  EXPECT_EQ(down[0].listener, -1) << "every listener is told";
  EXPECT_TRUE(h.slot(w0).down);
  EXPECT_EQ(h.counted(Counter::kRespawns), 1);
  EXPECT_EQ(h.slot(w0).respawn_at_ms, t + Supervisor::kDownRespawnMinMs);

  h.clear();
  h.tick(t + Supervisor::kDownRespawnMinMs - 1);
  EXPECT_TRUE(h.forks.empty()) << "not before the listeners surely read the notice";
  EXPECT_TRUE(h.of(Kind::kDropQueued).empty());
  h.tick(t + Supervisor::kDownRespawnMinMs);
  ASSERT_EQ(h.forks.size(), 1u) << h.dump();
  const int drop = h.indexOf(Kind::kDropQueued, w0);
  ASSERT_GE(drop, 0) << h.dump();
  EXPECT_LT(drop, h.indexOf(Kind::kFork, w0)) << "what waits in its socketpair is dropped before the fork";
  EXPECT_EQ(h.of(Kind::kDropQueued).size(), 1u);

  h.clear();
  h.tick(t + 150);  // still starting: still down
  EXPECT_TRUE(h.of(Kind::kWorkerUp).empty());
  EXPECT_TRUE(h.slot(w0).down);
  h.idle(w0);
  h.tick(t + 200);
  const auto up = h.of(Kind::kWorkerUp);
  ASSERT_EQ(up.size(), 1u) << h.dump();
  EXPECT_EQ(up[0].slot, w0);
  EXPECT_FALSE(h.slot(w0).down);
  EXPECT_EQ(h.phase(w0), "serving");
  h.clear();
  h.tick(t + 300);
  EXPECT_TRUE(h.of(Kind::kWorkerUp).empty());
  // The next crash, after it served, is an ordinary one.
  h.exit(h.pid(w0), KilledBy(SIGSEGV), t + 5000);
  EXPECT_TRUE(h.of(Kind::kWorkerDown).empty());
  h.tick(t + 5000);
  EXPECT_TRUE(h.of(Kind::kDropQueued).empty());
  EXPECT_EQ(h.forks.size(), 1u);
}

TEST(Supervisor, AWorkerCrashingAgainWhileDownIsNotAnnouncedTwiceAndIsDroppedBeforeEachTry) {
  Harness h;
  h.bringUp();
  const size_t w0 = h.workers[0];
  RespawnWorker0(h);
  int64_t t = kLongAfter + 10;  // a fast failure: 100 ms back-off
  h.exit(h.pid(w0), KilledBy(SIGSEGV), t);  // a crash while starting is a failed start too
  ASSERT_EQ(h.of(Kind::kWorkerDown).size(), 1u) << h.dump();
  EXPECT_EQ(h.slot(w0).respawn_at_ms, t + 100);
  h.tick(t + 100);
  ASSERT_EQ(h.forks.size(), 1u);
  h.clear();
  t += 150;
  h.exit(h.pid(w0), Exited(kExitRespawn), t);  // still kStarting
  EXPECT_TRUE(h.of(Kind::kWorkerDown).empty()) << "already down" << h.dump();
  EXPECT_TRUE(h.slot(w0).down);
  EXPECT_EQ(h.slot(w0).respawn_at_ms, t + 200) << "second fast failure";
  h.tick(t + 200);
  ASSERT_EQ(h.forks.size(), 1u);
  ASSERT_GE(h.indexOf(Kind::kDropQueued, w0), 0);
  EXPECT_LT(h.indexOf(Kind::kDropQueued, w0), h.indexOf(Kind::kFork, w0));
}

TEST(Supervisor, AWorkerKilledFromOutsideWhileStartingIsNotMarkedDown) {
  Harness h;
  h.bringUp();
  const size_t w0 = h.workers[0];
  RespawnWorker0(h);
  const int64_t t = kLongAfter + 2000;
  h.exit(h.pid(w0), SIGKILL, t);  // the OOM killer, an operator's kill -9
  EXPECT_TRUE(h.of(Kind::kWorkerDown).empty()) << h.dump();
  EXPECT_FALSE(h.slot(w0).down);
  EXPECT_EQ(h.counted(Counter::kRespawns), 1);
  EXPECT_EQ(h.slot(w0).respawn_at_ms, t) << "a long life: no delay, and no down minimum";
  h.tick(t);
  ASSERT_EQ(h.forks.size(), 1u);
  EXPECT_TRUE(h.of(Kind::kDropQueued).empty());

  // TERM and INT from outside say nothing of the next start either.
  h.clear();
  h.exit(h.pid(w0), KilledBy(SIGTERM), t + 2000);
  h.tick(t + 2000);
  h.clear();
  h.exit(h.pid(w0), KilledBy(SIGINT), t + 4000);
  EXPECT_TRUE(h.of(Kind::kWorkerDown).empty());
  EXPECT_FALSE(h.slot(w0).down);
}

TEST(Supervisor, OnlyTcpWorkersAreMarkedDown) {
  Layout layout;
  layout.udp = true;
  SupervisorSettings s = Settings();
  s.udp_workers = 1;
  Harness h(s, layout);
  h.start();
  const int64_t t = kT0 + 2000;  // every board still kStarting
  h.exit(h.pid(h.listeners[0]), Exited(kExitRespawn), t);
  h.exit(h.pid(h.udp_workers[0]), Exited(kExitRespawn), t);
  h.exit(h.pid(h.admin), KilledBy(SIGSEGV), t);
  EXPECT_TRUE(h.of(Kind::kWorkerDown).empty()) << h.dump();
  EXPECT_EQ(h.counted(Counter::kRespawns), 3);
  h.exit(h.pid(h.workers[1]), Exited(kExitRespawn), t);
  const auto down = h.of(Kind::kWorkerDown);
  ASSERT_EQ(down.size(), 1u);
  EXPECT_EQ(down[0].slot, h.workers[1]);
}

TEST(Supervisor, AListenerForkedWhileAWorkerIsDownIsToldOfThatWorkerOnly) {
  Harness h;
  h.bringUp();
  const size_t w0 = h.workers[0];
  RespawnWorker0(h);
  const int64_t t = kLongAfter + 2000;
  h.exit(h.pid(w0), Exited(kExitRespawn), t);
  ASSERT_TRUE(h.slot(w0).down);
  h.clear();
  const size_t l1 = h.listeners[1];
  h.exit(h.pid(l1), KilledBy(SIGSEGV), t + 10);
  EXPECT_TRUE(h.of(Kind::kWorkerDown).empty()) << "told when its replacement is forked";
  h.tick(t + 10);  // the listener respawns at once; worker 0 is not due yet
  ASSERT_EQ(h.forks.size(), 1u) << h.dump();
  EXPECT_EQ(h.forks[0].slot, l1);
  const auto down = h.of(Kind::kWorkerDown);
  ASSERT_EQ(down.size(), 1u) << h.dump();
  EXPECT_EQ(down[0].slot, w0);
  EXPECT_EQ(down[0].listener, 1) << "the new listener only";
  EXPECT_GT(h.indexOf(Kind::kWorkerDown), h.indexOf(Kind::kFork)) << "after the fork succeeded";
}

TEST(Supervisor, AListenerWhoseForkFailsIsNotToldOfDownWorkers) {
  Harness h;
  h.bringUp();
  RespawnWorker0(h);
  h.exit(h.pid(h.workers[0]), Exited(kExitRespawn), kLongAfter + 2000);
  h.exit(h.pid(h.listeners[0]), KilledBy(SIGSEGV), kLongAfter + 2000);
  h.clear();
  h.failing_forks = 1;
  h.tick(kLongAfter + 2010);
  EXPECT_TRUE(h.of(Kind::kWorkerDown).empty());
}

// ---------------------------------------------------------------- fatal exits

TEST(Supervisor, AChildExitingFatalStopsTheServerWithExitCode1) {
  Harness h;
  h.bringUp();
  const size_t w1 = h.workers[1];
  EXPECT_EQ(h.sup.exitCode(), 0);
  h.exit(h.pid(w1), Exited(kExitFatal), kLongAfter);
  EXPECT_EQ(h.sup.exitCode(), 1);
  EXPECT_EQ(h.sup.stage(), Supervisor::Stage::kStoppingListeners);
  EXPECT_EQ(h.counted(Counter::kRespawns), 0);
  EXPECT_EQ(h.notifies(), std::vector<std::string>{"STOPPING=1"});
  EXPECT_EQ(h.of(Kind::kStopBegan).size(), 1u);
  EXPECT_EQ(h.signals(), (std::multiset<std::pair<pid_t, int>>{{h.pid(h.listeners[0]), SIGTERM},
                                                                {h.pid(h.listeners[1]), SIGTERM}}));
  EXPECT_EQ(h.phase(w1), "off");
  h.tick(kLongAfter + 1000);
  EXPECT_TRUE(h.forks.empty()) << h.dump();
}

// ---------------------------------------------------------------- stop

TEST(Supervisor, StopTermsTheListenersFirstThenWorkersAndAdminUntilEveryProcessIsGone) {
  Harness h;
  h.bringUp();
  const pid_t l0 = h.pid(h.listeners[0]), l1 = h.pid(h.listeners[1]);
  const pid_t w0 = h.pid(h.workers[0]), w1 = h.pid(h.workers[1]), admin = h.pid(h.admin);
  const int64_t t = kLongAfter;
  h.stop(t);
  EXPECT_EQ(h.notifies(), std::vector<std::string>{"STOPPING=1"});
  EXPECT_EQ(h.states(), std::vector<ServerState>{ServerState::kStopping});
  EXPECT_EQ(h.of(Kind::kStopBegan).size(), 1u);
  EXPECT_EQ(h.signals(), (std::multiset<std::pair<pid_t, int>>{{l0, SIGTERM}, {l1, SIGTERM}}))
      << "workers serve the listeners' open connections; admin answers /health";
  EXPECT_EQ(h.sup.stage(), Supervisor::Stage::kStoppingListeners);
  EXPECT_FALSE(h.sup.running());

  h.clear();
  h.tick(t + 10);
  h.exit(l0, Exited(kExitOk), t + 20);
  h.tick(t + 20);
  EXPECT_TRUE(h.signals().empty()) << h.dump();
  EXPECT_EQ(h.counted(Counter::kRespawns), 0);
  h.exit(l1, Exited(kExitOk), t + 30);
  EXPECT_TRUE(h.signals().empty());
  h.tick(t + 30);
  EXPECT_EQ(h.signals(), (std::multiset<std::pair<pid_t, int>>{{w0, SIGTERM}, {w1, SIGTERM}, {admin, SIGTERM}}))
      << h.dump();
  EXPECT_EQ(h.sup.stage(), Supervisor::Stage::kStoppingWorkers);

  h.clear();
  h.tick(t + 30 + Supervisor::kRepeatSignalMs - 1);
  EXPECT_TRUE(h.signals().empty());
  h.tick(t + 30 + Supervisor::kRepeatSignalMs);
  EXPECT_EQ(h.signals(), (std::multiset<std::pair<pid_t, int>>{{w0, SIGTERM}, {w1, SIGTERM}}))
      << "repeated for the workers only";
  h.clear();
  h.exit(admin, Exited(kExitOk), t + 140);
  h.exit(w0, Exited(kExitOk), t + 140);
  h.tick(t + 140);
  EXPECT_FALSE(h.sup.done());
  h.tick(t + 240);
  EXPECT_EQ(h.signals(), (std::multiset<std::pair<pid_t, int>>{{w1, SIGTERM}}));
  h.exit(w1, Exited(kExitOk), t + 250);
  EXPECT_FALSE(h.sup.done()) << "decided by the tick";
  h.tick(t + 250);
  EXPECT_TRUE(h.sup.done());
  EXPECT_EQ(h.sup.alive(), 0u);
  EXPECT_TRUE(h.forks.empty()) << h.dump();
  EXPECT_EQ(h.sup.exitCode(), 0);
}

TEST(Supervisor, AWorkerDyingWhileTheListenersDrainIsRespawnedButNotAfter) {
  Harness h;
  h.bringUp();
  const size_t w0 = h.workers[0], w1 = h.workers[1];
  const int64_t t = kLongAfter;
  h.stop(t);
  h.clear();
  h.exit(h.pid(w0), KilledBy(SIGSEGV), t + 10);
  EXPECT_EQ(h.counted(Counter::kRespawns), 0) << "not counted during a stop";
  EXPECT_EQ(h.phase(w0), "backing-off");
  h.tick(t + 10);
  ASSERT_EQ(h.forks.size(), 1u) << h.dump();
  EXPECT_EQ(h.forks[0].slot, w0);
  EXPECT_EQ(h.phase(w0), "starting");
  // A listener is not respawned.
  h.clear();
  h.exit(h.pid(h.listeners[0]), KilledBy(SIGSEGV), t + 20);
  h.tick(t + 20);
  EXPECT_TRUE(h.forks.empty());
  EXPECT_EQ(h.phase(h.listeners[0]), "off");
  // Once the listeners are gone, nothing is.
  h.exit(h.pid(h.listeners[1]), Exited(kExitOk), t + 30);
  h.tick(t + 30);
  ASSERT_EQ(h.sup.stage(), Supervisor::Stage::kStoppingWorkers);
  h.exit(h.pid(w1), KilledBy(SIGSEGV), t + 40);
  h.tick(t + 40);
  h.tick(t + 2000);
  EXPECT_TRUE(h.forks.empty()) << h.dump();
  EXPECT_EQ(h.phase(w1), "off");
}

TEST(Supervisor, APendingRespawnOfAListenerIsDroppedByAStop) {
  Harness h;
  h.bringUp();
  const size_t l0 = h.listeners[0];
  h.exit(h.pid(l0), KilledBy(SIGSEGV), kT0 + 500);  // fast: 100 ms back-off
  ASSERT_EQ(h.phase(l0), "backing-off");
  h.stop(kT0 + 510);
  EXPECT_EQ(h.phase(l0), "off");
  h.tick(kT0 + 700);
  EXPECT_TRUE(h.forks.empty());
}

TEST(Supervisor, PastTheGracefulTimeoutEveryChildIsKilled) {
  Harness h;  // graceful_timeout_ms 5000
  h.bringUp();
  std::multiset<std::pair<pid_t, int>> all;
  for (size_t i = 0; i < h.sup.slots().size(); ++i) {
    if (h.pid(i) > 0) all.insert({h.pid(i), SIGKILL});
  }
  ASSERT_EQ(all.size(), 5u);
  const int64_t t = kLongAfter;
  h.stop(t);
  h.tick(t + 4999);
  EXPECT_EQ(h.signalsOf(SIGKILL), 0);
  h.clear();
  h.tick(t + 5000);
  EXPECT_EQ(h.signals(), all) << h.dump();
  h.clear();
  h.tick(t + 5100);
  h.tick(t + 9000);
  EXPECT_EQ(h.signalsOf(SIGKILL), 0) << "once";
}

TEST(Supervisor, StopTermsAStandbyNotYetTakingOver) {
  Harness h;
  h.bringUp();
  const int64_t t = kLongAfter;
  h.reload(t);
  h.tick(t);
  const pid_t standby = h.slot(h.workers[0]).standby_pid;
  ASSERT_GT(standby, 0);
  h.clear();
  h.stop(t + 10);
  EXPECT_EQ(h.signals(), (std::multiset<std::pair<pid_t, int>>{{h.pid(h.listeners[0]), SIGTERM},
                                                                {h.pid(h.listeners[1]), SIGTERM},
                                                                {standby, SIGTERM}}))
      << h.dump();
}

TEST(Supervisor, ASecondStopKillsEveryChildAtOnce) {
  Harness h;
  h.bringUp();
  const int64_t t = kLongAfter;
  h.reload(t);
  h.tick(t);
  std::multiset<std::pair<pid_t, int>> all;
  for (const Slot& s : h.sup.slots()) {
    if (s.pid > 0) all.insert({s.pid, SIGKILL});
    if (s.standby_pid > 0) all.insert({s.standby_pid, SIGKILL});
  }
  ASSERT_EQ(all.size(), 6u);
  h.stop(t + 10);
  h.clear();
  h.sup.stop("SIGINT", t + 20);
  h.pump();
  EXPECT_EQ(h.signals(), all) << h.dump();
}

TEST(Supervisor, ReloadAndConfigChangedDuringAStopDoNothing) {
  Harness h;
  h.bringUp();
  const int64_t t = kLongAfter;
  h.stop(t);
  h.clear();
  h.reload(t + 10);
  SupervisorSettings more = Settings();
  more.workers = 3;
  more.graceful_timeout_ms = 1;
  h.configChanged(more, t + 20);
  EXPECT_TRUE(h.seen.empty()) << h.dump();
  EXPECT_FALSE(h.sup.reloading());
  EXPECT_EQ(h.sup.settings().workers, 2u);
  EXPECT_EQ(h.sup.settings().graceful_timeout_ms, 5000);
  EXPECT_FALSE(h.slot(h.workers[2]).wanted);
  h.tick(t + 30);
  h.tick(t + 1000);
  EXPECT_TRUE(h.forks.empty()) << h.dump();
  EXPECT_EQ(h.signalsOf(SIGKILL), 0) << "the stop's deadline is the old one";
  EXPECT_EQ(h.signalsOf(SIGUSR1), 0);
}

// ---------------------------------------------------------------- rolling reload

TEST(Supervisor, ARollingReloadReplacesOneWorkerAtATimeStandbyFirst) {
  Harness h;
  h.bringUp();
  const size_t w0 = h.workers[0], w1 = h.workers[1];
  const pid_t old0 = h.pid(w0), old1 = h.pid(w1);
  int64_t t = kLongAfter;
  h.reload(t);
  EXPECT_TRUE(h.sup.reloading());
  EXPECT_EQ(h.states(), std::vector<ServerState>{ServerState::kReloading});
  EXPECT_TRUE(h.forks.empty()) << "the tick starts it";

  h.tick(t);
  ASSERT_EQ(h.forks.size(), 1u) << h.dump();
  EXPECT_EQ(h.forks[0].slot, w0);
  EXPECT_TRUE(h.forks[0].standby);
  EXPECT_EQ(h.forks[0].board, 3u) << "its alt_board";
  EXPECT_EQ(h.forks[0].epoch, 2u);
  const pid_t new0 = h.forks[0].pid;
  EXPECT_EQ(h.slot(w0).standby_pid, new0);
  EXPECT_EQ(h.pid(w0), old0) << "the old one keeps serving";
  EXPECT_EQ(h.phase(w0), "serving");
  EXPECT_EQ(h.sup.alive(), 6u);

  h.clear();
  h.tick(t += 10);  // the standby is still starting
  EXPECT_TRUE(h.signals().empty());
  h.standbyReports(w0, SlotState::kIdle);  // a TCP standby is ready in kStandby only
  h.tick(t += 10);
  EXPECT_TRUE(h.signals().empty());
  h.standbyReports(w0, SlotState::kStandby);
  h.tick(t += 10);
  EXPECT_EQ(h.signals(), (std::multiset<std::pair<pid_t, int>>{{old0, SIGUSR1}})) << h.dump();
  EXPECT_EQ(h.phase(w0), "retiring");
  EXPECT_TRUE(h.forks.empty()) << "one slot at a time";
  h.clear();
  h.tick(t += 200);
  EXPECT_TRUE(h.signals().empty()) << "a TCP worker's USR1 is not repeated";

  h.exit(old0, Exited(kExitOk), t += 10);
  EXPECT_EQ(h.signals(), (std::multiset<std::pair<pid_t, int>>{{new0, SIGUSR2}})) << h.dump();
  ASSERT_EQ(h.of(Kind::kClearBoard).size(), 1u);
  EXPECT_EQ(h.of(Kind::kClearBoard)[0].board, 2u);
  ASSERT_EQ(h.of(Kind::kWorkerLost).size(), 1u);
  EXPECT_EQ(h.of(Kind::kWorkerLost)[0].board, 2u);
  EXPECT_EQ(h.counted(Counter::kRespawns), 0);
  EXPECT_EQ(h.pid(w0), new0);
  EXPECT_EQ(h.slot(w0).standby_pid, 0);
  EXPECT_EQ(h.slot(w0).board, 3u) << "boards swapped";
  EXPECT_EQ(h.slot(w0).alt_board, 2u);
  EXPECT_EQ(h.phase(w0), "starting");

  h.clear();
  h.tick(t += 10);
  ASSERT_EQ(h.forks.size(), 1u) << h.dump();
  EXPECT_EQ(h.forks[0].slot, w1);
  EXPECT_TRUE(h.forks[0].standby);
  EXPECT_EQ(h.forks[0].board, 5u);
  const pid_t new1 = h.forks[0].pid;
  h.idle(w0);
  h.tick(t += 10);
  EXPECT_EQ(h.phase(w0), "serving");
  h.standbyReports(w1, SlotState::kStandby);
  h.tick(t += 10);
  EXPECT_EQ(h.signalsTo(old1, SIGUSR1), 1);
  h.clear();
  h.exit(old1, Exited(kExitOk), t += 10);
  EXPECT_EQ(h.signalsTo(new1, SIGUSR2), 1);
  EXPECT_TRUE(h.sup.reloading());
  EXPECT_TRUE(h.of(Kind::kCount).empty());

  h.tick(t += 10);
  EXPECT_FALSE(h.sup.reloading());
  EXPECT_EQ(h.counted(Counter::kReloads), 1);
  EXPECT_EQ(h.counted(Counter::kRecycles), 0);
  EXPECT_EQ(h.states(), std::vector<ServerState>{ServerState::kRunning});
  EXPECT_TRUE(h.notifies().empty()) << "USR1 is not a HUP";
  EXPECT_TRUE(h.forks.empty());
  EXPECT_EQ(h.pid(w1), new1);
  EXPECT_EQ(h.phase(h.workers[2]), "off") << "an unwanted slot is not reloaded";
  EXPECT_EQ(h.sup.alive(), 5u);
}

TEST(Supervisor, APromotedWorkerStartsAfreshForTheBackOff) {
  Harness h;
  h.bringUp();
  const size_t w0 = h.workers[0];
  // Two fast deaths: the slot's next fast death would wait 400 ms.
  h.exit(h.pid(w0), KilledBy(SIGSEGV), kT0 + 500);
  h.tick(kT0 + 600);
  h.idle(w0);
  h.exit(h.pid(w0), KilledBy(SIGSEGV), kT0 + 610);
  h.tick(kT0 + 810);
  h.idle(w0);
  h.tick(kT0 + 820);
  ASSERT_EQ(h.slot(w0).fast_failures, 2);
  int64_t t = kLongAfter;
  h.reload(t);
  h.tick(t);
  h.completeReplacement(w0, &t);  // promoted at t
  const int64_t promoted = t;
  h.clear();
  h.exit(h.pid(w0), KilledBy(SIGSEGV), promoted + 10);
  EXPECT_EQ(h.counted(Counter::kRespawns), 1);
  EXPECT_EQ(h.slot(w0).respawn_at_ms, promoted + 10 + 100)
      << "its life counts from the promotion, and the old process's fast deaths are forgotten";
}

TEST(Supervisor, AUdpWorkerReplacementIsReadyWhenIdleAndTheOldOnesUsr1IsRepeated) {
  Layout layout;
  layout.udp = true;
  layout.admin = false;
  SupervisorSettings s = Settings();
  s.workers = 0;
  s.udp_workers = 1;
  Harness h(s, layout);
  h.bringUp();
  const size_t u0 = h.udp_workers[0];
  const pid_t old = h.pid(u0);
  int64_t t = kLongAfter;
  h.reload(t);
  h.tick(t);
  ASSERT_EQ(h.forks.size(), 1u) << h.dump();
  EXPECT_EQ(h.forks[0].slot, u0);
  EXPECT_TRUE(h.forks[0].standby);
  EXPECT_EQ(h.forks[0].board, h.slot(u0).alt_board);
  const pid_t fresh = h.forks[0].pid;
  h.standbyReports(u0, SlotState::kStandby);  // not what a UDP worker says
  h.tick(t += 10);
  EXPECT_TRUE(h.signals().empty());
  h.standbyReports(u0, SlotState::kIdle);
  h.tick(t += 10);
  EXPECT_EQ(h.signalsTo(old, SIGUSR1), 1) << h.dump();
  EXPECT_EQ(h.phase(u0), "retiring");
  h.clear();
  const int64_t sent = t;
  h.tick(sent + Supervisor::kRepeatSignalMs - 1);
  EXPECT_TRUE(h.signals().empty());
  h.tick(sent + Supervisor::kRepeatSignalMs);
  EXPECT_EQ(h.signalsTo(old, SIGUSR1), 1) << "it may be blocked in msgrcv()";
  h.tick(sent + 2 * Supervisor::kRepeatSignalMs);
  EXPECT_EQ(h.signalsTo(old, SIGUSR1), 2);
  h.clear();
  t = sent + 250;
  h.exit(old, Exited(kExitOk), t);
  EXPECT_TRUE(h.signals().empty()) << "no USR2: a UDP worker reads the shared queue at once";
  EXPECT_TRUE(h.of(Kind::kWorkerLost).empty());
  EXPECT_EQ(h.pid(u0), fresh);
  h.tick(t += 10);
  EXPECT_EQ(h.counted(Counter::kReloads), 1);
  EXPECT_FALSE(h.sup.reloading());
}

// ---------------------------------------------------------------- reload failures

TEST(Supervisor, AReplacementNotReadyInTimeIsKilledAndTheOldKeepsServing) {
  Harness h;  // reload_start_timeout_ms 3000
  h.bringUp();
  const size_t w0 = h.workers[0];
  const pid_t old = h.pid(w0);
  const int64_t t = kLongAfter;
  h.reload(t);
  h.tick(t);
  const pid_t standby = h.slot(w0).standby_pid;
  ASSERT_GT(standby, 0);
  h.clear();
  h.tick(t + 2999);
  EXPECT_TRUE(h.signals().empty());
  EXPECT_TRUE(h.sup.reloading());
  h.tick(t + 3000);
  EXPECT_EQ(h.signals(), (std::multiset<std::pair<pid_t, int>>{{standby, SIGKILL}})) << h.dump();
  EXPECT_EQ(h.counted(Counter::kReloadFailures), 1);
  EXPECT_EQ(h.counted(Counter::kReloads), 0);
  EXPECT_EQ(h.states(), std::vector<ServerState>{ServerState::kRunning});
  EXPECT_FALSE(h.sup.reloading());
  EXPECT_EQ(h.pid(w0), old);
  EXPECT_EQ(h.phase(w0), "serving");
  h.clear();
  h.exit(standby, SIGKILL, t + 3010);
  ASSERT_EQ(h.of(Kind::kClearBoard).size(), 1u);
  EXPECT_EQ(h.of(Kind::kClearBoard)[0].board, 3u);
  EXPECT_EQ(h.counted(Counter::kReloadFailures), 0) << "counted once";
  EXPECT_EQ(h.slot(w0).standby_pid, 0);
  h.tick(t + 3020);
  h.tick(t + 4000);
  EXPECT_TRUE(h.forks.empty()) << "worker 1 is not replaced: the reload stopped";
  EXPECT_EQ(h.counted(Counter::kRespawns), 0);
}

TEST(Supervisor, ANewReloadWaitsUntilTheKilledStandbyOfTheLastOneIsReaped) {
  Harness h;  // reload_start_timeout_ms 3000
  h.bringUp();
  const size_t w0 = h.workers[0];
  const int64_t t = kLongAfter;
  h.reload(t);
  h.tick(t);
  const pid_t standby = h.slot(w0).standby_pid;
  ASSERT_GT(standby, 0);
  h.tick(t + 3000);  // not ready in time: SIGKILL, reload failed
  ASSERT_FALSE(h.sup.reloading());
  h.clear();
  h.reload(t + 3001);  // before the killed standby is reaped
  h.tick(t + 3001);
  h.tick(t + 3020);
  EXPECT_TRUE(h.forks.empty()) << "a second standby would take the slot's standby_pid from the first";
  EXPECT_EQ(h.slot(w0).standby_pid, standby);
  h.exit(standby, SIGKILL, t + 3030);
  EXPECT_EQ(h.slot(w0).standby_pid, 0);
  h.tick(t + 3040);
  ASSERT_EQ(h.forks.size(), 1u) << h.dump();
  EXPECT_TRUE(h.forks[0].standby);
  EXPECT_EQ(h.forks[0].slot, w0);
}

TEST(Supervisor, AReplacementDyingBeforeItIsReadyStopsTheReload) {
  Harness h;
  h.bringUp();
  const size_t w0 = h.workers[0];
  const pid_t old = h.pid(w0);
  const int64_t t = kLongAfter;
  h.reload(t);
  h.tick(t);
  const pid_t standby = h.slot(w0).standby_pid;
  h.clear();
  h.exit(standby, Exited(kExitRespawn), t + 50);
  ASSERT_EQ(h.of(Kind::kClearBoard).size(), 1u);
  EXPECT_EQ(h.of(Kind::kClearBoard)[0].board, h.slot(w0).alt_board);
  EXPECT_TRUE(h.of(Kind::kWorkerLost).empty());
  EXPECT_TRUE(h.of(Kind::kWorkerDown).empty()) << "a standby failing is not the slot's worker failing";
  EXPECT_EQ(h.counted(Counter::kReloadFailures), 1);
  EXPECT_EQ(h.counted(Counter::kRespawns), 0);
  EXPECT_FALSE(h.sup.reloading());
  EXPECT_EQ(h.pid(w0), old);
  EXPECT_EQ(h.slot(w0).standby_pid, 0);
  EXPECT_TRUE(h.signals().empty());
  h.tick(t + 60);
  h.tick(t + 200);
  EXPECT_TRUE(h.forks.empty());
}

TEST(Supervisor, AFailedForkOfTheReplacementStopsTheReload) {
  Harness h;
  h.bringUp();
  const size_t w0 = h.workers[0];
  const pid_t old = h.pid(w0);
  const int64_t t = kLongAfter;
  h.reload(t);
  h.failing_forks = 1;
  h.tick(t);
  ASSERT_EQ(h.forks.size(), 1u);
  EXPECT_TRUE(h.forks[0].standby);
  EXPECT_EQ(h.forks[0].pid, 0);
  EXPECT_EQ(h.counted(Counter::kReloadFailures), 1) << h.dump();
  EXPECT_FALSE(h.sup.reloading());
  EXPECT_EQ(h.pid(w0), old);
  EXPECT_EQ(h.phase(w0), "serving");
  EXPECT_EQ(h.slot(w0).standby_pid, 0);
  h.clear();
  h.tick(t + 10);
  h.tick(t + 2000);
  EXPECT_TRUE(h.forks.empty()) << "neither retried as a respawn nor continued";
}

TEST(Supervisor, WhenTheOldDiesWhileItsReplacementStartsTheReplacementTakesOverWithoutUsr1) {
  Harness h;
  h.bringUp();
  const size_t w0 = h.workers[0];
  const pid_t old = h.pid(w0);
  int64_t t = kLongAfter;
  h.reload(t);
  h.tick(t);
  const pid_t standby = h.slot(w0).standby_pid;
  h.clear();
  h.exit(old, KilledBy(SIGSEGV), t += 10);
  EXPECT_EQ(h.counted(Counter::kRespawns), 0) << "its replacement is on the way";
  EXPECT_EQ(h.of(Kind::kWorkerLost).size(), 1u);
  EXPECT_EQ(h.pid(w0), 0);
  EXPECT_EQ(h.slot(w0).standby_pid, standby);
  h.tick(t += 10);
  EXPECT_TRUE(h.forks.empty()) << "not respawned beside its replacement" << h.dump();
  EXPECT_TRUE(h.signals().empty());
  h.standbyReports(w0, SlotState::kStandby);
  h.tick(t += 10);
  EXPECT_EQ(h.signals(), (std::multiset<std::pair<pid_t, int>>{{standby, SIGUSR2}})) << h.dump();
  EXPECT_EQ(h.pid(w0), standby);
  EXPECT_EQ(h.slot(w0).board, 3u);
  EXPECT_EQ(h.phase(w0), "starting");
  h.clear();
  h.tick(t += 10);
  ASSERT_EQ(h.forks.size(), 1u);
  EXPECT_EQ(h.forks[0].slot, h.workers[1]) << "the reload goes on";
  EXPECT_TRUE(h.forks[0].standby);
}

TEST(Supervisor, WhenTheOldAndItsReplacementBothDieTheSlotIsRespawned) {
  Harness h;
  h.bringUp();
  const size_t w0 = h.workers[0];
  int64_t t = kLongAfter;
  h.reload(t);
  h.tick(t);
  const pid_t standby = h.slot(w0).standby_pid;
  h.exit(h.pid(w0), KilledBy(SIGSEGV), t += 10);
  h.clear();
  h.exit(standby, Exited(kExitRespawn), t += 10);
  EXPECT_EQ(h.counted(Counter::kReloadFailures), 1);
  EXPECT_FALSE(h.sup.reloading());
  EXPECT_EQ(h.phase(w0), "backing-off") << "nobody serves the slot now";
  h.tick(t);
  ASSERT_EQ(h.forks.size(), 1u) << h.dump();
  EXPECT_EQ(h.forks[0].slot, w0);
  EXPECT_FALSE(h.forks[0].standby);
  EXPECT_EQ(h.forks[0].board, h.slot(w0).board);
}

TEST(Supervisor, ASlotWhoseOldDiedIsRespawnedOnceItsTimedOutReplacementIsReaped) {
  Harness h;  // reload_start_timeout_ms 3000
  h.bringUp();
  const size_t w0 = h.workers[0];
  const int64_t t = kLongAfter;
  h.reload(t);
  h.tick(t);
  const pid_t standby = h.slot(w0).standby_pid;
  h.exit(h.pid(w0), KilledBy(SIGSEGV), t + 10);
  h.clear();
  h.tick(t + 3000);
  EXPECT_EQ(h.signalsTo(standby, SIGKILL), 1);
  EXPECT_EQ(h.counted(Counter::kReloadFailures), 1);
  EXPECT_EQ(h.phase(w0), "backing-off");
  h.tick(t + 3010);
  EXPECT_TRUE(h.forks.empty()) << "not beside the killed replacement, which still holds the slot's boards";
  h.exit(standby, SIGKILL, t + 3020);
  h.tick(t + 3020);
  ASSERT_EQ(h.forks.size(), 1u) << h.dump();
  EXPECT_EQ(h.forks[0].slot, w0);
  EXPECT_FALSE(h.forks[0].standby);
}

TEST(Supervisor, AnOldWorkerThatDoesNotRetireWithinTheGracefulTimeoutIsKilled) {
  Harness h;  // graceful_timeout_ms 5000
  h.bringUp();
  const size_t w0 = h.workers[0];
  const pid_t old = h.pid(w0);
  int64_t t = kLongAfter;
  h.reload(t);
  h.tick(t);
  const pid_t standby = h.slot(w0).standby_pid;
  h.standbyReports(w0, SlotState::kStandby);
  const int64_t sent = t + 10;
  h.tick(sent);
  ASSERT_EQ(h.signalsTo(old, SIGUSR1), 1);
  h.clear();
  h.tick(sent + 4999);
  EXPECT_EQ(h.signalsOf(SIGKILL), 0);
  h.tick(sent + 5000);
  EXPECT_EQ(h.signals(), (std::multiset<std::pair<pid_t, int>>{{old, SIGKILL}})) << h.dump();
  h.clear();
  h.tick(sent + 5100);
  EXPECT_TRUE(h.signals().empty()) << "once";
  h.exit(old, SIGKILL, sent + 5110);
  EXPECT_EQ(h.signals(), (std::multiset<std::pair<pid_t, int>>{{standby, SIGUSR2}}));
  EXPECT_EQ(h.pid(w0), standby);
  EXPECT_EQ(h.counted(Counter::kRespawns), 0);
  EXPECT_EQ(h.counted(Counter::kReloadFailures), 0);
}

// ---------------------------------------------------------------- reloads meeting reloads

TEST(Supervisor, ADuplicateReloadIsIgnored) {
  Harness h;
  h.bringUp();
  int64_t t = kLongAfter;
  h.reload(t);
  h.tick(t);
  h.clear();
  h.reload(t + 5);
  EXPECT_TRUE(h.states().empty());
  EXPECT_TRUE(h.logged("ignored"));
  h.completeReplacement(h.workers[0], &t);
  h.tick(t += 10);
  h.completeReplacement(h.workers[1], &t);
  h.tick(t += 10);
  EXPECT_FALSE(h.sup.reloading());
  h.tick(t += 10);
  h.tick(t += 200);
  EXPECT_FALSE(h.sup.reloading());
  EXPECT_EQ(h.counted(Counter::kReloads), 1);
  size_t standbys = 0;
  for (const ForkRecord& f : h.forks) standbys += f.standby;
  EXPECT_EQ(standbys, 1u) << "worker 1's only (worker 0's was forked before): no second round" << h.dump();
}

// Worker 1 asks to be recycled; the recycling's standby is forked.
void StartRecyclingWorker1(Harness& h, int64_t t) {
  const size_t w1 = h.workers[1];
  h.probe.recycle[h.slot(w1).board] = true;
  h.tick(t);
  ASSERT_TRUE(h.sup.reloading());
  ASSERT_GT(h.slot(w1).standby_pid, 0) << h.dump();
  ASSERT_EQ(h.slot(h.workers[0]).standby_pid, 0);
}

TEST(Supervisor, AFullReloadAskedForDuringARecyclingRunsAfterIt) {
  Harness h;
  h.bringUp();
  int64_t t = kLongAfter;
  StartRecyclingWorker1(h, t);
  h.clear();
  h.reload(t += 10);
  EXPECT_TRUE(h.states().empty()) << "it waits";
  EXPECT_TRUE(h.logged("will follow the recycling"));
  h.completeReplacement(h.workers[1], &t);
  h.tick(t += 10);
  // The recycling's end started the full reload.
  EXPECT_EQ(h.counted(Counter::kRecycles), 1) << h.dump();
  EXPECT_EQ(h.counted(Counter::kReloads), 0);
  EXPECT_EQ(h.states(), (std::vector<ServerState>{ServerState::kRunning, ServerState::kReloading}));
  EXPECT_TRUE(h.sup.reloading());
  h.clear();
  h.tick(t += 10);
  ASSERT_EQ(h.forks.size(), 1u) << h.dump();
  EXPECT_EQ(h.forks[0].slot, h.workers[0]);
  EXPECT_TRUE(h.forks[0].standby);
  h.completeReplacement(h.workers[0], &t);
  h.tick(t += 10);
  ASSERT_EQ(h.forks.size(), 2u) << "worker 1 too, though just recycled";
  EXPECT_EQ(h.forks[1].slot, h.workers[1]);
  h.completeReplacement(h.workers[1], &t);
  h.tick(t += 10);
  EXPECT_FALSE(h.sup.reloading());
  EXPECT_EQ(h.counted(Counter::kReloads), 1);
  EXPECT_TRUE(h.notifies().empty()) << "USR1 is not a HUP";
}

TEST(Supervisor, HupDuringARecyclingIsFollowedByAFullReloadAndReadyAfterIt) {
  Harness h;
  h.bringUp();
  int64_t t = kLongAfter;
  StartRecyclingWorker1(h, t);
  h.clear();
  h.configChanged(Settings(), t += 10);
  EXPECT_TRUE(h.states().empty());
  h.completeReplacement(h.workers[1], &t);
  h.tick(t += 10);
  EXPECT_EQ(h.counted(Counter::kRecycles), 1);
  EXPECT_TRUE(h.notifies().empty()) << "not after the recycling" << h.dump();
  EXPECT_TRUE(h.sup.reloading());
  EXPECT_EQ(h.states(), (std::vector<ServerState>{ServerState::kRunning, ServerState::kReloading}));
  h.tick(t += 10);
  h.completeReplacement(h.workers[0], &t);
  h.tick(t += 10);
  h.completeReplacement(h.workers[1], &t);
  EXPECT_TRUE(h.notifies().empty());
  h.clear();
  h.tick(t += 10);  // the last slot is done
  EXPECT_EQ(h.counted(Counter::kReloads), 1) << h.dump();
  EXPECT_EQ(h.notifies(), std::vector<std::string>{"READY=1"});
  EXPECT_GT(h.indexOf(Kind::kNotify), h.indexOf(Kind::kCount));
  EXPECT_FALSE(h.sup.reloading());
  h.clear();
  h.tick(t += 200);
  EXPECT_TRUE(h.notifies().empty());
}

TEST(Supervisor, HupWithNoReloadRunningSaysReadyAfterItsReload) {
  Harness h;
  h.bringUp();
  int64_t t = kLongAfter;
  h.configChanged(Settings(), t);
  EXPECT_TRUE(h.sup.reloading());
  EXPECT_EQ(h.states(), std::vector<ServerState>{ServerState::kReloading});
  EXPECT_TRUE(h.notifies().empty());
  h.tick(t);
  h.completeReplacement(h.workers[0], &t);
  h.tick(t += 10);
  EXPECT_TRUE(h.notifies().empty());
  h.completeReplacement(h.workers[1], &t);
  EXPECT_TRUE(h.notifies().empty());
  h.clear();
  h.tick(t += 10);
  EXPECT_EQ(h.counted(Counter::kReloads), 1);
  EXPECT_EQ(h.notifies(), std::vector<std::string>{"READY=1"});
}

TEST(Supervisor, HupDuringAFullReloadSaysReadyAtItsEnd) {
  Harness h;
  h.bringUp();
  int64_t t = kLongAfter;
  h.reload(t);
  h.tick(t);
  h.completeReplacement(h.workers[0], &t);
  h.clear();
  h.configChanged(Settings(), t += 10);
  EXPECT_TRUE(h.states().empty()) << "no second reload";
  EXPECT_TRUE(h.sup.reloading());
  h.tick(t += 10);
  h.completeReplacement(h.workers[1], &t);
  EXPECT_TRUE(h.notifies().empty());
  h.tick(t += 10);
  EXPECT_EQ(h.counted(Counter::kReloads), 1);
  EXPECT_EQ(h.notifies(), std::vector<std::string>{"READY=1"});
  h.tick(t += 10);
  h.tick(t += 200);
  size_t standbys = 0;
  for (const ForkRecord& f : h.forks) standbys += f.standby;
  EXPECT_EQ(standbys, 1u) << "worker 1's, the reload in progress; no second round" << h.dump();
}

TEST(Supervisor, AFailedHupReloadStillSaysReady) {
  Harness h;
  h.bringUp();
  const int64_t t = kLongAfter;
  h.configChanged(Settings(), t);
  h.tick(t);
  h.clear();
  h.exit(h.slot(h.workers[0]).standby_pid, Exited(kExitRespawn), t + 10);
  EXPECT_EQ(h.counted(Counter::kReloadFailures), 1);
  EXPECT_EQ(h.notifies(), std::vector<std::string>{"READY=1"});
}

// ---------------------------------------------------------------- stop meets reload

TEST(Supervisor, AStopDuringAReloadDropsIt) {
  Harness h;
  h.bringUp();
  const size_t w0 = h.workers[0];
  const pid_t old = h.pid(w0);
  int64_t t = kLongAfter;
  h.reload(t);
  h.tick(t);
  const pid_t standby = h.slot(w0).standby_pid;
  h.clear();
  h.stop(t += 10);
  EXPECT_FALSE(h.sup.reloading());
  EXPECT_EQ(h.signalsTo(standby, SIGTERM), 1);
  h.standbyReports(w0, SlotState::kStandby);
  h.tick(t += 10);
  EXPECT_EQ(h.signalsOf(SIGUSR1), 0) << "the old one is not retired" << h.dump();
  EXPECT_EQ(h.phase(w0), "serving");
  h.exit(standby, Exited(kExitOk), t += 10);
  EXPECT_EQ(h.counted(Counter::kReloadFailures), 0);
  EXPECT_EQ(h.pid(w0), old);
  h.tick(t += 10);
  h.tick(t += 1000);
  EXPECT_TRUE(h.forks.empty()) << h.dump();
  EXPECT_EQ(h.counted(Counter::kReloads), 0);
  EXPECT_EQ(h.states(), std::vector<ServerState>{ServerState::kStopping});
}

TEST(Supervisor, AStopDuringARecyclingDropsTheFullReloadWaitingBehindIt) {
  Harness h;
  h.bringUp();
  int64_t t = kLongAfter;
  StartRecyclingWorker1(h, t);
  t += 10;
  h.reload(t += 10);
  h.stop(t += 10);
  h.clear();
  const size_t w1 = h.workers[1];
  h.exit(h.slot(w1).standby_pid, KilledBy(SIGTERM), t += 10);
  h.tick(t += 10);
  h.tick(t += 1000);
  EXPECT_TRUE(h.forks.empty()) << h.dump();
  EXPECT_TRUE(h.states().empty());
  EXPECT_EQ(h.signalsOf(SIGUSR1), 0);
}

TEST(Supervisor, AStandbyWhoseOldProcessIsRetiringIsPromotedDuringAStop) {
  Harness h;
  h.bringUp();
  const size_t w0 = h.workers[0];
  const pid_t old = h.pid(w0);
  int64_t t = kLongAfter;
  h.reload(t);
  h.tick(t);
  const pid_t standby = h.slot(w0).standby_pid;
  h.standbyReports(w0, SlotState::kStandby);
  h.tick(t += 10);
  ASSERT_EQ(h.signalsTo(old, SIGUSR1), 1);
  h.clear();
  h.stop(t += 10);
  EXPECT_EQ(h.signalsTo(standby, SIGTERM), 0) << "it is about to serve the slot";
  EXPECT_EQ(h.signalsTo(old, SIGTERM), 0);
  h.clear();
  h.exit(old, Exited(kExitOk), t += 10);
  EXPECT_EQ(h.signals(), (std::multiset<std::pair<pid_t, int>>{{standby, SIGUSR2}})) << h.dump();
  EXPECT_EQ(h.pid(w0), standby);
  EXPECT_EQ(h.slot(w0).standby_pid, 0);
  EXPECT_EQ(h.slot(w0).board, 3u);
  h.tick(t += 10);
  EXPECT_TRUE(h.forks.empty()) << "promoted, not respawned";

  // The listeners finish: every worker is told, then the TERM is repeated
  // except to one still in standby (it would exit without serving).
  h.exit(h.pid(h.listeners[0]), Exited(kExitOk), t += 10);
  h.exit(h.pid(h.listeners[1]), Exited(kExitOk), t);
  h.clear();
  h.tick(t += 10);
  EXPECT_EQ(h.signalsTo(standby, SIGTERM), 1);
  EXPECT_EQ(h.signalsTo(h.pid(h.workers[1]), SIGTERM), 1);
  h.clear();
  h.tick(t += Supervisor::kRepeatSignalMs);
  EXPECT_EQ(h.signalsTo(standby, SIGTERM), 0) << "its board still says kStandby" << h.dump();
  EXPECT_EQ(h.signalsTo(h.pid(h.workers[1]), SIGTERM), 1);
  h.idle(w0);
  h.clear();
  h.tick(t += Supervisor::kRepeatSignalMs);
  EXPECT_EQ(h.signalsTo(standby, SIGTERM), 1);
}

// ---------------------------------------------------------------- scaling

TEST(Supervisor, ScaleDownRetiresTheSlotOnceItsLoadIsZeroAndLeavesItOff) {
  Harness h;
  h.bringUp();
  const size_t w1 = h.workers[1];
  const pid_t pid = h.pid(w1);
  h.probe.load[1] = 3;
  SupervisorSettings fewer = Settings();
  fewer.workers = 1;
  int64_t t = kLongAfter;
  h.configChanged(fewer, t);
  EXPECT_FALSE(h.slot(w1).wanted);
  EXPECT_EQ(h.phase(w1), "serving");
  EXPECT_EQ(h.sup.settings().workers, 1u);
  h.tick(t);
  EXPECT_EQ(h.signalsTo(pid, SIGUSR1), 0) << "its connections are still open";
  for (const ForkRecord& f : h.forks) EXPECT_NE(f.slot, w1) << "the HUP's reload skips it";
  h.tick(t += 100);
  h.tick(t += 100);
  EXPECT_EQ(h.signalsTo(pid, SIGUSR1), 0);
  h.probe.load[1] = 0;
  h.tick(t += 100);
  EXPECT_EQ(h.signalsTo(pid, SIGUSR1), 1) << h.dump();
  EXPECT_EQ(h.phase(w1), "retiring");
  h.tick(t += 100);
  h.tick(t += 100);
  EXPECT_EQ(h.signalsTo(pid, SIGUSR1), 1) << "a TCP worker is told once";
  h.clear();
  h.exit(pid, Exited(kExitOk), t += 10);
  EXPECT_EQ(h.of(Kind::kClearBoard).size(), 1u);
  EXPECT_EQ(h.of(Kind::kWorkerLost).size(), 1u);
  EXPECT_EQ(h.counted(Counter::kRespawns), 0);
  EXPECT_EQ(h.phase(w1), "off");
  EXPECT_EQ(h.pid(w1), 0);
  h.tick(t += 10);
  h.tick(t += 5000);
  for (const ForkRecord& f : h.forks) EXPECT_NE(f.slot, w1) << h.dump();
}

TEST(Supervisor, AScaledDownUdpWorkerRetiresAtOnceWithItsUsr1Repeated) {
  Layout layout;
  layout.udp = true;
  SupervisorSettings s = Settings();
  s.udp_workers = 2;
  Harness h(s, layout);
  h.bringUp();
  const size_t u1 = h.udp_workers[1];
  const pid_t pid = h.pid(u1);
  h.probe.load[1] = 5;  // a TCP worker's load: says nothing of a UDP worker
  s.udp_workers = 1;
  int64_t t = kLongAfter;
  h.configChanged(s, t);
  h.tick(t);
  EXPECT_EQ(h.signalsTo(pid, SIGUSR1), 1) << h.dump();
  EXPECT_EQ(h.phase(u1), "retiring");
  h.tick(t += 100);
  EXPECT_EQ(h.signalsTo(pid, SIGUSR1), 2);
  h.clear();
  h.exit(pid, Exited(kExitOk), t += 10);
  EXPECT_EQ(h.counted(Counter::kRespawns), 0);
  EXPECT_EQ(h.phase(u1), "off");
}

TEST(Supervisor, AScaleDownOfASlotWithNoProcessTurnsItOffAtOnce) {
  Harness h;
  h.bringUp();
  const size_t w1 = h.workers[1];
  h.exit(h.pid(w1), KilledBy(SIGSEGV), kT0 + 500);  // fast: respawn at kT0 + 600
  ASSERT_EQ(h.phase(w1), "backing-off");
  SupervisorSettings fewer = Settings();
  fewer.workers = 1;
  h.configChanged(fewer, kT0 + 510);
  EXPECT_EQ(h.phase(w1), "off");
  EXPECT_FALSE(h.slot(w1).wanted);
  EXPECT_EQ(h.slot(w1).respawn_at_ms, -1);
  EXPECT_EQ(h.sup.nextDueMs(kT0 + 590), kT0 + 610) << "the HUP's reload: every 20 ms; no respawn due at kT0 + 600";
  h.clear();
  h.tick(kT0 + 600);
  h.tick(kT0 + 2000);
  for (const ForkRecord& f : h.forks) EXPECT_NE(f.slot, w1) << h.dump();
}

TEST(Supervisor, AScaledDownWorkerThatCrashesBeforeItRetiredIsRespawned) {
  Harness h;
  h.bringUp();
  const size_t w1 = h.workers[1];
  h.probe.load[1] = 2;
  SupervisorSettings fewer = Settings();
  fewer.workers = 1;
  int64_t t = kLongAfter;
  h.configChanged(fewer, t);
  h.tick(t);
  h.clear();
  h.exit(h.pid(w1), KilledBy(SIGSEGV), t += 10);
  EXPECT_EQ(h.counted(Counter::kRespawns), 1);
  EXPECT_EQ(h.phase(w1), "backing-off");
  h.tick(t += 10);
  ASSERT_EQ(h.forks.size(), 1u) << "its connections still send requests to the slot" << h.dump();
  EXPECT_EQ(h.forks[0].slot, w1);
  EXPECT_FALSE(h.forks[0].standby);
  const pid_t fresh = h.pid(w1);
  EXPECT_FALSE(h.slot(w1).wanted);
  // It retires again once they are gone.
  h.probe.load[1] = 0;
  h.idle(w1);
  h.tick(t += 100);
  EXPECT_EQ(h.signalsTo(fresh, SIGUSR1), 1) << h.dump();
  h.clear();
  h.exit(fresh, Exited(kExitOk), t += 10);
  EXPECT_EQ(h.counted(Counter::kRespawns), 0);
  EXPECT_EQ(h.phase(w1), "off");
}

// Worker 1 is scaled down by a HUP during a USR1 reload that is replacing it;
// its old process crashes while it still has connections, then its
// replacement dies: the slot is respawned, since its connections still send
// requests to it (it retires once they are gone).
TEST(Supervisor, AScaledDownSlotLeftWithoutAProcessByAFailedReloadIsRespawned) {
  Harness h;
  h.bringUp();
  const size_t w1 = h.workers[1];
  int64_t t = kLongAfter;
  h.reload(t);
  h.tick(t);
  h.completeReplacement(h.workers[0], &t);
  h.tick(t += 10);
  const pid_t standby = h.slot(w1).standby_pid;
  ASSERT_GT(standby, 0) << "worker 1 is being replaced" << h.dump();
  h.probe.load[1] = 2;
  SupervisorSettings fewer = Settings();
  fewer.workers = 1;
  h.configChanged(fewer, t += 10);
  ASSERT_FALSE(h.slot(w1).wanted);
  h.tick(t += 100);
  ASSERT_EQ(h.signalsTo(h.pid(w1), SIGUSR1), 0) << "it still has connections";
  h.exit(h.pid(w1), KilledBy(SIGSEGV), t += 10);
  h.clear();
  h.exit(standby, Exited(kExitRespawn), t += 10);
  EXPECT_EQ(h.counted(Counter::kReloadFailures), 1);
  h.tick(t += 10);
  bool respawned = false;
  for (const ForkRecord& f : h.forks) respawned |= f.slot == w1 && !f.standby;
  EXPECT_TRUE(respawned) << "its connections still send requests to the slot" << h.dump();
}

TEST(Supervisor, ScaleUpForksTheSlot) {
  Harness h;
  h.bringUp();
  const size_t w2 = h.workers[2];
  SupervisorSettings more = Settings();
  more.workers = 3;
  h.configChanged(more, kLongAfter);
  ASSERT_EQ(h.forks.size(), 1u) << h.dump();
  EXPECT_EQ(h.forks[0].slot, w2);
  EXPECT_FALSE(h.forks[0].standby);
  EXPECT_EQ(h.forks[0].board, 6u);
  EXPECT_TRUE(h.slot(w2).wanted);
  EXPECT_EQ(h.phase(w2), "starting");
  EXPECT_GT(h.pid(w2), 0);
  EXPECT_TRUE(h.sup.reloading());
}

TEST(Supervisor, AScaleUpOfARetiringSlotKeepsItAndRespawnsItWhenTheOldExits) {
  Harness h;
  h.bringUp();
  const size_t w1 = h.workers[1];
  const pid_t pid = h.pid(w1);
  SupervisorSettings fewer = Settings();
  fewer.workers = 1;
  int64_t t = kLongAfter;
  h.configChanged(fewer, t);
  h.tick(t);
  ASSERT_EQ(h.signalsTo(pid, SIGUSR1), 1);
  // A HUP can only come once the first one's reload finished.
  h.completeReplacement(h.workers[0], &t);
  h.tick(t += 10);
  ASSERT_FALSE(h.sup.reloading());
  h.clear();
  h.configChanged(Settings(), t += 10);
  EXPECT_TRUE(h.slot(w1).wanted);
  for (const ForkRecord& f : h.forks) EXPECT_NE(f.slot, w1) << "its process still runs";
  h.exit(pid, Exited(kExitOk), t += 10);
  EXPECT_EQ(h.phase(w1), "backing-off");
  h.tick(t);
  bool forked = false;
  for (const ForkRecord& f : h.forks) forked |= f.slot == w1 && !f.standby;
  EXPECT_TRUE(forked) << h.dump();
}

// ---------------------------------------------------------------- request_timeout_ms

TEST(Supervisor, AWorkerOverTheRequestTimeoutIsKilledOnceAndRespawned) {
  SupervisorSettings s = Settings();
  s.request_timeout_ms = 1000;
  Harness h(s);
  h.bringUp();
  const size_t w0 = h.workers[0];
  const pid_t pid = h.pid(w0);
  const int64_t began = kLongAfter;
  h.probe.state[h.slot(w0).board] = SlotState::kBusy;
  h.probe.request_start[h.slot(w0).board] = began;
  h.tick(began + 500);
  h.tick(began + 1000);  // exactly the limit: not over it
  EXPECT_EQ(h.signalsOf(SIGKILL), 0);
  EXPECT_EQ(h.phase(w0), "serving");
  h.tick(began + 1100);
  EXPECT_EQ(h.signals(), (std::multiset<std::pair<pid_t, int>>{{pid, SIGKILL}})) << h.dump();
  EXPECT_EQ(h.counted(Counter::kTimeouts), 1);
  EXPECT_EQ(h.phase(w0), "killed");
  EXPECT_TRUE(h.logged(h.probe.request));
  EXPECT_TRUE(h.logged("request_timeout_ms 1000"));
  h.clear();
  h.tick(began + 1200);
  h.tick(began + 1300);
  EXPECT_TRUE(h.signals().empty()) << "once";
  EXPECT_EQ(h.counted(Counter::kTimeouts), 0);
  h.exit(pid, SIGKILL, began + 1310);
  EXPECT_EQ(h.counted(Counter::kRespawns), 1);
  EXPECT_TRUE(h.of(Kind::kWorkerDown).empty());
  h.tick(began + 1310);
  ASSERT_EQ(h.forks.size(), 1u);
  EXPECT_EQ(h.forks[0].slot, w0);
  EXPECT_EQ(h.phase(w0), "starting");
  h.tick(began + 1500);
  EXPECT_EQ(h.signalsOf(SIGKILL), 0) << "the new process's board was reset";
}

TEST(Supervisor, NoRequestTimeoutWhenItIsOff) {
  Harness h;  // request_timeout_ms 0
  h.bringUp();
  h.probe.request_start[h.slot(h.workers[0]).board] = kT0;
  h.tick(kLongAfter);
  h.tick(kLongAfter + 100000);
  EXPECT_EQ(h.signalsOf(SIGKILL), 0);
}

// ---------------------------------------------------------------- recycling

TEST(Supervisor, AWorkerAskingToBeRecycledIsReplacedAloneStandbyFirst) {
  Harness h;
  h.bringUp();
  const size_t w0 = h.workers[0];
  const pid_t old = h.pid(w0);
  int64_t t = kLongAfter;
  h.probe.recycle[2] = true;
  h.tick(t);
  ASSERT_EQ(h.of(Kind::kClearRecycle).size(), 1u) << h.dump();
  EXPECT_EQ(h.of(Kind::kClearRecycle)[0].board, 2u);
  EXPECT_TRUE(h.sup.reloading());
  EXPECT_TRUE(h.states().empty()) << "the server is not reloading";
  h.tick(t += 10);
  ASSERT_EQ(h.forks.size(), 1u) << h.dump();
  EXPECT_EQ(h.forks[0].slot, w0);
  EXPECT_TRUE(h.forks[0].standby);
  EXPECT_EQ(h.forks[0].board, 3u);
  h.completeReplacement(w0, &t);
  EXPECT_NE(h.pid(w0), old);
  h.clear();
  h.tick(t += 10);
  EXPECT_FALSE(h.sup.reloading());
  EXPECT_EQ(h.counted(Counter::kRecycles), 1) << h.dump();
  EXPECT_EQ(h.counted(Counter::kReloads), 0);
  EXPECT_EQ(h.states(), std::vector<ServerState>{ServerState::kRunning});
  h.tick(t += 200);
  h.tick(t += 200);
  EXPECT_TRUE(h.forks.empty()) << "worker 1 is not replaced; worker 0 not again" << h.dump();
}

TEST(Supervisor, AWorkerAskingToBeRecycledDuringAnotherRecyclingIsRecycledAfterIt) {
  Harness h;
  h.bringUp();
  const size_t w0 = h.workers[0], w1 = h.workers[1];
  const int64_t t0 = kLongAfter;
  h.probe.recycle[h.slot(w0).board] = true;
  h.tick(t0);
  ASSERT_GT(h.slot(w0).standby_pid, 0);
  const size_t w1_board = h.slot(w1).board;
  h.probe.recycle[w1_board] = true;
  h.tick(t0 + 100);  // a heartbeat during the recycling: the flag stays for later
  ASSERT_EQ(h.of(Kind::kClearRecycle).size(), 1u) << h.dump();
  EXPECT_TRUE(h.probe.recycleAsked(w1_board));
  EXPECT_EQ(h.slot(w1).standby_pid, 0);
  int64_t t = t0 + 100;
  h.completeReplacement(w0, &t);
  h.tick(t += 10);
  EXPECT_FALSE(h.sup.reloading());
  EXPECT_EQ(h.counted(Counter::kRecycles), 1);
  h.clear();
  h.tick(t0 + 200);  // the next heartbeat
  ASSERT_EQ(h.of(Kind::kClearRecycle).size(), 1u) << h.dump();
  EXPECT_EQ(h.of(Kind::kClearRecycle)[0].board, w1_board);
  ASSERT_EQ(h.forks.size(), 1u);
  EXPECT_EQ(h.forks[0].slot, w1);
  EXPECT_TRUE(h.forks[0].standby);
}

TEST(Supervisor, AWorkerOverMaxRssIsRecycled) {
  SupervisorSettings s = Settings();
  s.max_rss_mb = 100;
  Harness h(s);
  h.bringUp();  // its tick checked rss (none known) at kT0 + 10
  const size_t w1 = h.workers[1];
  h.probe.rss[h.pid(h.workers[0])] = 100;  // at the limit: fine
  h.probe.rss[h.pid(w1)] = 150;
  h.tick(kT0 + 500);  // rss is read once a second
  EXPECT_FALSE(h.sup.reloading());
  h.tick(kT0 + 1010);
  EXPECT_TRUE(h.sup.reloading()) << h.dump();
  ASSERT_EQ(h.of(Kind::kClearRecycle).size(), 1u);
  EXPECT_EQ(h.of(Kind::kClearRecycle)[0].board, h.slot(w1).board);
  EXPECT_TRUE(h.logged("150 MiB"));
  int64_t t = kT0 + 1010;
  h.tick(t += 10);
  ASSERT_EQ(h.forks.size(), 1u);
  EXPECT_EQ(h.forks[0].slot, w1);
  EXPECT_TRUE(h.forks[0].standby);
  h.completeReplacement(w1, &t);
  h.clear();
  h.tick(t += 10);
  EXPECT_EQ(h.counted(Counter::kRecycles), 1);
  EXPECT_FALSE(h.sup.reloading());
}

}  // namespace
}  // namespace solar
