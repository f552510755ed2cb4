// Process control beyond start and stop: the rolling reload (USR1, HUP, a
// watched module, a worker asking to be recycled), HUP's re-read of the
// config, the limits the master enforces (request_timeout_ms, max_rss_mb),
// and systemd's notify protocol.
#include <signal.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <fstream>

#include <glog/logging.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>
#include <systemd/sd-daemon.h>

#include "app/module_loader.h"
#include "config/config.h"
#include "ipc/record.h"
#include "master/master_impl.h"

namespace solar {

namespace {

constexpr int64_t kUdpRetireRepeatMs = 100;
constexpr int64_t kWatchDebounceMs = 300;  // a copy lands in several writes

// The client of a worker's current request, as the worker published it.
std::string ClientOf(const CurrentRequest& r) {
  ipc::RecordHeader h{};
  h.addr_family = r.addr_family;
  h.port = r.port;
  std::memcpy(h.addr, r.addr, sizeof(h.addr));
  return ipc::GetAddress(h).toString();
}

int64_t RssMb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/statm");
  long size = 0, resident = 0;
  if (!(in >> size >> resident)) return -1;
  return resident * (sysconf(_SC_PAGESIZE) / 1024) / 1024;
}

}  // namespace

void Master::notifySystemd(const char* state) {
  // A no-op unless started by systemd with Type=notify (NOTIFY_SOCKET set).
  sd_notify(0, state);
}

// ---- rolling reload ----

// Replaces every running worker (or just `only_slot`), one at a time: the
// replacement is forked and initialised first; only then does the old one let
// go of the slot (PHP-FPM and nginx start the new before retiring the old).
void Master::startReload(const std::string& reason, int only_slot) {
  if (reload_.active) {
    // A duplicate full reload is ignored (PHP-FPM: a duplicate signal is), but
    // a full reload asked for during one slot's recycling must not be lost.
    if (only_slot < 0 && reload_.only_slot) {
      pending_reload_ = reason;
      LOG(INFO) << "reload (" << reason << ") will follow the recycling in progress";
    } else {
      LOG(INFO) << "reload (" << reason << ") requested while one is in progress; ignored";
    }
    return;
  }
  reload_ = Reload();
  reload_.active = true;
  reload_.reason = reason;
  reload_.started_ms = NowMonotonicMs();
  reload_.only_slot = only_slot >= 0;
  for (size_t i = 0; i < table_.slots().size(); ++i) {
    const ChildSlot& s = table_.slots()[i];
    if (!isWorkerRole(s.role) || !s.enabled || s.removing || s.pid <= 0) continue;
    if (only_slot >= 0 && static_cast<int>(i) != only_slot) continue;
    reload_.queue.push_back(i);
  }
  if (only_slot < 0) {
    board_->header().state.store(static_cast<uint8_t>(ServerState::kReloading));
    LOG(INFO) << "reload (" << reason << "): replacing " << reload_.queue.size() << " worker(s) one at a time";
  }
}

