// The Master class, shared by master.cc (set-up, loop, stop), children.cc
// (fork, child start-up, reaping, respawn) and control.cc (rolling reload,
// HUP, limits, module watch, systemd). Internal to src/master.
// Runs in: master.
#pragma once

#include <sys/types.h>

#include <array>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "base/socket_address.h"
#include "app/module_loader.h"
#include "base/unique_fd.h"
#include "config.pb.h"
#include "ipc/channel.h"
#include "master/process_table.h"
#include "scoreboard/scoreboard.h"
#include "sys/pidfile.h"
#include "sys/privilege.h"
#include "sys/signals.h"

namespace solar {

std::string DescribeStatus(int status);

class Master {
 public:
  Master(Config config, std::string config_path, int ready_fd);
  int run();

 private:
  enum class State { kRunning, kStoppingListeners, kStoppingWorkers, kDone };
  using Pair = std::array<UniqueFd, 2>;  // [0] sends, [1] receives

  // master.cc
  bool setUp();
  bool bindListeners();
  bool setUpUdp();
  bool setUpAdmin();
  bool makePair(Pair* pair, const std::string& what);
  void removeQueue();
  void handleSignal(int signo);
  void beginStop(const char* why);
  void advanceStop(int64_t now);
  void killAll(int sig);
  void checkReady();
  void logTotals();
  int pollTimeoutMs(int64_t now) const;

  // children.cc
  void spawn(ChildSlot& slot, bool standby);
  [[noreturn]] void childMain(ChildSlot& slot, size_t board, bool standby);
  void reap();
  void onExit(ChildSlot& slot, pid_t pid, int status);
  void workerLost(const ChildSlot& slot, size_t board);
  void dropQueuedForDownWorker(const ChildSlot& slot);
  int64_t downDelay(const ChildSlot& slot, int64_t delay) const;
  static constexpr int64_t kDownRespawnMinMs = 100;
  bool prepareChildLogDir();
  // Tells listeners (all, or only `listener`) that a worker slot cannot start
  // (its requests are refused at once) or serves again.
  void tellWorkerState(ChildSlot& slot, bool down, int listener = -1);
  void respawnDue(int64_t now);
  bool isWorkerRole(Role r) const { return r == Role::kWorker || r == Role::kUdpWorker; }

  // control.cc
  void startReload(const std::string& reason, int only_slot = -1);
  void stepReload(int64_t now);
  void reloadFailed(const std::string& why);
  void finishReload();
  void startPendingReload(bool notify);
  void promote(ChildSlot& slot);
  // HUP: reads and diffs the file, then starts the worker check in a child;
  // the loop watches it (watchHupCheck), reap() hands its exit to
  // finishHupCheck, which applies the new config (applyHup) if it passed.
  void reconfigure();
  void watchHupCheck(int64_t now);
  void finishHupCheck(int status);
  void applyHup(Config fresh);
  void applyWorkerCounts();
  void heartbeat(int64_t now);
  bool setUpWatch();
  void onWatchEvent(int64_t now);
  void notifySystemd(const char* state);

  Config config_;
  const std::string config_path_;
  int ready_fd_;  // daemon mode: written once ready, then closed
  RespawnPolicy respawn_;
  State state_ = State::kRunning;
  int exit_code_ = 0;
  int64_t stop_deadline_ms_ = 0;
  bool ready_ = false;

  UserIds user_;
  bool drop_ = false;
  std::vector<int> cpus_;
  SocketAddress address_;
  PidFile pid_file_;
  SelfPipe signals_;
  std::unique_ptr<Scoreboard> board_;
  ProcessTable table_;
  std::vector<UniqueFd> listen_fds_;  // one per listener
  std::vector<Pair> worker_pairs_;    // listeners -> worker slot w (max_workers of them)
  std::vector<Pair> listener_pairs_;  // workers (and master notices) -> listener l
  std::vector<std::unique_ptr<ipc::OutChannel>> notices_;  // master -> listener l
  pid_t master_pid_ = 0;
  // UDP path (only with a udp section)
  SocketAddress udp_address_;
  UniqueFd udp_fd_;
  int queue_id_ = -1;
  size_t msgmax_ = 8192;
  int64_t last_udp_term_ms_ = 0;
  // Admin endpoint
  SocketAddress admin_address_;
  UniqueFd admin_fd_;

  // Rolling reload: one slot at a time (DESIGN.md "Configuration and control").
  struct Reload {
    bool active = false;
    std::string reason;
    std::deque<size_t> queue;  // table indices still to replace
    int current = -1;          // table index being replaced
    enum class Phase { kNone, kStarting, kRetiring } phase = Phase::kNone;
    int64_t deadline_ms = 0;
    int64_t last_signal_ms = 0;
    int64_t started_ms = 0;
    size_t replaced = 0;
    bool notify_ready = false;  // a HUP: tell systemd READY=1 when done
    bool only_slot = false;     // replacing one slot (recycling), not all
  } reload_;
  std::string pending_reload_;  // a full reload asked for during a recycling
  bool pending_notify_ = false;
  int64_t last_heartbeat_ms_ = 0;
  int64_t last_rss_check_ms_ = 0;
  // HUP's worker check, running in a child; the config it checks.
  WorkerCheck hup_check_;
  Config hup_config_;
  int64_t hup_deadline_ms_ = 0;
  bool hup_again_ = false;  // another HUP came while the check ran
  // Module watch
  UniqueFd inotify_fd_;
  int64_t watch_due_ms_ = -1;
};

}  // namespace solar
