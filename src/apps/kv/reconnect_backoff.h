// ReconnectBackoff: when a KV worker may next try to open its database
// connection. The first attempt after a loss is immediate; each failure then
// waits min_ms, doubling up to max_ms, and requests meanwhile are answered
// UNAVAILABLE at once instead of each paying for a connection attempt (which,
// against an unreachable host, is the whole connect timeout).
// Runs in: KV worker processes. Pure: the caller passes the time.
#pragma once

#include <algorithm>
#include <cstdint>

namespace solar::kv {

class ReconnectBackoff {
 public:
  ReconnectBackoff(uint32_t min_ms, uint32_t max_ms) : min_ms_(min_ms), max_ms_(std::max(min_ms, max_ms)) {}

  // Whether an attempt may be made at `now_ms`.
  bool due(int64_t now_ms) const { return now_ms >= next_ms_; }
  // Milliseconds until the next attempt may be made (0 when due).
  int64_t waitMs(int64_t now_ms) const { return std::max<int64_t>(0, next_ms_ - now_ms); }
  // The delay that followed the last failure (0 after a success).
  uint32_t delayMs() const { return delay_ms_; }

  void failed(int64_t now_ms) {
    delay_ms_ = delay_ms_ == 0 ? min_ms_ : std::min<uint32_t>(max_ms_, delay_ms_ * 2);
    next_ms_ = now_ms + delay_ms_;
  }
  void succeeded() {
    delay_ms_ = 0;
    next_ms_ = 0;
  }

 private:
  uint32_t min_ms_;
  uint32_t max_ms_;
  uint32_t delay_ms_ = 0;
  int64_t next_ms_ = 0;
};

}  // namespace solar::kv
