// Client: one load-generating connection (TCP) or socket (UDP) of a load
// thread, and what the clients of one thread share (ClientEnv).
// Runs in: solar-bench load threads; a client is used only by its thread.
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "codec.h"
#include "request_pipeline.h"
#include "rng.h"
#include "run_plan.h"
#include "stats.h"
#include "workload.h"

namespace solar::bench {

struct EventFree {
  void operator()(event* e) const { event_free(e); }
};
// Owns a libevent event; event_free() also removes it from its base.
using EventPtr = std::unique_ptr<event, EventFree>;

inline timeval NanosToTimeval(uint64_t ns) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  tv.tv_usec = static_cast<suseconds_t>(ns % 1'000'000'000 / 1000);
  return tv;
}

// Borrowed by every client of one load thread; all of it outlives them.
struct ClientEnv {
  event_base* base = nullptr;
  RunPlan* plan = nullptr;
  Workload* workload = nullptr;
  const Codec* codec = nullptr;  // TCP only
  Rng* rng = nullptr;
  Stats* stats = nullptr;
  std::string* scratch = nullptr;  // UDP receive buffer, one per thread
  // The -c load, or the slow connections (--slow-connections): those have an
  // environment of their own, with their workload and their stats.
  Traffic traffic = Traffic::kLoad;
  // Called when a client may have nothing left to do; the thread then checks
  // whether all have finished.
  std::function<void()> maybe_finished;
  // Says on stderr why a call failed (socket(), connect()...), once per
  // thread, call and errno: the counters say how often, this says why.
  std::function<void(const char* call, int error)> warn;
};

class Client {
 public:
  // A client that loses its connection tries again after this long, so that
  // a server refusing work is counted, not hammered in a tight loop.
  static constexpr uint64_t kReconnectDelayNs = 100'000'000;

  virtual ~Client() = default;
  virtual void start() = 0;
  // The thread's housekeeping tick: connect and request timeouts.
  virtual void tick(uint64_t now) = 0;
  // Dead, or nothing in flight and nothing more to send.
  virtual bool finished() const = 0;
};

}  // namespace solar::bench
