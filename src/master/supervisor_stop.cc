// The supervisor's graceful stop: listeners first (they write every reply),
// worker slots served until they are gone, then workers and the admin, and
// SIGKILL for whatever outlives graceful_timeout_ms.
#include <csignal>
#include <utility>

#include "master/supervisor.h"

namespace solar {

void Supervisor::stop(const std::string& why, int64_t now) {
  if (stage_ == Stage::kRunning) {
    beginStop(why, now);
  } else if (stage_ != Stage::kDone) {
    log(1, "second stop signal during the drain: killing all children now");
    killAll(SIGKILL);
  }
}

void Supervisor::beginStop(const std::string& why, int64_t now) {
  if (stage_ != Stage::kRunning) return;
  log(0, "stopping (" + why + "): no new connections; finishing requests in flight");
  Action notify{Action::Kind::kNotify};
  notify.text = "STOPPING=1";
  emit(std::move(notify));
  stage_ = Stage::kStoppingListeners;
  serverState(ServerState::kStopping);
  emit(Action{Action::Kind::kStopBegan});
  stop_deadline_ms_ = now + settings_.graceful_timeout_ms;
  reload_ = Reload();
  pending_reload_.clear();
  pending_notify_ = false;
  for (Slot& s : slots_) {
    // Worker slots stay served until the listeners are gone: a pending
    // respawn still happens, and a replacement whose predecessor is already
    // retiring still takes over (exitedMain promotes it).
    if (!IsWorkerRole(s.role) && s.phase == Phase::kBackingOff) s.phase = Phase::kOff;
    const bool let_go = s.phase == Phase::kRetiring || s.phase == Phase::kKilled;
    if (s.standby_pid > 0 && !let_go) signal(s.standby_pid, SIGTERM);
    // The admin endpoint stays up while the listeners drain: /health says
    // "503 stopping" to the load balancer rather than refusing the check.
    if ((s.role == Role::kListener || s.role == Role::kUdpListener) && s.pid > 0) signal(s.pid, SIGTERM);
  }
}

void Supervisor::advanceStop(int64_t now) {
  if (stage_ == Stage::kStoppingListeners && aliveListeners() == 0) {
    // Listeners are gone only once every reply was written: workers can go.
    // UDP workers first drain what the UDP listener queued.
    stage_ = Stage::kStoppingWorkers;
    for (Slot& s : slots_) {
      if (s.phase == Phase::kBackingOff) s.phase = Phase::kOff;
      if ((IsWorkerRole(s.role) || s.role == Role::kAdmin) && s.pid > 0) signal(s.pid, SIGTERM);
    }
    last_term_ms_ = now;
  }
  if (stage_ == Stage::kStoppingWorkers && now - last_term_ms_ >= kRepeatSignalMs) {
    // Repeated: a TERM that lands just before a UDP worker enters msgrcv() is
    // not seen until the next message, and a worker promoted during the stop
    // gets its TERM once it has left standby (a standby told to stop would
    // exit without serving its slot).
    for (const Slot& s : slots_) {
      if (!IsWorkerRole(s.role) || s.pid <= 0) continue;
      if (probe_->boardState(s.board) == SlotState::kStandby) continue;
      signal(s.pid, SIGTERM);
    }
    last_term_ms_ = now;
  }
  if (stage_ == Stage::kStoppingWorkers && alive() == 0) stage_ = Stage::kDone;
  if (stage_ != Stage::kDone && now >= stop_deadline_ms_) {
    log(1, "graceful_timeout_ms (" + std::to_string(settings_.graceful_timeout_ms) + ") passed; killing " +
               std::to_string(alive()) + " child(ren)");
    killAll(SIGKILL);
    stop_deadline_ms_ = now + 1000000;
  }
}

void Supervisor::killAll(int sig) {
  for (const Slot& s : slots_) {
    if (s.pid > 0) signal(s.pid, sig);
    if (s.standby_pid > 0) signal(s.standby_pid, sig);
  }
}

}  // namespace solar
