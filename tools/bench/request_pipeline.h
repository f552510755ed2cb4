// RequestPipeline: the requests of one connection (or UDP socket), from the
// decision to send one to the verdict on its reply. Transport-free, so the TCP
// and UDP clients share it and the timing rules live in one place:
//
// - Closed loop (no --rate): keep --pipeline requests in flight; latency runs
//   from the moment a request is issued.
// - Open loop (--rate): request k of this connection is due at first_ns +
//   k * interval_ns whether or not the server kept up, and its latency runs
//   from that due time, not from when it finally went out. A server that stalls
//   therefore shows its stall in every request that queued behind it, which
//   is what avoids coordinated omission (Gil Tene; wrk2 does the same).
//   --pipeline caps what is in flight; requests that fall due meanwhile are
//   sent as soon as room frees up, each still timed from its own due time.
// - A request is measured when its (due) send time is at or after the end of
//   the warm-up; its reply counts when it arrives before the deadline.
// - A slow connection's pipeline (--slow-connections, Traffic::kSlow) is
//   always a closed loop with one request in flight, and takes nothing from
//   the --requests budget (it stops when the budget is spent, like the rest).
//
// Runs in: solar-bench load threads (not thread-safe; the budget is atomic).
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "base/noncopyable.h"
#include "histogram.h"
#include "rng.h"
#include "run_plan.h"
#include "stats.h"
#include "workload.h"

namespace solar::bench {

struct InFlight {
  std::string payload;
  uint64_t intended_ns = 0;  // latency starts here
  uint64_t sent_ns = 0;      // 0 until on the wire; the timeout starts here
  bool measured = false;
  bool resent = false;  // --retry: already sent on a connection that closed
};

// Whose requests a pipeline carries: the measured load of -c, or a slow
// connection's (--slow-connections) beside it.
enum class Traffic { kLoad, kSlow };

class RequestPipeline : NonCopyable {
 public:
  // interval_ns = 0 for the closed loop; first_ns is then unused (kSlow
  // ignores both). request_overhead: framing bytes the transport adds to each
  // request. connection_latency, when not null (borrowed, outlives the
  // pipeline), also records each latency that goes into stats: this
  // connection's own, for its median.
  RequestPipeline(RunPlan& plan, Workload& workload, Rng& rng, Stats& stats, uint64_t interval_ns,
                  uint64_t first_ns, size_t request_overhead, Traffic traffic = Traffic::kLoad,
                  Histogram* connection_latency = nullptr);

  // Issues the next request if the pipeline depth, the schedule, the budget
  // and the deadline allow one at `now`; nullptr otherwise. The caller sends it
  // and sets sent_ns. The pointer is valid until the next call that adds or
  // removes requests.
  InFlight* issue(uint64_t now);

  size_t size() const { return queue_.size(); }
  InFlight& at(size_t i) { return queue_[i]; }
  const InFlight& at(size_t i) const { return queue_[i]; }

  // Judges request `index` by `reply` (reply_wire_bytes long on the wire,
  // received at `now`), records it and removes it. Returns the verdict;
  // a mismatch has been counted.
  ReplyCheck complete(size_t index, std::string_view reply, size_t reply_wire_bytes, uint64_t now);

  // Request `index` was answered with an error reply: counted as kServer and
  // removed, its latency not recorded.
  void fail(size_t index);

  // The first request on the wire that `reply` answers, else the oldest one
  // on the wire (to be judged a mismatch), else -1. For UDP, whose replies may
  // come back in any order.
  int match(std::string_view reply) const;

  // How many requests on the wire have waited longer than --timeout.
  size_t expired(uint64_t now) const;

  // Forgets every request in flight (the connection is gone); returns how many.
  size_t abandon();

  // --retry: marks every request in flight as not sent, to go out again on
  // the next connection, and counts them as resent. False (and nothing
  // changes) when one of them was resent already: each gets one resend.
  bool requeue();

  // Open loop: when the schedule next allows a request, if it may send one
  // then (there is room and more to send); 0 otherwise.
  uint64_t nextDue() const;

  // False once the deadline or the budget rules out any further request.
  bool wantsMore() const;
  // Nothing in flight and nothing more to send.
  bool finished() const { return queue_.empty() && !wantsMore(); }

 private:
  // Removes request `index`, keeping its payload's capacity; returns verdict.
  ReplyCheck finish(size_t index, ReplyCheck verdict);

  RunPlan& plan_;
  Workload& workload_;
  Rng& rng_;
  Stats& stats_;
  const uint64_t interval_ns_;
  uint64_t next_due_ns_;
  const size_t request_overhead_;
  const Traffic traffic_;
  Histogram* const connection_latency_;  // may be null
  const size_t depth_;
  bool exhausted_ = false;  // the deadline or the budget said no: for good
  std::deque<InFlight> queue_;
  std::vector<std::string> spare_;  // payload strings kept for their capacity
};

}  // namespace solar::bench
