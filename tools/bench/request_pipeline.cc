#include "request_pipeline.h"

#include <utility>

namespace solar::bench {

RequestPipeline::RequestPipeline(RunPlan& plan, Workload& workload, Rng& rng, Stats& stats, uint64_t interval_ns,
                                 uint64_t first_ns, size_t request_overhead, Traffic traffic,
                                 Histogram* connection_latency)
    : plan_(plan),
      workload_(workload),
      rng_(rng),
      stats_(stats),
      interval_ns_(traffic == Traffic::kSlow ? 0 : interval_ns),
      next_due_ns_(first_ns),
      request_overhead_(request_overhead),
      traffic_(traffic),
      connection_latency_(connection_latency),
      depth_(traffic == Traffic::kSlow ? 1 : static_cast<size_t>(plan.options.pipeline)) {}

InFlight* RequestPipeline::issue(uint64_t now) {
  if (exhausted_ || queue_.size() >= depth_) return nullptr;
  uint64_t intended = now;
  if (interval_ns_ != 0) {
    if (next_due_ns_ > now) return nullptr;
    intended = next_due_ns_;
  }
  if (intended >= plan_.deadline_ns) {
    exhausted_ = true;
    return nullptr;
  }
  const bool measured = intended >= plan_.warmup_end_ns;
  if (measured && plan_.options.requests > 0) {
    // A slow request only looks: the budget counts the -c connections' requests.
    const int64_t left = traffic_ == Traffic::kSlow ? plan_.budget.load(std::memory_order_relaxed)
                                                    : plan_.budget.fetch_sub(1, std::memory_order_relaxed);
    if (left <= 0) {
      exhausted_ = true;
      return nullptr;
    }
  }
  if (interval_ns_ != 0) next_due_ns_ += interval_ns_;

  InFlight request;
  if (!spare_.empty()) {
    request.payload = std::move(spare_.back());
    spare_.pop_back();
  }
  workload_.makeRequest(rng_, &request.payload);
  request.intended_ns = intended;
  request.measured = measured;
  request.resent = false;
  queue_.push_back(std::move(request));
  return &queue_.back();
}

ReplyCheck RequestPipeline::complete(size_t index, std::string_view reply, size_t reply_wire_bytes,
                                     uint64_t now) {
  InFlight& request = queue_[index];
  const ReplyCheck verdict = workload_.checkReply(request.payload, reply);
  if (verdict == ReplyCheck::kMismatch) {
    stats_.addError(ErrorKind::kMismatch);
    return finish(index, verdict);
  }
  ++stats_.answered;
  workload_.acknowledged(request.payload);
  if (request.measured && now < plan_.deadline_ns) {
    const uint64_t latency = now > request.intended_ns ? now - request.intended_ns : 0;
    stats_.latency.record(latency);
    if (connection_latency_ != nullptr) connection_latency_->record(latency);
    ++stats_.requests;
    stats_.bytes_sent += request.payload.size() + request_overhead_;
    stats_.bytes_received += reply_wire_bytes;
    stats_.last_reply_ns = now;
  }
  return finish(index, verdict);
}

void RequestPipeline::fail(size_t index) {
  stats_.addError(ErrorKind::kServer);
  finish(index, ReplyCheck::kMismatch);
}

ReplyCheck RequestPipeline::finish(size_t index, ReplyCheck verdict) {
  InFlight& request = queue_[index];
  spare_.push_back(std::move(request.payload));
  if (index == 0) {
    queue_.pop_front();
  } else {
    queue_.erase(queue_.begin() + static_cast<long>(index));
  }
  return verdict;
}

int RequestPipeline::match(std::string_view reply) const {
  int oldest_sent = -1;
  for (size_t i = 0; i < queue_.size(); ++i) {
    if (queue_[i].sent_ns == 0) continue;
    if (oldest_sent < 0) oldest_sent = static_cast<int>(i);
    if (workload_.checkReply(queue_[i].payload, reply) == ReplyCheck::kOk) return static_cast<int>(i);
  }
  return oldest_sent;
}

size_t RequestPipeline::expired(uint64_t now) const {
  size_t n = 0;
  for (const InFlight& request : queue_) {
    if (request.sent_ns != 0 && now - request.sent_ns > plan_.options.timeout_ns) ++n;
  }
  return n;
}

bool RequestPipeline::requeue() {
  for (const InFlight& request : queue_) {
    if (request.resent) return false;
  }
  for (InFlight& request : queue_) {
    request.sent_ns = 0;
    request.resent = true;
  }
  stats_.resent += queue_.size();
  return true;
}

size_t RequestPipeline::abandon() {
  const size_t n = queue_.size();
  for (InFlight& request : queue_) spare_.push_back(std::move(request.payload));
  queue_.clear();
  return n;
}

uint64_t RequestPipeline::nextDue() const {
  if (interval_ns_ == 0 || queue_.size() >= depth_ || !wantsMore()) return 0;
  return next_due_ns_;
}

bool RequestPipeline::wantsMore() const {
  if (exhausted_) return false;
  if (interval_ns_ != 0 && next_due_ns_ >= plan_.deadline_ns) return false;
  return plan_.options.requests == 0 || plan_.budget.load(std::memory_order_relaxed) > 0;
}

}  // namespace solar::bench