void Master::stepReload(int64_t now) {
  Reload& r = reload_;
  if (r.phase == Reload::Phase::kNone) {
    while (!r.queue.empty() && table_.slots()[r.queue.front()].pid <= 0) r.queue.pop_front();  // respawns use the new code anyway
    if (r.queue.empty()) {
      finishReload();
      return;
    }
    r.current = static_cast<int>(r.queue.front());
    r.queue.pop_front();
    ChildSlot& slot = table_.slots()[r.current];
    // A TCP replacement waits (standby) until the old worker has let go of the
    // socketpair, so one connection's requests are never read by two
    // processes. UDP workers share the queue: the replacement may start at once.
    spawn(slot, /*standby=*/true);
    if (slot.standby_pid <= 0) {
      reloadFailed("fork() of the replacement for " + std::string(RoleName(slot.role)) + " " +
                   std::to_string(slot.index) + " failed");
      return;
    }
    r.phase = Reload::Phase::kStarting;
    r.deadline_ms = now + config_.reload_start_timeout_ms();
    return;
  }
  ChildSlot& slot = table_.slots()[r.current];
  if (r.phase == Reload::Phase::kStarting) {
    auto st = static_cast<SlotState>(board_->slot(slot.alt_board).state.load());
    const bool ready = slot.role == Role::kWorker ? st == SlotState::kStandby
                                                  : (st == SlotState::kIdle || st == SlotState::kBusy);
    if (ready) {
      if (slot.pid <= 0) {  // the old one died meanwhile: hand over at once
        promote(slot);
        return;
      }
      SignalProcess(slot.pid, SIGUSR1);  // let go of the slot, finish what you hold, exit
      slot.retire_sent = true;
      r.phase = Reload::Phase::kRetiring;
      r.last_signal_ms = now;
      r.deadline_ms = now + config_.graceful_timeout_ms();
      return;
    }
    if (now >= r.deadline_ms) {
      if (slot.standby_pid > 0) SignalProcess(slot.standby_pid, SIGKILL);
      reloadFailed("the replacement for " + std::string(RoleName(slot.role)) + " " + std::to_string(slot.index) +
                   " was not ready within reload_start_timeout_ms (" +
                   std::to_string(config_.reload_start_timeout_ms()) + ")");
    }
    return;
  }
  // kRetiring: promote() runs when the old process is reaped.
  if (slot.role == Role::kUdpWorker && now - r.last_signal_ms >= kUdpRetireRepeatMs && slot.pid > 0) {
    SignalProcess(slot.pid, SIGUSR1);  // it may be blocked in msgrcv(): repeat, as for TERM
    r.last_signal_ms = now;
  }
  if (now >= r.deadline_ms && slot.pid > 0) {
    LOG(WARNING) << RoleName(slot.role) << " " << slot.index << " (pid " << slot.pid
                 << ") did not retire within graceful_timeout_ms; killing it";
    SignalProcess(slot.pid, SIGKILL);
    r.deadline_ms = now + 1000000;
  }
}

// The old process is gone: the replacement takes the slot (and its
// socketpair), keeping the same slot index and endpoints.
void Master::promote(ChildSlot& slot) {
  const bool current = reload_.current >= 0 && &table_.slots()[reload_.current] == &slot;
  std::swap(slot.board, slot.alt_board);
  slot.pid = slot.standby_pid;
  slot.standby_pid = 0;
  slot.started_ms = NowMonotonicMs();
  slot.fast_failures = 0;
  slot.retire_sent = false;
  if (slot.role == Role::kWorker) SignalProcess(slot.pid, SIGUSR2);  // start reading the slot's socketpair
  if (!current) return;
  ++reload_.replaced;
  reload_.phase = Reload::Phase::kNone;
  reload_.current = -1;
}

void Master::reloadFailed(const std::string& why) {
  LOG(ERROR) << "reload (" << reload_.reason << ") stopped: " << why << "; the old workers keep serving";
  board_->header().reload_failures.fetch_add(1);
  if (reload_.current >= 0) {
    ChildSlot& slot = table_.slots()[reload_.current];
    if (slot.pid <= 0 && slot.enabled) slot.respawn_at_ms = NowMonotonicMs();  // nobody serves it now
  }
  const bool notify = reload_.notify_ready;
  reload_ = Reload();
  board_->header().state.store(static_cast<uint8_t>(ServerState::kRunning));
  startPendingReload(notify);
}

void Master::startPendingReload(bool notify) {
  if (!pending_reload_.empty() && state_ == State::kRunning) {
    std::string reason = std::move(pending_reload_);
    pending_reload_.clear();
    startReload(reason);
    reload_.notify_ready = notify || pending_notify_;
    pending_notify_ = false;
    return;
  }
  if (notify || pending_notify_) notifySystemd("READY=1");
  pending_notify_ = false;
}

