// The supervisor's table, forks, exits and readiness. The stop is in
// supervisor_stop.cc; reloads, limits and scaling in supervisor_reload.cc.
#include "master/supervisor.h"

#include <sys/wait.h>

#include <csignal>
#include <cstring>
#include <utility>

#include "app/child_context.h"

namespace solar {

namespace {

// A worker that failed its own start-up (module load, onStart: it exits
// kExitRespawn, or crashes) did not become idle: it will most likely fail the
// same way after its back-off. One killed from outside while starting (an
// operator's KILL, the OOM killer) says nothing of the next start.
bool FailedItsStart(int status) {
  const bool from_outside =
      WIFSIGNALED(status) && (WTERMSIG(status) == SIGKILL || WTERMSIG(status) == SIGTERM || WTERMSIG(status) == SIGINT);
  return (WIFEXITED(status) && WEXITSTATUS(status) == kExitRespawn) || (WIFSIGNALED(status) && !from_outside);
}

}  // namespace

std::string DescribeExit(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    std::string s = std::string("killed by signal ") + strsignal(WTERMSIG(status));
    if (WCOREDUMP(status)) s += " (core dumped)";
    return s;
  }
  return "status " + std::to_string(status);
}

const char* PhaseName(Phase p) {
  switch (p) {
    case Phase::kOff: return "off";
    case Phase::kBackingOff: return "backing-off";
    case Phase::kStarting: return "starting";
    case Phase::kServing: return "serving";
    case Phase::kRetiring: return "retiring";
    case Phase::kKilled: return "killed";
  }
  return "?";
}

Supervisor::Supervisor(SupervisorSettings settings, const SlotProbe* probe)
    : settings_(settings), probe_(probe),
      respawn_(settings.min_healthy_life_ms, settings.respawn_backoff_max_ms) {}

size_t Supervisor::addSlot(Role role, int index, size_t board, size_t alt_board, bool wanted) {
  Slot s;
  s.role = role;
  s.index = index;
  s.board = board;
  s.alt_board = alt_board;
  s.wanted = wanted;
  slots_.push_back(s);
  return slots_.size() - 1;
}

std::vector<Action> Supervisor::takeActions() { return std::exchange(out_, {}); }

std::string Supervisor::nameOf(const Slot& s) {
  return std::string(RoleName(s.role)) + " " + std::to_string(s.index);
}

bool Supervisor::isCurrent(const Slot& s) const {
  return reload_.active && reload_.current >= 0 && &slots_[reload_.current] == &s;
}

void Supervisor::signal(pid_t pid, int sig) {
  Action a{Action::Kind::kSignal};
  a.pid = pid;
  a.sig = sig;
  emit(std::move(a));
}

void Supervisor::log(int severity, std::string text) {
  Action a{Action::Kind::kLog};
  a.severity = severity;
  a.text = std::move(text);
  emit(std::move(a));
}

void Supervisor::count(Action::Counter c) {
  Action a{Action::Kind::kCount};
  a.counter = c;
  emit(std::move(a));
}

void Supervisor::serverState(ServerState st) {
  Action a{Action::Kind::kServerState};
  a.state = st;
  emit(std::move(a));
}

// listener < 0: every listener, and the slot is marked down.
void Supervisor::tellDown(Slot& s, int listener) {
  if (listener < 0) s.down = true;
  Action a{Action::Kind::kWorkerDown};
  a.slot = static_cast<size_t>(&s - slots_.data());
  a.listener = listener;
  emit(std::move(a));
}

size_t Supervisor::alive() const {
  size_t n = 0;
  for (const Slot& s : slots_) n += (s.pid > 0) + (s.standby_pid > 0);
  return n;
}

size_t Supervisor::aliveListeners() const {
  size_t n = 0;
  for (const Slot& s : slots_) {
    n += (s.role == Role::kListener || s.role == Role::kUdpListener) && s.pid > 0;
  }
  return n;
}

// ---- forks ----

void Supervisor::start(int64_t now) {
  for (Slot& s : slots_) {
    if (s.wanted) fork(s, /*standby=*/false);
  }
}

