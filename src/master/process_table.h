// The master's table of child slots (nginx ngx_processes[]): one entry per
// listener and worker. A respawn reuses its entry, and with it the slot's
// socketpair and listening socket. Pure bookkeeping plus the back-off policy.
// Runs in: master.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "scoreboard/scoreboard.h"

namespace solar {

struct ChildSlot {
  Role role = Role::kNone;
  int index = 0;     // listener or worker number
  size_t board = 0;  // scoreboard slot
  pid_t pid = 0;     // 0 when not running
  uint32_t spawns = 0;
  int64_t started_ms = 0;  // monotonic
  int fast_failures = 0;   // consecutive deaths soon after start
  int64_t respawn_at_ms = -1;  // >= 0: respawn due then
};

// Back-off for a slot that keeps dying soon after it started: none after a
// long life; else 100 ms doubling per consecutive fast failure, up to max_ms.
class RespawnPolicy {
 public:
  RespawnPolicy(int64_t min_life_ms, int64_t max_ms) : min_life_ms_(min_life_ms), max_ms_(max_ms) {}
  // Updates slot.fast_failures and returns the delay before the respawn.
  int64_t onExit(ChildSlot* slot, int64_t now_ms) const;

 private:
  int64_t min_life_ms_;
  int64_t max_ms_;
};

class ProcessTable {
 public:
  ChildSlot& add(Role role, int index, size_t board);
  ChildSlot* byPid(pid_t pid);
  std::vector<ChildSlot>& slots() { return slots_; }
  size_t running(Role role) const;
  size_t running() const;

 private:
  std::vector<ChildSlot> slots_;
};

}  // namespace solar
