// RunPlan: everything the load threads share for one run. Written by the main
// thread before the threads start; afterwards only the atomics change.
// Runs in: solar-bench (main thread writes, load threads read).
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>

#include "options.h"

namespace solar::bench {

constexpr uint64_t kNoDeadline = UINT64_MAX;

struct RunPlan {
  Options options;
  sockaddr_storage address{};  // the resolved target
  socklen_t address_length = 0;

  uint64_t start_ns = 0;        // MonoNanos() when the load starts
  uint64_t warmup_end_ns = 0;   // requests sent from here on are measured
  uint64_t deadline_ns = kNoDeadline;

  // Measured requests still to issue when --requests is set (may go below 0:
  // each issuer takes one and gives up when it got none).
  std::atomic<int64_t> budget{0};
  // Set by the main thread on SIGINT/SIGTERM; the threads look at it each tick.
  std::atomic<bool> stop{false};
  // --kv-check-ledger: the index of the next key to read back.
  std::atomic<size_t> kv_check_next{0};
};

}  // namespace solar::bench