void Supervisor::fork(Slot& s, bool standby) {
  const size_t i = static_cast<size_t>(&s - slots_.data());
  if (!standby && s.role == Role::kWorker && s.down) {
    Action drop{Action::Kind::kDropQueued};
    drop.slot = i;
    emit(std::move(drop));
  }
  ++s.spawns;
  if (!standby) {
    s.phase = Phase::kStarting;
    s.respawn_at_ms = -1;
  }
  Action a{Action::Kind::kFork};
  a.slot = i;
  a.standby = standby;
  a.board = standby ? s.alt_board : s.board;
  a.role = s.role;
  a.epoch = s.spawns;
  emit(std::move(a));
}

void Supervisor::forked(size_t i, bool standby, pid_t pid, int64_t now) {
  Slot& s = slots_[i];
  if (standby) {
    s.standby_pid = pid;
    return;
  }
  s.pid = pid;
  s.started_ms = now;
  if (s.role == Role::kListener) {  // a new listener knows nothing yet of workers that cannot start
    for (Slot& w : slots_) {
      if (w.role == Role::kWorker && w.down) tellDown(w, s.index);
    }
  }
}

void Supervisor::forkFailed(size_t i, bool standby, int64_t now) {
  Slot& s = slots_[i];
  if (standby) {
    if (isCurrent(s)) reloadFailed("fork() of the replacement for " + nameOf(s) + " failed", now);
    return;
  }
  log(1, nameOf(s) + ": the fork is retried in 1 s");
  s.phase = Phase::kBackingOff;
  s.respawn_at_ms = now + kForkRetryMs;
}

// ---- exits ----

bool Supervisor::exited(pid_t pid, int status, int64_t now) {
  for (Slot& s : slots_) {
    if (s.standby_pid == pid) {
      exitedStandby(s, status);
      if (isCurrent(s)) {
        reloadFailed("the replacement for " + nameOf(s) + " " + DescribeExit(status) + " before it was ready", now);
      }
      return true;
    }
    if (s.pid == pid) {
      exitedMain(s, status, now);
      return true;
    }
  }
  return false;
}

// The dead process's scoreboard slot is cleared; a TCP worker's held list
// goes to the listeners first.
void Supervisor::clearAfterExit(Slot& s) {
  Action clear{Action::Kind::kClearBoard};
  clear.board = s.board;
  clear.role = s.role;
  emit(std::move(clear));
  if (s.role == Role::kWorker) {
    Action lost{Action::Kind::kWorkerLost};
    lost.slot = static_cast<size_t>(&s - slots_.data());
    lost.board = s.board;
    emit(std::move(lost));
  }
}

void Supervisor::exitedStandby(Slot& s, int status) {
  s.standby_pid = 0;
  Action a{Action::Kind::kClearBoard};
  a.board = s.alt_board;
  a.role = s.role;
  emit(std::move(a));
}

void Supervisor::exitedMain(Slot& s, int status, int64_t now) {
  const std::string who = nameOf(s) + " (pid " + std::to_string(s.pid) + ")";
  const bool never_ready = probe_->boardState(s.board) == SlotState::kStarting && FailedItsStart(status);
  const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == kExitOk;
  const bool let_go = s.phase == Phase::kRetiring || s.phase == Phase::kKilled;
  const Phase was = s.phase;
  s.pid = 0;
  s.phase = Phase::kOff;
  clearAfterExit(s);
  const bool replacing = isCurrent(s);
  if (s.standby_pid > 0 && (replacing || let_go)) {
    // Retired for a reload (or died while its replacement was starting): the
    // replacement takes the slot, now or as soon as it is ready — also during
    // a stop, so that the slot's queued requests are still served.
    if (!clean || !let_go) log(1, who + " " + DescribeExit(status) + " while being replaced");
    if (let_go || !replacing) promote(s, now);
    return;
  }
  if (stage_ == Stage::kStoppingListeners && IsWorkerRole(s.role) && s.wanted) {
    // The listeners still hold connections whose requests go to this slot.
    log(clean ? 0 : 1, who + " " + (clean ? std::string("exited") : DescribeExit(status)) +
                           " during stop; respawning it for the drain");
    respawnLater(s, never_ready, now);
    return;
  }
  if (stage_ != Stage::kRunning) {
    if (!clean) log(1, who + " " + DescribeExit(status) + " during stop");
    return;
  }
  if (!s.wanted && was == Phase::kRetiring && clean) {  // scaled down: the slot goes quiet
    log(0, who + " retired (worker count lowered)");
    return;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == kExitFatal) {
    log(2, who + " cannot run safely (" + DescribeExit(status) + "); stopping the server");
    exit_code_ = 1;
    beginStop("a child failed fatally", now);
    return;
  }
  // Also a scaled-down worker that died before it retired: its connections
  // still send requests to the slot; it retires again once they are gone.
  count(Action::Counter::kRespawns);
  respawnLater(s, never_ready, now);
  const int64_t delay = s.respawn_at_ms - now;
  log(1, who + " " + DescribeExit(status) + "; respawning in the same slot" +
             (delay > 0 ? " in " + std::to_string(delay) + " ms (it keeps dying at start)" : ""));
}