void Master::finishReload() {
  const int64_t took = NowMonotonicMs() - reload_.started_ms;
  if (reload_.only_slot) {
    board_->header().recycles.fetch_add(1);
  } else {
    board_->header().reloads.fetch_add(1);
    LOG(INFO) << "reload (" << reload_.reason << ") done: " << reload_.replaced << " worker(s) replaced in " << took
              << " ms";
  }
  const bool notify = reload_.notify_ready;
  reload_ = Reload();
  board_->header().state.store(static_cast<uint8_t>(ServerState::kRunning));
  startPendingReload(notify);
}

// ---- HUP ----

// Re-reads the config file. What can change live is applied (worker counts,
// limits, timeouts, the module — through a rolling reload); what needs a
// restart is refused with a line naming the field, keeping the running value.
void Master::reconfigure() {
  if (hup_check_.pid > 0) {
    LOG(INFO) << "HUP: the previous HUP's check (pid " << hup_check_.pid
              << ") is still running; the file is read again when it ends";
    hup_again_ = true;
    return;
  }
  notifySystemd("RELOADING=1");
  Config fresh;
  std::string error;
  if (!LoadConfig(config_path_, &fresh, &error)) {
    LOG(ERROR) << "HUP: the new configuration is refused, nothing changed: " << error;
    notifySystemd("READY=1");
    return;
  }
  AbsolutizePaths(&fresh);  // as main() did at the start
  // Fields a running server cannot take: they are bound into sockets, the
  // queue, the scoreboard's size or the listeners' framing.
  static const char* const kNeedRestart[] = {"listen", "listeners", "protocol", "dispatch", "user", "pid_file",
                                             "log_dir", "max_frame_bytes", "backlog", "output_high_water_bytes",
                                             "raise_kernel_limits", "rlimit_nofile", "udp", "max_workers",
                                             "admin_listen", "daemonize", "cpu_affinity", "state_dir",
                                             "max_in_flight_per_connection", "error_replies"};
  const auto* desc = Config::descriptor();
  const auto* refl = Config::GetReflection();
  for (const char* name : kNeedRestart) {
    const auto* field = desc->FindFieldByName(name);
    std::string before, after;
    google::protobuf::TextFormat::PrintFieldValueToString(config_, field, -1, &before);
    google::protobuf::TextFormat::PrintFieldValueToString(fresh, field, -1, &after);
    if (field->is_repeated() || before == after) continue;
    if (std::string(name) == "udp") {
      // udp.workers may change live; the rest of the section may not.
      UdpConfig a = config_.udp(), b = fresh.udp();
      a.set_workers(0);
      b.set_workers(0);
      if (config_.has_udp() == fresh.has_udp() &&
          google::protobuf::util::MessageDifferencer::Equals(a, b)) continue;
    }
    LOG(WARNING) << "HUP: " << name << " changed (" << before << " -> " << after
                 << ") but needs a restart; keeping " << before;
    const uint32_t udp_workers = fresh.has_udp() ? fresh.udp().workers() : 0;
    Config running = config_;
    refl->SwapFields(&fresh, &running, {field});  // fresh now holds the running value
    if (std::string(name) == "udp" && fresh.has_udp() && udp_workers > 0) fresh.mutable_udp()->set_workers(udp_workers);
  }
  if (fresh.workers() > config_.max_workers()) {
    LOG(WARNING) << "HUP: workers " << fresh.workers() << " is above max_workers " << config_.max_workers()
                 << " (fixed at start); keeping " << config_.workers();
    fresh.set_workers(config_.workers());
  }
  if (fresh.has_udp() && fresh.udp().workers() > config_.max_workers()) fresh.mutable_udp()->set_workers(config_.udp().workers());
  // Checked as it will run: with the running user and the other kept fields,
  // in a child the loop watches (a module's initialisers or onCheck may take
  // their time; the master goes on respawning and enforcing timeouts).
  if (!StartWorkerCheck(fresh, config_path_, &hup_check_, &error)) {
    LOG(ERROR) << "HUP: cannot check the new worker, nothing changed: " << error;
    notifySystemd("READY=1");
    return;
  }
  hup_config_ = std::move(fresh);
  hup_deadline_ms_ = NowMonotonicMs() + config_.reload_start_timeout_ms();
}

