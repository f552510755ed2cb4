// Dispatcher: which worker gets a new connection (ROUND_ROBIN,
// LEAST_CONNECTIONS: all its requests go there, so its replies stay in order)
// or, with PER_REQUEST, each request (the listener restores reply order).
// Pure policy, no I/O (STYLE rule 11).
// Runs in: listener.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "config.pb.h"

namespace solar {

class Dispatcher {
 public:
  // `workers`: every slot that may ever be addressed (max_workers).
  Dispatcher(DispatchMode mode, size_t workers, size_t start);

  // Picks the worker for a new connection among the first `active` (a HUP
  // may lower or raise it; slots above it only finish their connections).
  size_t assign(size_t active);
  // A connection on `worker` closed.
  void release(size_t worker);
  // A worker that cannot start gets no new connections while another can
  // take them (the master says when it can start again).
  void setAvailable(size_t worker, bool available);
  size_t connections(size_t worker) const { return load_[worker]; }

  static constexpr size_t kNone = std::numeric_limits<size_t>::max();
  // PER_REQUEST: among the first `active` workers that can serve, the one
  // with the fewest outstanding requests (`outstanding(i)`); ties rotate, and
  // the scan stops at the first idle one. kNone when none can serve.
  template <typename Outstanding>
  size_t pickLeastBusy(size_t active, Outstanding&& outstanding) {
    const size_t n = active == 0 || active > down_.size() ? down_.size() : active;
    if (next_ >= n) next_ = 0;
    size_t best = kNone;
    uint64_t best_load = std::numeric_limits<uint64_t>::max();
    for (size_t k = 0; k < n; ++k) {
      const size_t i = next_ + k < n ? next_ + k : next_ + k - n;
      if (down_[i]) continue;
      const uint64_t load = outstanding(i);
      if (load < best_load) {
        best = i;
        best_load = load;
        if (load == 0) break;
      }
    }
    if (best != kNone) next_ = best + 1 == n ? 0 : best + 1;
    return best;
  }

 private:
  DispatchMode mode_;
  std::vector<uint64_t> load_;
  std::vector<bool> down_;
  size_t next_;
};

}  // namespace solar
