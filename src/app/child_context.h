// What the master hands a child role after fork: its index, the fds it uses
// (already the only IPC ends left open) and its scoreboard slot.
// Runs in: every child.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "config.pb.h"
#include "scoreboard/scoreboard.h"

namespace solar {

// Exit codes a child uses to tell the master what happened (nginx exits 2).
inline constexpr int kExitOk = 0;
inline constexpr int kExitRespawn = 1;  // failed, try again (with back-off)
inline constexpr int kExitFatal = 2;    // cannot run safely (privilege drop failed): do not respawn

struct ChildContext {
  const Config* config = nullptr;
  std::string config_path;
  int index = 0;       // listener or worker number
  uint32_t epoch = 0;  // how many times this slot has been spawned, from 1
  int listen_fd = -1;  // listener: its own SO_REUSEPORT socket
  int in_fd = -1;      // the socketpair end this process reads
  std::vector<int> out_fds;  // listener: each worker's send end; worker: each listener's send end
  // The scoreboard, mapped read-only but for this process's own slot.
  ProcessSlot* slot = nullptr;                // this process's slot
  WorkerSlot* worker_slot = nullptr;          // worker roles: its part beside it
  ListenerSlot* listener_slot = nullptr;      // listener: its part beside it
  const ScoreboardHeader* header = nullptr;   // live settings, active worker count
  const Scoreboard* board = nullptr;  // every slot, to read: admin; listeners (the others' requests_per_worker)
  // Worker: start as a reload's replacement: initialise, then wait for SIGUSR2
  // (the master hands over the slot) before reading requests.
  bool standby = false;
  int udp_fd = -1;              // UDP roles: the socket the master bound
  int queue_id = -1;            // UDP roles: the SysV queue
  size_t queue_msgmax = 8192;   // UDP roles: the kernel's msgmax when the master started
};

}  // namespace solar
