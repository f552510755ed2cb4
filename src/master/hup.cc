// HUP's re-read of the config and its worker check (in a child the loop
// watches), the module watch (worker.watch), and systemd's notify protocol.
// What the new config changes in process control is the supervisor's.
#include <signal.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <glog/logging.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>
#include <systemd/sd-daemon.h>

#include "app/module_loader.h"
#include "config/config.h"
#include "master/master_impl.h"

namespace solar {

namespace {

constexpr int64_t kWatchDebounceMs = 300;  // a copy lands in several writes

}  // namespace

void Master::notifySystemd(const char* state) {
  // A no-op unless started by systemd with Type=notify (NOTIFY_SOCKET set).
  sd_notify(0, state);
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
  keepRestartFields(&fresh);
  // Checked as it will run: with the running user and the other kept fields,
  // in a child the loop watches (a module's initialisers or onCheck may take
  // their time; the master goes on respawning and enforcing timeouts).
  // The check runs the module's code: it sees the scoreboard read-only.
  auto in_child = [this] {
    if (std::string why; !board_->restrictTo(-1, &why)) _exit(1);
  };
  if (!StartWorkerCheck(fresh, config_path_, &hup_check_, &error, in_child)) {
    LOG(ERROR) << "HUP: cannot check the new worker, nothing changed: " << error;
    notifySystemd("READY=1");
    return;
  }
  hup_config_ = std::move(fresh);
  hup_deadline_ms_ = NowMonotonicMs() + config_.reload_start_timeout_ms();
}

// Fields a running server cannot take are bound into sockets, the queue, the
// scoreboard's size or the listeners' framing: each changed one is refused
// with a line naming it, and *fresh keeps the running value.
void Master::keepRestartFields(Config* fresh) const {
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
    google::protobuf::TextFormat::PrintFieldValueToString(*fresh, field, -1, &after);
    if (field->is_repeated() || before == after) continue;
    if (std::string(name) == "udp") {
      // udp.workers may change live; the rest of the section may not.
      UdpConfig a = config_.udp(), b = fresh->udp();
      a.set_workers(0);
      b.set_workers(0);
      if (config_.has_udp() == fresh->has_udp() && google::protobuf::util::MessageDifferencer::Equals(a, b)) continue;
    }
    LOG(WARNING) << "HUP: " << name << " changed (" << before << " -> " << after << ") but needs a restart; keeping "
                 << before;
    const uint32_t udp_workers = fresh->has_udp() ? fresh->udp().workers() : 0;
    Config running = config_;
    refl->SwapFields(fresh, &running, {field});  // *fresh now holds the running value
    if (std::string(name) == "udp" && fresh->has_udp() && udp_workers > 0) fresh->mutable_udp()->set_workers(udp_workers);
  }
  if (fresh->workers() > config_.max_workers()) {
    LOG(WARNING) << "HUP: workers " << fresh->workers() << " is above max_workers " << config_.max_workers()
                 << " (fixed at start); keeping " << config_.workers();
    fresh->set_workers(config_.workers());
  }
  if (fresh->has_udp() && fresh->udp().workers() > config_.max_workers()) {
    LOG(WARNING) << "HUP: udp.workers " << fresh->udp().workers() << " is above max_workers "
                 << config_.max_workers() << " (fixed at start); keeping " << config_.udp().workers();
    fresh->mutable_udp()->set_workers(config_.udp().workers());
  }
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
  if (!supervisor_->running()) return;  // a stop began meanwhile: nothing to apply
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

// The live settings go to the scoreboard header, process control's to the
// supervisor (new counts, then a rolling reload; READY=1 once it is done).
void Master::applyHup(Config fresh) {
  config_ = std::move(fresh);
  ScoreboardHeader& h = board_->header();
  h.max_connections.store(config_.max_connections());
  h.idle_timeout_ms.store(config_.idle_timeout_ms());
  h.request_read_timeout_ms.store(config_.request_read_timeout_ms());
  h.send_timeout_ms.store(config_.send_timeout_ms());
  h.active_workers.store(config_.workers());
  LOG(INFO) << "HUP: configuration re-read from " << (config_path_.empty() ? "<embedded defaults>" : config_path_);
  if (config_.worker().watch() && !inotify_fd_) setUpWatch();
  supervisor_->configChanged(settingsFrom(config_), NowMonotonicMs());
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
