// The supervisor's rolling reload (USR1, HUP, a changed module, recycling),
// the limits it enforces every heartbeat (request_timeout_ms, max_requests,
// max_rss_mb) and scaling (HUP's new worker counts).
#include <csignal>
#include <utility>

#include "master/supervisor.h"

namespace solar {

// ---- requests from outside ----

void Supervisor::reload(const std::string& reason, int64_t now) {
  if (stage_ == Stage::kRunning) startReload(reason, -1, now);
}

void Supervisor::configChanged(const SupervisorSettings& settings, int64_t now) {
  if (stage_ != Stage::kRunning) return;  // nothing overrides a stop
  settings_ = settings;
  respawn_.setMax(settings_.respawn_backoff_max_ms);
  applyCounts();
  if (reload_.active && reload_.one_slot) {
    pending_notify_ = true;
    startReload("HUP", -1, now);  // queued behind the recycling
  } else if (reload_.active) {
    log(0, "HUP: a reload is in progress; the new settings apply to the workers it has yet to replace");
    reload_.notify_ready = true;
  } else {
    startReload("HUP", -1, now);
    reload_.notify_ready = true;
  }
}

// Grows or shrinks the worker slots in use to the configured counts.
void Supervisor::applyCounts() {
  for (Slot& s : slots_) {
    if (!IsWorkerRole(s.role)) continue;
    const uint32_t want = s.role == Role::kWorker ? settings_.workers : settings_.udp_workers;
    const bool keep = static_cast<uint32_t>(s.index) < want;
    if (keep && !s.wanted) {
      s.wanted = true;
      if (s.phase == Phase::kOff) fork(s, false);
      log(0, "HUP: " + nameOf(s) + " added");
    } else if (!keep && s.wanted) {
      // New connections stop going there at once; the worker keeps serving its
      // open connections and is retired when the last one closes (heartbeat).
      s.wanted = false;
      if (s.pid <= 0) {
        s.phase = Phase::kOff;
        s.respawn_at_ms = -1;
      }
      log(0, "HUP: " + nameOf(s) + " will retire");
    }
  }
}

// ---- rolling reload ----

// Replaces every running worker (or just `one_slot`), one at a time: the
// replacement is forked and initialised first; only then does the old one let
// go of the slot (PHP-FPM and nginx start the new before retiring the old).
void Supervisor::startReload(const std::string& reason, int one_slot, int64_t now) {
  if (reload_.active) {
    // A duplicate full reload is ignored (PHP-FPM: a duplicate signal is), but
    // a full reload asked for during one slot's recycling must not be lost.
    if (one_slot < 0 && reload_.one_slot) {
      pending_reload_ = reason;
      log(0, "reload (" + reason + ") will follow the recycling in progress");
    } else {
      log(0, "reload (" + reason + ") requested while one is in progress; ignored");
    }
    return;
  }
  reload_ = Reload();
  reload_.active = true;
  reload_.reason = reason;
  reload_.started_ms = now;
  reload_.one_slot = one_slot >= 0;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (!IsWorkerRole(s.role) || !s.wanted || s.pid <= 0) continue;
    if (one_slot >= 0 && static_cast<int>(i) != one_slot) continue;
    reload_.queue.push_back(i);
  }
  if (one_slot < 0) {
    serverState(ServerState::kReloading);
    log(0, "reload (" + reason + "): replacing " + std::to_string(reload_.queue.size()) +
               " worker(s) one at a time");
  }
}