// A worker marked down is not tried again before the listeners have surely
// read the notice (they answer it within a loop pass): what they sent before
// it is then all in the socketpair, which kDropQueued empties.
void Supervisor::respawnLater(Slot& s, bool never_ready, int64_t now) {
  if (s.role == Role::kWorker && never_ready && !s.down) tellDown(s, -1);
  int64_t delay = respawn_.onExit(s.started_ms, now, &s.fast_failures);
  if (s.role == Role::kWorker && s.down) delay = std::max(delay, kDownRespawnMinMs);
  s.phase = Phase::kBackingOff;
  s.respawn_at_ms = now + delay;
}

void Supervisor::respawnDue(int64_t now) {
  // While the listeners drain, worker slots must stay served (their
  // connections still send requests); after that, nothing respawns.
  if (stage_ != Stage::kRunning && stage_ != Stage::kStoppingListeners) return;
  for (Slot& s : slots_) {
    if (stage_ != Stage::kRunning && !IsWorkerRole(s.role)) continue;
    if (s.phase == Phase::kBackingOff && s.standby_pid == 0 && s.respawn_at_ms <= now) fork(s, false);
  }
}

// ---- readiness ----

void Supervisor::observe() {
  for (Slot& s : slots_) {
    if (s.pid <= 0) continue;
    const SlotState st = probe_->boardState(s.board);
    if (s.phase == Phase::kStarting && (st == SlotState::kIdle || st == SlotState::kBusy)) s.phase = Phase::kServing;
    // A worker that could not start serves again once it got past start-up.
    if (s.role == Role::kWorker && s.down && st != SlotState::kStarting) {
      s.down = false;
      Action up{Action::Kind::kWorkerUp};
      up.slot = static_cast<size_t>(&s - slots_.data());
      emit(std::move(up));
    }
  }
}

void Supervisor::checkReady() {
  if (ready_ || stage_ != Stage::kRunning) return;
  for (const Slot& s : slots_) {
    if (!s.wanted) continue;
    if (s.pid <= 0 || s.phase != Phase::kServing) return;
  }
  ready_ = true;
  serverState(ServerState::kRunning);
  emit(Action{Action::Kind::kReady});
}

void Supervisor::tick(int64_t now) {
  respawnDue(now);
  observe();
  checkReady();
  if (stage_ == Stage::kRunning) {
    heartbeat(now);
    if (reload_.active) stepReload(now);
  } else {
    advanceStop(now);
  }
}

int64_t Supervisor::nextDueMs(int64_t now) const {
  int64_t next = now + kHeartbeatMs;
  if (!ready_ || reload_.active) next = now + 20;
  if (stage_ != Stage::kRunning && stage_ != Stage::kDone) next = std::min(next, now + 50);
  for (const Slot& s : slots_) {
    if (s.phase == Phase::kBackingOff) next = std::min(next, s.respawn_at_ms);
  }
  return std::max(next, now);
}

}  // namespace solar
