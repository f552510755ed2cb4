// The master's process control as one state machine with no syscalls
// (PHP-FPM's fpm_pctl, nginx's ngx_processes[]): a table of child slots, each
// in one explicit Phase, and the rules that move them. Events come in (a
// child exited, a fork's result, a tick, a stop or reload request, a changed
// configuration); actions go out (fork this slot, signal that pid, tell the
// listeners, update the scoreboard header, log). The Master carries the
// actions out and feeds the results back; tests drive the machine alone.
//
// Precedence, highest first (the README's design section draws the diagram):
//   1. stopping: nothing overrides it; reloads, HUPs and recycling are
//      dropped, worker slots stay served until the listeners are gone.
//   2. a rolling reload (USR1, HUP, module change): one slot at a time, the
//      replacement (standby) ready before the old process retires; a
//      duplicate is ignored; one asked for during a recycling runs after it.
//   3. recycling (max_requests, max_rss_mb): a reload of one slot, only when
//      no reload runs.
//   4. request_timeout (kill) and scale-down (retire when its load is 0).
//   5. respawn, with back-off for a slot that keeps dying at start.
//
// Runs in: master.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "master/respawn_policy.h"
#include "scoreboard/scoreboard.h"

namespace solar {

// What the supervisor reads of the running processes (the scoreboard and
// /proc, in the master); a fake in tests. Indices are scoreboard slots.
class SlotProbe {
 public:
  virtual ~SlotProbe() = default;
  virtual SlotState boardState(size_t board) const = 0;
  // CLOCK_MONOTONIC ms at which the request in process() began; 0 when idle.
  virtual int64_t requestStartMs(size_t board) const = 0;
  virtual bool recycleAsked(size_t board) const = 0;  // the worker reached max_requests
  virtual int64_t rssMb(pid_t pid) const = 0;          // -1 when unknown
  // Connections and PER_REQUEST requests the listeners still hold on TCP
  // worker `index` (scale-down retires it at 0).
  virtual uint64_t workerLoad(int index) const = 0;
  // For the request_timeout log line: the client and request a worker is in.
  virtual std::string describeRequest(size_t board) const = 0;
};

// The settings process control uses; HUP may change them.
struct SupervisorSettings {
  int64_t graceful_timeout_ms = 30000;
  int64_t reload_start_timeout_ms = 30000;
  int64_t request_timeout_ms = 0;  // 0: off
  int64_t max_rss_mb = 0;          // 0: off
  int64_t respawn_backoff_max_ms = 30000;
  int64_t min_healthy_life_ms = 1000;  // dying sooner counts toward back-off
  uint32_t workers = 0;                // TCP worker slots wanted
  uint32_t udp_workers = 0;            // UDP worker slots wanted
};

// One slot's process. A slot keeps its index, socketpair and two scoreboard
// slots across respawns; a reload's replacement (the standby) starts in the
// second one beside the running process.
enum class Phase : uint8_t {
  kOff,         // no process and none wanted (above the configured count, or stopped)
  kBackingOff,  // no process; forked again at respawn_at_ms
  kStarting,    // forked; not yet serving (module load, onStart)
  kServing,     // idle or busy
  kRetiring,    // told to let go (USR1: a reload's standby is ready, or scale-down); its exit is expected
  kKilled,      // SIGKILLed for request_timeout; respawned when reaped
};
const char* PhaseName(Phase p);
inline bool IsWorkerRole(Role r) { return r == Role::kWorker || r == Role::kUdpWorker; }

// "exited with code 1", "killed by signal Killed (core dumped)": a waitpid() status for logs.
std::string DescribeExit(int status);

struct Slot {
  Role role = Role::kNone;
  int index = 0;         // listener or worker number
  size_t board = 0;      // scoreboard slot of the running process
  size_t alt_board = 0;  // worker roles: the slot a standby starts in
  bool wanted = true;    // within the configured count
  Phase phase = Phase::kOff;
  pid_t pid = 0;          // 0 when none
  pid_t standby_pid = 0;  // a reload's replacement, not yet serving the slot
  bool down = false;      // TCP worker: could not start; the listeners were told
  uint32_t spawns = 0;    // forks so far (the child's epoch)
  int64_t started_ms = 0;
  int64_t respawn_at_ms = -1;  // kBackingOff: when
  int fast_failures = 0;
};

struct Action {
  enum class Kind : uint8_t {
    kFork,         // slot, standby, board (reset it first), epoch; answer forked() / forkFailed()
    kSignal,       // pid, sig
    kWorkerDown,   // slot; listener (-1: all of them, and log it)
    kWorkerUp,     // slot: serves again (all listeners)
    kWorkerLost,   // slot, board: tell the listeners what the dead worker held
    kDropQueued,   // slot: drop what waits in a down worker's socketpair before it is tried again
    kClearBoard,   // board, role (a listener's per-worker gauges are zeroed too)
    kClearRecycle, // board
    kServerState,  // state
    kCount,        // counter: one of the header's process-control counters
    kNotify,       // text: systemd state ("READY=1", "STOPPING=1")
    kStopBegan,    // close the listening sockets, raise draining, end a HUP check
    kReady,        // every wanted slot serves: announce it
    kLog,          // severity, text
  };
  enum class Counter : uint8_t { kRespawns, kTimeouts, kReloads, kReloadFailures, kRecycles };
  explicit Action(Kind k) : kind(k) {}
  Kind kind;
  size_t slot = 0;
  bool standby = false;
  size_t board = 0;
  uint32_t epoch = 0;
  pid_t pid = 0;
  int sig = 0;
  int listener = -1;
  Role role = Role::kNone;
  ServerState state = ServerState::kStarting;
  Counter counter = Counter::kRespawns;
  int severity = 0;  // glog's: 0 INFO, 1 WARNING, 2 ERROR
  std::string text;
};

class Supervisor {
 public:
  enum class Stage : uint8_t { kRunning, kStoppingListeners, kStoppingWorkers, kDone };

