// Back-off for a slot that keeps dying soon after it started: none after a
// long life; else 100 ms doubling per consecutive fast failure, up to max_ms.
// Runs in: master.
#pragma once

#include <algorithm>
#include <cstdint>

namespace solar {

class RespawnPolicy {
 public:
  RespawnPolicy(int64_t min_life_ms, int64_t max_ms) : min_life_ms_(min_life_ms), max_ms_(max_ms) {}
  // A process started at started_ms exited at now_ms: updates *fast_failures
  // (consecutive deaths soon after start) and returns the delay before the
  // respawn.
  int64_t onExit(int64_t started_ms, int64_t now_ms, int* fast_failures) const {
    if (now_ms - started_ms >= min_life_ms_) {
      *fast_failures = 0;
      return 0;
    }
    ++*fast_failures;
    const int shift = std::min(*fast_failures - 1, 20);
    return std::min<int64_t>(int64_t{100} << shift, max_ms_);
  }
  void setMax(int64_t max_ms) { max_ms_ = max_ms; }

 private:
  int64_t min_life_ms_;
  int64_t max_ms_;
};

}  // namespace solar