void Supervisor::stepReload(int64_t now) {
  Reload& r = reload_;
  if (r.step == Reload::Step::kNext) {
    startReplacement(now);
    return;
  }
  Slot& s = slots_[r.current];
  if (r.step == Reload::Step::kStarting) {
    if (s.standby_pid <= 0) return;  // its fork's result is still to come
    const SlotState st = probe_->boardState(s.alt_board);
    const bool ready = s.role == Role::kWorker ? st == SlotState::kStandby
                                               : (st == SlotState::kIdle || st == SlotState::kBusy);
    if (ready) {
      if (s.pid <= 0) {  // the old one died meanwhile: hand over at once
        promote(s, now);
        return;
      }
      signal(s.pid, SIGUSR1);  // let go of the slot, finish what you hold, exit
      s.phase = Phase::kRetiring;
      r.step = Reload::Step::kRetiring;
      r.last_signal_ms = now;
      r.deadline_ms = now + settings_.graceful_timeout_ms;
      return;
    }
    if (now >= r.deadline_ms) {
      signal(s.standby_pid, SIGKILL);
      reloadFailed("the replacement for " + nameOf(s) + " was not ready within reload_start_timeout_ms (" +
                       std::to_string(settings_.reload_start_timeout_ms) + ")",
                   now);
    }
    return;
  }
  // kRetiring: promote() runs when the old process is reaped.
  if (s.role == Role::kUdpWorker && now - r.last_signal_ms >= kRepeatSignalMs && s.pid > 0) {
    signal(s.pid, SIGUSR1);  // it may be blocked in msgrcv(): repeat, as for TERM
    r.last_signal_ms = now;
  }
  if (now >= r.deadline_ms && s.pid > 0) {
    log(1, nameOf(s) + " (pid " + std::to_string(s.pid) + ") did not retire within graceful_timeout_ms; killing it");
    signal(s.pid, SIGKILL);
    r.deadline_ms = now + 1000000;
  }
}

void Supervisor::startReplacement(int64_t now) {
  Reload& r = reload_;
  // A slot whose process died meanwhile is respawned with the new code anyway.
  while (!r.queue.empty() && slots_[r.queue.front()].pid <= 0) r.queue.pop_front();
  // A standby killed by an earlier, failed reload is not reaped yet: its
  // exit must find the slot's standby_pid still its own.
  if (!r.queue.empty() && slots_[r.queue.front()].standby_pid > 0) return;
  if (r.queue.empty()) {
    finishReload(now);
    return;
  }
  r.current = static_cast<int>(r.queue.front());
  r.queue.pop_front();
  // A TCP replacement waits (standby) until the old worker has let go of the
  // socketpair, so one connection's requests are never read by two
  // processes. UDP workers share the queue: the replacement may start at once.
  fork(slots_[r.current], /*standby=*/true);
  r.step = Reload::Step::kStarting;
  r.deadline_ms = now + settings_.reload_start_timeout_ms;
}

// The old process is gone: the replacement takes the slot (and its
// socketpair), keeping the same slot index and endpoints.
void Supervisor::promote(Slot& s, int64_t now) {
  const bool current = isCurrent(s);
  std::swap(s.board, s.alt_board);
  s.pid = s.standby_pid;
  s.standby_pid = 0;
  s.started_ms = now;
  s.fast_failures = 0;
  s.phase = Phase::kStarting;  // serving once it left standby
  if (s.role == Role::kWorker) signal(s.pid, SIGUSR2);  // start reading the slot's socketpair
  if (!current) return;
  ++reload_.replaced;
  reload_.step = Reload::Step::kNext;
  reload_.current = -1;
}

void Supervisor::reloadFailed(const std::string& why, int64_t now) {
  log(2, "reload (" + reload_.reason + ") stopped: " + why + "; the old workers keep serving");
  count(Action::Counter::kReloadFailures);
  if (reload_.current >= 0) {
    Slot& s = slots_[reload_.current];
    // Nobody serves it now: respawned if wanted, or if scaled down while
    // listeners still send it requests (it retires once they are gone).
    const bool still_used = s.role == Role::kWorker && probe_->workerLoad(s.index) > 0;
    if (s.pid <= 0 && (s.wanted || still_used)) {
      s.phase = Phase::kBackingOff;
      s.respawn_at_ms = now;
    }
  }
  const bool notify = reload_.notify_ready;
  reload_ = Reload();
  serverState(ServerState::kRunning);
  startPendingReload(notify, now);
}

