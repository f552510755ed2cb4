#include "load_thread.h"

#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "client.h"
#include "clock.h"
#include "codec.h"
#include "rng.h"
#include "slow_workload.h"
#include "stall_summary.h"
#include "tcp_client.h"
#include "udp_client.h"
#include "workload.h"

namespace solar::bench {
namespace {

constexpr uint64_t kMaxTickNs = 50'000'000;  // 50 ms: timeouts are checked to this precision
constexpr uint64_t kMinTickNs = 1'000'000;

struct EventBaseFree {
  void operator()(event_base* base) const { event_base_free(base); }
};

}  // namespace

// The loop itself; lives on the load thread's stack for the run. Member order
// matters: the clients and events must go before the event_base.
class LoadLoop : NonCopyable {
 public:
  explicit LoadLoop(LoadThread& owner);
  bool init();
  void run();
  void publish();
  // Hands each -c connection's median latency to the owner (once, at the end).
  void publishMedians();

 private:
  static void OnTick(evutil_socket_t, short, void* arg) { static_cast<LoadLoop*>(arg)->tick(); }
  static void OnDeadline(evutil_socket_t, short, void* arg) { static_cast<LoadLoop*>(arg)->armDeadline(); }
  // Breaks the loop at the deadline. libevent times with CLOCK_MONOTONIC_COARSE
  // unless asked for precision, so its timer can fire a few ms early: the
  // measured window would then end before its deadline.
  void armDeadline();
  void tick();
  void checkFinished();
  void warn(const char* call, int error);