void Master::watchHupCheck(int64_t now) {
  if (hup_check_.pid <= 0) return;
  ReadWorkerCheck(&hup_check_);
  if (!hup_check_.timed_out && now >= hup_deadline_ms_) {
    hup_check_.timed_out = true;
    SignalProcess(hup_check_.pid, SIGKILL);  // reaped like any child; finishHupCheck says why
  }
}

void Master::finishHupCheck(int status) {
  std::string error;
  const bool passed = WorkerCheckPassed(&hup_check_, status, config_.reload_start_timeout_ms(), &error);
  Config fresh = std::move(hup_config_);
  hup_config_.Clear();
  if (state_ != State::kRunning) return;  // a stop began meanwhile: nothing to apply
  if (!passed) {
    LOG(ERROR) << "HUP: the new worker cannot be loaded, nothing changed: " << error;
    notifySystemd("READY=1");
  } else {
    applyHup(std::move(fresh));
  }
  if (hup_again_) {
    hup_again_ = false;
    reconfigure();  // the file may have changed again since the check began
  }
}

void Master::applyHup(Config fresh) {
  config_ = std::move(fresh);
  respawn_.setMax(config_.respawn_backoff_max_ms());
  board_->header().max_connections.store(config_.max_connections());
  board_->header().idle_timeout_ms.store(config_.idle_timeout_ms());
  board_->header().request_read_timeout_ms.store(config_.request_read_timeout_ms());
  board_->header().send_timeout_ms.store(config_.send_timeout_ms());
  applyWorkerCounts();
  LOG(INFO) << "HUP: configuration re-read from " << (config_path_.empty() ? "<embedded defaults>" : config_path_);
  if (config_.worker().watch() && !inotify_fd_) setUpWatch();
  if (reload_.active && reload_.only_slot) {
    pending_notify_ = true;
    startReload("HUP");  // queued behind the recycling
  } else if (reload_.active) {
    LOG(INFO) << "HUP: a reload is in progress; the new settings apply to the workers it has yet to replace";
    reload_.notify_ready = true;
  } else {
    startReload("HUP");
    reload_.notify_ready = true;
  }
}

// Grows or shrinks the worker slots in use to the configured counts.
void Master::applyWorkerCounts() {
  for (auto& slot : table_.slots()) {
    if (!isWorkerRole(slot.role)) continue;
    const uint32_t want = slot.role == Role::kWorker ? config_.workers()
                                                     : (config_.has_udp() ? config_.udp().workers() : 0);
    const bool keep = static_cast<uint32_t>(slot.index) < want;
    if (keep && (!slot.enabled || slot.removing)) {
      slot.enabled = true;
      slot.removing = false;
      if (slot.pid <= 0) spawn(slot, false);
      LOG(INFO) << "HUP: " << RoleName(slot.role) << " " << slot.index << " added";
    } else if (!keep && slot.enabled && !slot.removing) {
      // New connections stop going there at once; the worker keeps serving its
      // open connections and is retired when the last one closes.
      slot.removing = true;
      if (slot.pid <= 0) {
        slot.enabled = false;
        slot.removing = false;
        slot.respawn_at_ms = -1;
      }
      LOG(INFO) << "HUP: " << RoleName(slot.role) << " " << slot.index << " will retire";
    }
  }
  board_->header().active_workers.store(config_.workers());
}

// ---- limits and recycling (every 100 ms) ----

