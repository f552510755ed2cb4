// MonoNanos(): the one clock of solar-bench. CLOCK_MONOTONIC, because latency
// and rates must not jump when NTP or an operator steps the wall clock.
// Runs in: solar-bench, every thread.
#pragma once

#include <time.h>

#include <cstdint>

namespace solar::bench {

constexpr uint64_t kNanosPerMicro = 1000;
constexpr uint64_t kNanosPerMilli = 1000 * 1000;
constexpr uint64_t kNanosPerSecond = 1000 * 1000 * 1000;

inline uint64_t MonoNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);  // vDSO: no syscall, cannot fail for this clock
  return static_cast<uint64_t>(ts.tv_sec) * kNanosPerSecond + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace solar::bench
