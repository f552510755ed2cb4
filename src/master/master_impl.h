// The Master: the wiring around the Supervisor (src/master/supervisor.h),
// which decides all process control. The master sets up what the children
// share (endpoints, scoreboard), runs the loop that feeds the supervisor its
// events (signals, reaped children, time) and carries out its actions (fork,
// signal, notify listeners, systemd). Split over master.cc (set-up, loop,
// actions), children.cc (fork and the child's start-up order, reaping,
// listener notices) and hup.cc (HUP's re-read and worker check, module watch).
// Internal to src/master.
// Runs in: master.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "app/module_loader.h"
#include "base/noncopyable.h"
#include "base/unique_fd.h"
#include "config.pb.h"
#include "ipc/channel.h"
#include "master/board_probe.h"
#include "master/endpoints.h"
#include "master/supervisor.h"
#include "scoreboard/scoreboard.h"
#include "sys/pidfile.h"
#include "sys/privilege.h"
#include "sys/signals.h"

namespace solar {

class Master : NonCopyable {
 public:
  Master(Config config, std::string config_path, int ready_fd);
  int run();

 private:
  // master.cc
  bool setUp();
  bool createBoard();
  void buildSupervisor();
  void handleSignal(int signo, int64_t now);
  void carryOut();  // the supervisor's actions, until it has none left
  void carryOut(const Action& a);
  void stopBegan();
  void announceReady();
  void logTotals();
  int pollTimeoutMs(int64_t now) const;
  SupervisorSettings settingsFrom(const Config& config) const;

  // children.cc
  void fork(const Action& a);
  [[noreturn]] void childMain(const Slot& slot, size_t board, bool standby, uint32_t epoch);
  void prepareChildProcess(const Slot& slot, const std::string& name);
  bool prepareChildLogDir();
  void reap(int64_t now);
  void clearBoard(size_t board, Role role);
  void workerLost(const Slot& slot, size_t board);
  void dropQueued(const Slot& slot);
  // Tells listeners (all, or only `listener`) that worker `index` cannot
  // start (its requests are refused at once) or serves again.
  void tellWorkerState(int index, bool down, int listener);

  // hup.cc
  // HUP: reads and diffs the file, then starts the worker check in a child;
  // the loop watches it (watchHupCheck), reap() hands its exit to
  // finishHupCheck, which applies the new config (applyHup) if it passed.
  void reconfigure();
  void keepRestartFields(Config* fresh) const;
  void watchHupCheck(int64_t now);
  void finishHupCheck(int status);
  void applyHup(Config fresh);
  bool setUpWatch();
  void onWatchEvent(int64_t now);
  void notifySystemd(const char* state);

  Config config_;
  const std::string config_path_;
  int ready_fd_;  // daemon mode: written once ready, then closed
  pid_t master_pid_ = 0;
  UserIds user_;
  bool drop_ = false;
  std::vector<int> cpus_;
  PidFile pid_file_;
  SelfPipe signals_;
  std::unique_ptr<Scoreboard> board_;
  Endpoints endpoints_;
  std::vector<std::unique_ptr<ipc::OutChannel>> notices_;  // master -> listener l
  std::unique_ptr<BoardProbe> probe_;
  std::unique_ptr<Supervisor> supervisor_;
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