  Supervisor(SupervisorSettings settings, const SlotProbe* probe);

  // The table, built before start(): listeners, worker slots (max_workers of
  // them, the first `workers` wanted), the UDP listener and UDP worker slots,
  // the admin process. Returns the slot's index.
  size_t addSlot(Role role, int index, size_t board, size_t alt_board, bool wanted);

  // ---- events ----
  void start(int64_t now);  // forks every wanted slot
  void forked(size_t slot, bool standby, pid_t pid, int64_t now);
  void forkFailed(size_t slot, bool standby, int64_t now);
  // A child was reaped (status as waitpid() gives it). False: not ours.
  bool exited(pid_t pid, int status, int64_t now);
  void tick(int64_t now);  // respawns due, readiness, limits, reload steps, stop steps
  // TERM/INT/QUIT; a second one during the stop kills every child.
  void stop(const std::string& why, int64_t now);
  // USR1, a changed module: a rolling reload of every worker.
  void reload(const std::string& reason, int64_t now);
  // HUP, after the new configuration passed its check: new limits and counts
  // apply, then every worker is replaced; READY=1 once that is done.
  void configChanged(const SupervisorSettings& settings, int64_t now);

  // ---- what the master reads ----
  std::vector<Action> takeActions();
  Stage stage() const { return stage_; }
  bool running() const { return stage_ == Stage::kRunning; }
  bool done() const { return stage_ == Stage::kDone; }
  bool ready() const { return ready_; }
  bool reloading() const { return reload_.active; }
  int exitCode() const { return exit_code_; }
  const std::vector<Slot>& slots() const { return slots_; }
  const SupervisorSettings& settings() const { return settings_; }
  // When tick() next has work (ms, monotonic).
  int64_t nextDueMs(int64_t now) const;
  size_t alive() const;  // processes, standbys included

  static constexpr int64_t kHeartbeatMs = 100;
  static constexpr int64_t kDownRespawnMinMs = 100;
  static constexpr int64_t kRepeatSignalMs = 100;
  static constexpr int64_t kForkRetryMs = 1000;

 private:
  struct Reload {
    bool active = false;
    std::string reason;
    std::deque<size_t> queue;  // slots still to replace
    int current = -1;          // slot being replaced
    enum class Step { kNext, kStarting, kRetiring } step = Step::kNext;
    int64_t deadline_ms = 0;
    int64_t last_signal_ms = 0;
    int64_t started_ms = 0;
    size_t replaced = 0;
    bool notify_ready = false;  // a HUP: READY=1 when done
    bool one_slot = false;      // recycling one slot, not a full reload
  };

  // supervisor.cc: the table, forks, exits, readiness.
  void fork(Slot& s, bool standby);
  void clearAfterExit(Slot& s);
  void exitedStandby(Slot& s, int status);
  void exitedMain(Slot& s, int status, int64_t now);
  void respawnLater(Slot& s, bool never_ready, int64_t now);
  void respawnDue(int64_t now);
  void observe();
  void checkReady();
  // supervisor_stop.cc
  void beginStop(const std::string& why, int64_t now);
  void advanceStop(int64_t now);
  void killAll(int sig);
  size_t aliveListeners() const;
  bool isCurrent(const Slot& s) const;

  // supervisor_reload.cc: reloads, recycling, limits, scaling.
  void startReload(const std::string& reason, int one_slot, int64_t now);
  void stepReload(int64_t now);
  void startReplacement(int64_t now);
  void promote(Slot& s, int64_t now);
  void reloadFailed(const std::string& why, int64_t now);
  void finishReload(int64_t now);
  void startPendingReload(bool notify, int64_t now);
  void heartbeat(int64_t now);
  bool killIfStuck(Slot& s, int64_t now);
  void applyCounts();

  // Action helpers.
  void emit(Action a) { out_.push_back(std::move(a)); }
  void signal(pid_t pid, int sig);
  void log(int severity, std::string text);
  void count(Action::Counter c);
  void serverState(ServerState st);
  void tellDown(Slot& s, int listener);
  static std::string nameOf(const Slot& s);

  SupervisorSettings settings_;
  const SlotProbe* probe_;
  RespawnPolicy respawn_;
  std::vector<Slot> slots_;
  std::vector<Action> out_;
  Stage stage_ = Stage::kRunning;
  bool ready_ = false;
  int exit_code_ = 0;
  int64_t stop_deadline_ms_ = 0;
  int64_t last_term_ms_ = 0;
  int64_t last_heartbeat_ms_ = -kHeartbeatMs;
  int64_t last_rss_check_ms_ = -1000;
  Reload reload_;
  std::string pending_reload_;  // a full reload asked for during a recycling
  bool pending_notify_ = false;
};

}  // namespace solar