  LoadThread& owner_;
  RunPlan& plan_;
  std::unique_ptr<event_base, EventBaseFree> base_;
  std::unique_ptr<Workload> workload_;
  std::unique_ptr<Codec> codec_;
  Rng rng_;
  Stats local_;  // since the last publish()
  std::string scratch_;
  ClientEnv env_;
  // The slow connections' (--slow-connections): their own workload and stats.
  std::unique_ptr<Workload> slow_workload_;
  Stats slow_local_;  // since the last publish()
  ClientEnv slow_env_;
  // With the per-connection report, one per -c connection (sized once: the
  // clients hold pointers into it); empty otherwise.
  std::vector<Histogram> connection_latency_;
  std::set<std::pair<std::string, int>> warned_;
  std::vector<std::unique_ptr<Client>> clients_;  // the -c connections first, then the slow ones
  EventPtr tick_event_;
  EventPtr deadline_event_;
};

LoadLoop::LoadLoop(LoadThread& owner)
    : owner_(owner),
      plan_(owner.plan_),
      // Distinct, reproducible streams per thread from one --seed.
      rng_(plan_.options.seed * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(owner.index_) + 1) {}

bool LoadLoop::init() {
  const Options& o = plan_.options;
  event_config* config = event_config_new();
  // One thread per base: no locking. The open loop needs its timers on time
  // (timerfd rather than epoll's millisecond timeout) and a fresh clock in
  // every callback, or requests would leave late and look slow.
  int flags = EVENT_BASE_FLAG_NOLOCK;
  if (o.rate > 0) flags |= EVENT_BASE_FLAG_PRECISE_TIMER | EVENT_BASE_FLAG_NO_CACHE_TIME;
  event_config_set_flag(config, flags);
  base_.reset(event_base_new_with_config(config));
  event_config_free(config);
  if (!base_) {
    std::fprintf(stderr, "solar-bench: event_base_new() for thread %d failed\n", owner_.index_);
    return false;
  }

  WorkloadParams params;
  params.size_min = o.size_min;
  params.size_max = o.size_max;
  params.line_safe = o.proto == Proto::kLine;
  params.kv_get_ratio = o.kv_get_ratio;
  params.kv_keys = o.kv_keys;
  params.kv_ledger = o.kv_ledger;
  params.kv_check_keys = o.kv_check_keys.get();
  params.kv_check_next = &plan_.kv_check_next;
  workload_ = WorkloadRegistry::Instance().make(o.workload, params);
  codec_ = MakeCodec(o.proto);
  if (!workload_) return false;  // the options were checked against the registry

  env_.base = base_.get();
  env_.plan = &plan_;
  env_.workload = workload_.get();
  env_.codec = codec_.get();
  env_.rng = &rng_;
  env_.stats = &local_;
  env_.scratch = &scratch_;
  env_.maybe_finished = [this] { checkFinished(); };
  env_.warn = [this](const char* call, int error) { warn(call, error); };

  slow_workload_ = std::make_unique<SlowWorkload>(o.slow_payload);
  slow_env_ = env_;
  slow_env_.workload = slow_workload_.get();
  slow_env_.stats = &slow_local_;
  slow_env_.traffic = Traffic::kSlow;
  if (o.perConnectionReport()) connection_latency_.resize(static_cast<size_t>(owner_.connections_));

  // Open loop: each connection sends every C/R seconds, and connection g starts
  // g/R seconds in, so the whole run sends evenly rather than in bursts.
  const double per_request_ns = o.rate > 0 ? 1e9 / o.rate : 0;
  const uint64_t interval_ns = static_cast<uint64_t>(per_request_ns * o.connections);
  for (int i = 0; i < owner_.connections_; ++i) {
    const int g = owner_.first_connection_ + i;
    const uint64_t first_ns = plan_.start_ns + static_cast<uint64_t>(per_request_ns * g);
    Histogram* own = connection_latency_.empty() ? nullptr : &connection_latency_[static_cast<size_t>(i)];
    if (o.proto == Proto::kUdp) {
      clients_.push_back(std::make_unique<UdpClient>(env_, interval_ns, first_ns, own));
    } else {
      clients_.push_back(std::make_unique<TcpClient>(env_, interval_ns, first_ns, own));
    }
  }
  // Slow connections are a closed loop whatever the -c ones do (-R, -P).
  for (int i = 0; i < owner_.slow_connections_; ++i) {
    if (o.proto == Proto::kUdp) {
      clients_.push_back(std::make_unique<UdpClient>(slow_env_, 0, 0));
    } else {
      clients_.push_back(std::make_unique<TcpClient>(slow_env_, 0, 0));
    }
  }

  tick_event_.reset(event_new(base_.get(), -1, EV_PERSIST, &LoadLoop::OnTick, this));
  const timeval tick = NanosToTimeval(LoadThread::TickNs(o));
  event_add(tick_event_.get(), &tick);
  if (plan_.deadline_ns != kNoDeadline) {
    deadline_event_.reset(evtimer_new(base_.get(), &LoadLoop::OnDeadline, this));
    armDeadline();
  }
  return true;
}

void LoadLoop::armDeadline() {
  const uint64_t now = MonoNanos();
  if (now >= plan_.deadline_ns) {
    event_base_loopbreak(base_.get());
    return;
  }
  const timeval until = NanosToTimeval(plan_.deadline_ns - now);
  evtimer_add(deadline_event_.get(), &until);
}

void LoadLoop::run() {
  for (auto& client : clients_) client->start();
  checkFinished();  // every connect may already have failed
  event_base_dispatch(base_.get());
}

void LoadLoop::tick() {
  if (plan_.stop.load(std::memory_order_relaxed)) {
    event_base_loopbreak(base_.get());
    return;
  }
  const uint64_t now = MonoNanos();
  for (auto& client : clients_) client->tick(now);
  publish();
}

void LoadLoop::checkFinished() {
  for (const auto& client : clients_) {
    if (!client->finished()) return;
  }
  event_base_loopbreak(base_.get());
}

void LoadLoop::publish() {
  {
    std::lock_guard<std::mutex> lock(owner_.mu_);
    owner_.published_.merge(local_);
    owner_.published_slow_.merge(slow_local_);
  }
  local_.reset();
  slow_local_.reset();
}

void LoadLoop::publishMedians() {
  if (!plan_.options.perConnectionReport()) return;
  // A loop that could not start has no histograms: its connections had no reply.
  std::vector<uint64_t> medians(static_cast<size_t>(owner_.connections_), kNoMedian);
  for (size_t i = 0; i < connection_latency_.size(); ++i) medians[i] = ConnectionMedian(connection_latency_[i]);
  std::lock_guard<std::mutex> lock(owner_.mu_);
  owner_.medians_ = std::move(medians);
}

void LoadLoop::warn(const char* call, int error) {
  if (!warned_.emplace(call, error).second) return;
  std::fprintf(stderr, "solar-bench: %s failed in thread %d: %s%s\n", call, owner_.index_, std::strerror(error),
               error == EMFILE || error == ENFILE ? " (raise the open-file limit: ulimit -n)" : "");
}

LoadThread::LoadThread(RunPlan& plan, int index, int first_connection, int connections, int slow_connections)
    : plan_(plan),
      index_(index),
      first_connection_(first_connection),
      connections_(connections),
      slow_connections_(slow_connections) {}

LoadThread::~LoadThread() { join(); }

void LoadThread::start() { thread_ = std::thread([this] { run(); }); }

void LoadThread::join() {
  if (thread_.joinable()) thread_.join();
}

void LoadThread::run() {
  {
    LoadLoop loop(*this);
    if (loop.init()) {
      loop.run();
    } else {
      // Could not even start: make the run fail visibly rather than report
      // an empty success.
      std::lock_guard<std::mutex> lock(mu_);
      published_.addError(ErrorKind::kConnect, static_cast<uint64_t>(connections_));
      published_slow_.addError(ErrorKind::kConnect, static_cast<uint64_t>(slow_connections_));
    }
    end_ns_.store(MonoNanos(), std::memory_order_release);
    loop.publish();
    loop.publishMedians();
  }  // connections close here, before done() says so
  done_.store(true, std::memory_order_release);
}

void LoadThread::collect(Stats* into, Stats* slow_into) const {
  std::lock_guard<std::mutex> lock(mu_);
  into->merge(published_);
  slow_into->merge(published_slow_);
}

std::vector<uint64_t> LoadThread::connectionMedians() const {
  std::lock_guard<std::mutex> lock(mu_);
  return medians_;
}

uint64_t LoadThread::TickNs(const Options& options) {
  uint64_t tick = options.timeout_ns / 4;
  if (tick > kMaxTickNs) tick = kMaxTickNs;
  if (tick < kMinTickNs) tick = kMinTickNs;
  return tick;
}

}  // namespace solar::bench
