// The master's table of child slots (nginx ngx_processes[]): one entry per
// listener, worker slot (up to max_workers), UDP listener, UDP worker slot and
// the admin process. A respawn reuses its entry, and with it the slot's
// socketpair and listening socket. Each worker entry has two scoreboard slots,
// so a reload's replacement can start beside the process it replaces.
// Runs in: master.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "scoreboard/scoreboard.h"

namespace solar {

struct ChildSlot {
  Role role = Role::kNone;
  int index = 0;         // listener or worker number
  size_t board = 0;      // scoreboard slot of the running process
  size_t alt_board = 0;  // worker roles: the slot a replacement starts in
  bool enabled = true;   // worker slots above the configured count are off
  bool removing = false; // scale-down: retire once its connections are gone
  pid_t pid = 0;         // 0 when not running
  pid_t standby_pid = 0; // a reload's replacement, not yet serving
  bool retire_sent = false;
  uint32_t spawns = 0;
  int64_t started_ms = 0;  // monotonic
  int fast_failures = 0;   // consecutive deaths soon after start
  int64_t respawn_at_ms = -1;  // >= 0: respawn due then
  bool down = false;       // worker: its process could not start; listeners were told
};

// Back-off for a slot that keeps dying soon after it started: none after a
// long life; else 100 ms doubling per consecutive fast failure, up to max_ms.
class RespawnPolicy {
 public:
  RespawnPolicy(int64_t min_life_ms, int64_t max_ms) : min_life_ms_(min_life_ms), max_ms_(max_ms) {}
  // Updates slot.fast_failures and returns the delay before the respawn.
  int64_t onExit(ChildSlot* slot, int64_t now_ms) const;
  void setMax(int64_t max_ms) { max_ms_ = max_ms; }

 private:
  int64_t min_life_ms_;
  int64_t max_ms_;
};

class ProcessTable {
 public:
  ChildSlot& add(Role role, int index, size_t board, size_t alt_board = 0);
  ChildSlot* byPid(pid_t pid);         // running process of a slot
  ChildSlot* byStandbyPid(pid_t pid);  // a replacement not yet serving
  std::vector<ChildSlot>& slots() { return slots_; }
  size_t running(Role role) const;
  size_t running() const;

 private:
  std::vector<ChildSlot> slots_;
};

}  // namespace solar
