#include "runner.h"

#include <netdb.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <vector>

#include "clock.h"
#include "load_thread.h"
#include "run_plan.h"

namespace solar::bench {
namespace {

constexpr uint64_t kProgressEveryNs = 1'000'000'000;
// How often the main thread looks at the threads; it sleeps in sigtimedwait
// in between, so a signal still stops the run at once.
constexpr uint64_t kSuperviseEveryNs = 20'000'000;
constexpr uint64_t kTimelineEveryNs = 100'000'000;

// The wall clock in milliseconds: the timeline's lines are lined up with
// events outside the bench (a process killed at a known time).
uint64_t WallMillis() {
  timespec t{};
  clock_gettime(CLOCK_REALTIME, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1000 + static_cast<uint64_t>(t.tv_nsec) / 1'000'000;
}
// Descriptors beyond one per connection: stdio, the event loops' epoll and timerfds.
constexpr rlim_t kSpareFds = 64;

}  // namespace

std::string ResolveTarget(const Options& o, sockaddr_storage* address, socklen_t* length) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = o.proto == Proto::kUdp ? SOCK_DGRAM : SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(o.host.c_str(), o.port.c_str(), &hints, &found);
  if (rc != 0) return "cannot resolve '" + o.host + "': " + gai_strerror(rc);
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owner(found, &freeaddrinfo);
  std::memcpy(address, found->ai_addr, found->ai_addrlen);
  *length = found->ai_addrlen;
  return "";
}

std::string EnsureFileLimit(size_t wanted) {
  const rlim_t fds = static_cast<rlim_t>(wanted) + kSpareFds;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return std::string("getrlimit(RLIMIT_NOFILE) failed: ") + strerror(errno);
  if (limit.rlim_cur >= fds) return "";
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < fds) {
    return "need " + std::to_string(fds) + " open files but the hard limit is " + std::to_string(limit.rlim_max) +
           " (ulimit -Hn)";
  }
  limit.rlim_cur = fds;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) return std::string("setrlimit(RLIMIT_NOFILE) failed: ") + strerror(errno);
  return "";
}

RunResult RunBench(const Options& o, const sockaddr_storage& address, socklen_t length, bool progress) {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigset_t old_mask;
  pthread_sigmask(SIG_BLOCK, &stop_signals, &old_mask);  // before the threads exist: they inherit it

  RunPlan plan;
  plan.options = o;
  plan.address = address;
  plan.address_length = length;
  plan.start_ns = MonoNanos();
  plan.warmup_end_ns = plan.start_ns + o.warmup_ns;
  plan.deadline_ns = o.hasDeadline() ? plan.warmup_end_ns + o.duration_ns : kNoDeadline;
  plan.budget.store(static_cast<int64_t>(o.requests));

  // Connections are dealt out as evenly as they go: the first threads take
  // one more. The slow ones likewise, so no thread's loop carries them all.
  auto share = [&o](int total, int t) { return total / o.threads + (t < total % o.threads ? 1 : 0); };
  std::vector<std::unique_ptr<LoadThread>> threads;
  int first = 0;
  for (int t = 0; t < o.threads; ++t) {
    const int n = share(o.connections, t);
    threads.push_back(std::make_unique<LoadThread>(plan, t, first, n, share(o.slow_connections, t)));
    first += n;
  }
  for (auto& thread : threads) thread->start();

  RunResult result;
  result.warmup_ns = o.warmup_ns;
  uint64_t next_progress = plan.start_ns + kProgressEveryNs;
  uint64_t last_answered = 0;
  uint64_t last_progress = plan.start_ns;
  FILE* timeline = o.timeline_path.empty() ? nullptr : std::fopen(o.timeline_path.c_str(), "w");
  if (!o.timeline_path.empty() && timeline == nullptr) std::perror(("solar-bench: " + o.timeline_path).c_str());
  uint64_t next_timeline = plan.start_ns;
  for (;;) {
    const timespec wait = {0, static_cast<long>(kSuperviseEveryNs)};
    if (sigtimedwait(&stop_signals, nullptr, &wait) > 0 && !plan.stop.load()) {
      plan.stop.store(true);
      result.interrupted = true;
    }
    if (std::all_of(threads.begin(), threads.end(), [](const auto& t) { return t->done(); })) break;
    const uint64_t now = MonoNanos();
    if (timeline != nullptr && now >= next_timeline) {
      Stats so_far;
      Stats slow_so_far;
      for (const auto& thread : threads) thread->collect(&so_far, &slow_so_far);
      std::fprintf(timeline, "%llu %llu %llu %llu\n", static_cast<unsigned long long>(WallMillis()),
                   static_cast<unsigned long long>((now - plan.start_ns) / 1'000'000),
                   static_cast<unsigned long long>(so_far.answered),
                   static_cast<unsigned long long>(so_far.totalErrors() + slow_so_far.totalErrors()));
      std::fflush(timeline);
      next_timeline += kTimelineEveryNs;
    }
    if (progress && now >= next_progress) {
      Stats so_far;
      Stats slow_so_far;
      for (const auto& thread : threads) thread->collect(&so_far, &slow_so_far);
      so_far.mergeErrors(slow_so_far);  // a slow connection's failure is the run's
      // The rate counts every reply, so the warm-up shows its load too; the
      // p99 is of measured requests only.
      const double rate =
          static_cast<double>(so_far.answered - last_answered) / (static_cast<double>(now - last_progress) / 1e9);
      const bool warm_up_interval = last_progress < plan.warmup_end_ns;
      const std::string line =
          FormatProgress(static_cast<double>(now - plan.start_ns) / 1e9, warm_up_interval, rate, so_far);
      std::fputs(line.c_str(), stderr);
      last_answered = so_far.answered;
      last_progress = now;
      next_progress += kProgressEveryNs;
    }
  }

  if (timeline != nullptr) std::fclose(timeline);
  uint64_t end_ns = 0;
  for (auto& thread : threads) {
    thread->join();
    thread->collect(&result.stats, &result.slow);
    end_ns = std::max(end_ns, thread->endNs());
    const std::vector<uint64_t> medians = thread->connectionMedians();
    result.connection_medians_ns.insert(result.connection_medians_ns.end(), medians.begin(), medians.end());
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  // Errors are the whole run's, whichever connection had them: they set the
  // exit status. result.slow keeps its own count for the report.
  result.stats.mergeErrors(result.slow);

  // The measured time ends at the deadline, even if the threads had nothing
  // left to do before it (an open loop whose last request was due earlier):
  // the rate is per second of the time asked for. It ends earlier only when
  // the run was cut short by a signal or by reaching --requests.
  const bool budget_spent = o.requests > 0 && plan.budget.load() <= 0;
  if (plan.deadline_ns != kNoDeadline && !result.interrupted && !budget_spent) end_ns = plan.deadline_ns;
  // A spent budget ends the measured time at the last -c reply, not when the
  // slow connections' last request (which could not be cut short) came back.
  if (budget_spent && o.slow_connections > 0 && result.stats.last_reply_ns > 0) {
    end_ns = std::min(end_ns, result.stats.last_reply_ns);
  }
  end_ns = std::min(end_ns, plan.deadline_ns);
  result.seconds = end_ns > plan.warmup_end_ns ? static_cast<double>(end_ns - plan.warmup_end_ns) / 1e9 : 0;
  return result;
}

}  // namespace solar::bench