void Master::heartbeat(int64_t now) {
  if (now - last_heartbeat_ms_ < 100) return;
  last_heartbeat_ms_ = now;
  const bool check_rss = config_.max_rss_mb() > 0 && now - last_rss_check_ms_ >= 1000;
  if (check_rss) last_rss_check_ms_ = now;
  for (size_t i = 0; i < table_.slots().size(); ++i) {
    ChildSlot& slot = table_.slots()[i];
    if (!isWorkerRole(slot.role) || slot.pid <= 0) continue;
    ProcessSlot& ps = board_->slot(slot.board);
    if (slot.down && ps.state.load() != static_cast<uint8_t>(SlotState::kStarting)) tellWorkerState(slot, false);
    // request_timeout_ms: a worker stuck in one request is killed; its client's
    // connection is closed through the held list, and the slot respawns.
    const int64_t started = ps.request_start_ms.load(std::memory_order_relaxed);
    if (config_.request_timeout_ms() > 0 && started > 0 && now - started > config_.request_timeout_ms() &&
        !slot.retire_sent) {
      const CurrentRequest& r = ps.current;
      LOG(ERROR) << RoleName(slot.role) << " " << slot.index << " (pid " << slot.pid << ") has spent "
                 << now - started << " ms in one request (request_timeout_ms " << config_.request_timeout_ms()
                 << ") from " << ClientOf(r)
                 << (r.transport == 0 ? " on connection " + std::to_string(r.listener) + ":" +
                                            std::to_string(r.conn_id) + " request " + std::to_string(r.seq)
                                      : std::string(" (udp)"))
                 << "; killing it";
      board_->header().timeouts.fetch_add(1);
      SignalProcess(slot.pid, SIGKILL);
      slot.retire_sent = true;  // once
      continue;
    }
    // Scale-down: retire a removed worker once no listener has a connection on
    // it (PER_REQUEST: a request sent to it). A UDP worker retires at once (the others share the queue); its USR1
    // is repeated, as it may be blocked in msgrcv().
    if (slot.removing) {
      if (slot.retire_sent) {
        if (slot.role == Role::kUdpWorker) SignalProcess(slot.pid, SIGUSR1);
        continue;
      }
      uint64_t conns = 0;
      if (slot.role == Role::kWorker) {
        for (auto& l : table_.slots()) {
          if (l.role != Role::kListener) continue;
          conns += board_->slot(l.board).conns_per_worker[slot.index].load();
          conns += board_->slot(l.board).requests_per_worker[slot.index].load();  // PER_REQUEST
        }
      }
      if (conns == 0) {
        SignalProcess(slot.pid, SIGUSR1);
        slot.retire_sent = true;
      }
      continue;
    }
    if (reload_.active) continue;
    // max_requests (the worker raised its flag) and max_rss_mb: replace it,
    // replacement first, so no request waits (seed 002: recycle leaky workers).
    bool recycle = ps.recycle.load() != 0;
    if (!recycle && check_rss) {
      int64_t rss = RssMb(slot.pid);
      if (rss > static_cast<int64_t>(config_.max_rss_mb())) {
        LOG(WARNING) << RoleName(slot.role) << " " << slot.index << " (pid " << slot.pid << ") uses " << rss
                     << " MiB (max_rss_mb " << config_.max_rss_mb() << "); replacing it";
        recycle = true;
      }
    }
    if (recycle) {
      ps.recycle.store(0);
      startReload("recycle " + std::string(RoleName(slot.role)) + " " + std::to_string(slot.index),
                  static_cast<int>(i));
    }
  }
}

// ---- module watch (development: reload when the module file is replaced) ----

bool Master::setUpWatch() {
  const std::string& module = config_.worker().module();
  std::string dir = module.find('/') == std::string::npos ? "." : module.substr(0, module.rfind('/'));
  inotify_fd_.reset(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  // The directory, not the file: a build or `cp` + `mv` replaces the inode.
  if (!inotify_fd_ || inotify_add_watch(inotify_fd_.get(), dir.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0) {
    PLOG(ERROR) << "inotify on " << dir << " for worker.watch failed";
    return false;
  }
  LOG(INFO) << "watching " << module << ": the workers reload when it is replaced";
  return true;
}

void Master::onWatchEvent(int64_t now) {
  const std::string& module = config_.worker().module();
  const std::string base = module.substr(module.rfind('/') + 1);
  alignas(inotify_event) char buf[4096];
  for (;;) {
    ssize_t n = read(inotify_fd_.get(), buf, sizeof(buf));
    if (n <= 0) break;
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      if (ev->len > 0 && base == ev->name) watch_due_ms_ = now + kWatchDebounceMs;
      p += sizeof(inotify_event) + ev->len;
    }
  }
}

}  // namespace solar