void Supervisor::finishReload(int64_t now) {
  if (reload_.one_slot) {
    count(Action::Counter::kRecycles);
  } else {
    count(Action::Counter::kReloads);
    log(0, "reload (" + reload_.reason + ") done: " + std::to_string(reload_.replaced) + " worker(s) replaced in " +
               std::to_string(now - reload_.started_ms) + " ms");
  }
  const bool notify = reload_.notify_ready;
  reload_ = Reload();
  serverState(ServerState::kRunning);
  startPendingReload(notify, now);
}

void Supervisor::startPendingReload(bool notify, int64_t now) {
  if (!pending_reload_.empty() && stage_ == Stage::kRunning) {
    startReload(std::exchange(pending_reload_, std::string()), -1, now);
    reload_.notify_ready = notify || pending_notify_;
    pending_notify_ = false;
    return;
  }
  if (notify || pending_notify_) {
    Action a{Action::Kind::kNotify};
    a.text = "READY=1";
    emit(std::move(a));
  }
  pending_notify_ = false;
}

// ---- limits, recycling and scale-down (every kHeartbeatMs) ----

void Supervisor::heartbeat(int64_t now) {
  if (now - last_heartbeat_ms_ < kHeartbeatMs) return;
  last_heartbeat_ms_ = now;
  const bool check_rss = settings_.max_rss_mb > 0 && now - last_rss_check_ms_ >= 1000;
  if (check_rss) last_rss_check_ms_ = now;
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    if (!IsWorkerRole(s.role) || s.pid <= 0) continue;
    if (killIfStuck(s, now)) continue;
    // Scale-down: retire a removed worker once no listener has a connection
    // on it (PER_REQUEST: a request sent to it). A UDP worker retires at once
    // (the others share the queue); its USR1 is repeated, as it may be
    // blocked in msgrcv().
    if (!s.wanted) {
      if (s.phase == Phase::kRetiring && s.role == Role::kUdpWorker) signal(s.pid, SIGUSR1);
      if (s.phase == Phase::kRetiring || s.phase == Phase::kKilled) continue;
      if (s.role == Role::kUdpWorker || probe_->workerLoad(s.index) == 0) {
        signal(s.pid, SIGUSR1);
        s.phase = Phase::kRetiring;
      }
      continue;
    }
    if (reload_.active) continue;
    // max_requests (the worker raised its flag) and max_rss_mb: replace it,
    // replacement first, so no request waits (seed 002: recycle leaky workers).
    bool recycle = probe_->recycleAsked(s.board);
    if (!recycle && check_rss) {
      const int64_t rss = probe_->rssMb(s.pid);
      if (rss > settings_.max_rss_mb) {
        log(1, nameOf(s) + " (pid " + std::to_string(s.pid) + ") uses " + std::to_string(rss) +
                   " MiB (max_rss_mb " + std::to_string(settings_.max_rss_mb) + "); replacing it");
        recycle = true;
      }
    }
    if (recycle) {
      Action clear{Action::Kind::kClearRecycle};
      clear.board = s.board;
      emit(std::move(clear));
      startReload("recycle " + nameOf(s), static_cast<int>(i), now);
    }
  }
}

// request_timeout_ms: a worker stuck in one request is killed (once); its
// client's connection is closed through the held list, and the slot
// respawns. True if it was killed.
bool Supervisor::killIfStuck(Slot& s, int64_t now) {
  const int64_t started = probe_->requestStartMs(s.board);
  if (settings_.request_timeout_ms <= 0 || started <= 0 || now - started <= settings_.request_timeout_ms) return false;
  if (s.phase != Phase::kStarting && s.phase != Phase::kServing) return false;
  log(2, nameOf(s) + " (pid " + std::to_string(s.pid) + ") has spent " + std::to_string(now - started) +
             " ms in one request (request_timeout_ms " + std::to_string(settings_.request_timeout_ms) + ") from " +
             probe_->describeRequest(s.board) + "; killing it");
  count(Action::Counter::kTimeouts);
  signal(s.pid, SIGKILL);
  s.phase = Phase::kKilled;
  return true;
}

}  // namespace solar
