// LoadThread: one event loop (libevent event_base) on its own thread, driving
// a share of the connections. Everything it touches while running is its own
// (clients, workload, RNG, stats); the only shared state is the RunPlan's
// atomics and the published Stats, copied under mu_.
// Runs in: solar-bench; constructed and joined by the main thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "base/noncopyable.h"
#include "run_plan.h"
#include "stats.h"

namespace solar::bench {

class LoadThread : NonCopyable {
 public:
  // Drives connections [first_connection, first_connection + connections) of
  // the -c load, and `slow_connections` slow ones (--slow-connections).
  LoadThread(RunPlan& plan, int index, int first_connection, int connections, int slow_connections);
  ~LoadThread();  // joins

  void start();
  void join();

  // True once the loop has ended and the final stats are published.
  bool done() const { return done_.load(std::memory_order_acquire); }
  // When the loop ended (MonoNanos); valid once done().
  uint64_t endNs() const { return end_ns_.load(std::memory_order_acquire); }

  // Adds what the thread has published so far to *into, and what its slow
  // connections did to *slow_into. Safe from any thread.
  void collect(Stats* into, Stats* slow_into) const;

  // With Options::perConnectionReport(): the median latency of each of the
  // thread's -c connections, in connection order (kNoMedian for one without a
  // measured reply); empty otherwise. Valid once done().
  std::vector<uint64_t> connectionMedians() const;

  // Housekeeping period: timeouts, the stop flag, publishing stats.
  static uint64_t TickNs(const Options& options);

 private:
  void run();

  RunPlan& plan_;
  const int index_;
  const int first_connection_;
  const int connections_;
  const int slow_connections_;
  std::thread thread_;
  std::atomic<bool> done_{false};
  std::atomic<uint64_t> end_ns_{0};

  mutable std::mutex mu_;
  Stats published_;       // guarded by mu_
  Stats published_slow_;  // guarded by mu_
  std::vector<uint64_t> medians_;  // guarded by mu_; written once, at the end
  friend class LoadLoop;
};

}  // namespace solar::bench
