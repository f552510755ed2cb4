// direct-echo --hop-shm N: the hop of --hop over shared memory (main.cc).
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <new>
#include <vector>

#include "direct_echo.h"

namespace direct_echo {
namespace {

// --hop-shm N: the same hop over shared memory instead of socketpairs. Per
// worker, one ring each way in a MAP_SHARED mapping made before fork (one
// producer, one consumer, records {fd, length, bytes} that never wrap), and
// an eventfd that a producer writes only when the consumer said it was about
// to sleep. What the hop would cost with no socketpair: no datagram, no
// kernel copy, a syscall only to wake a sleeper. A full ring makes the
// producer yield until there is room (a benchmark tool: a closed-loop bench
// never fills 1 MiB).
struct alignas(64) ShmRing {
  static constexpr uint64_t kBytes = 1 << 20;
  alignas(64) std::atomic<uint64_t> head{0};  // consumer: bytes taken, ever
  alignas(64) std::atomic<uint64_t> tail{0};  // producer: bytes published, ever
  alignas(64) std::atomic<uint32_t> sleeping{0};  // the consumer is about to block
  alignas(64) char data[kBytes];

  static uint64_t Need(size_t n) { return (sizeof(HopRecord) + n + 7) & ~uint64_t{7}; }
  bool empty() const { return head.load(std::memory_order_relaxed) == tail.load(std::memory_order_seq_cst); }
  // False when full. Seq_cst with `sleeping`: the consumer stores sleeping,
  // then loads tail; the producer stores tail, then exchanges sleeping. One
  // of them sees the other (Dekker), so no wake-up is lost.
  bool push(int fd, const char* bytes, size_t n) {
    const uint64_t t = tail.load(std::memory_order_relaxed);
    const uint64_t h = head.load(std::memory_order_acquire);
    const uint64_t need = Need(n);
    const uint64_t room_to_end = kBytes - t % kBytes;
    const uint64_t pad = room_to_end < need ? room_to_end : 0;
    if (kBytes - (t - h) < pad + need) return false;
    uint64_t at = t;
    if (pad) {  // a record never wraps: skip to the start
      HopRecord skip{-1, static_cast<uint32_t>(pad - sizeof(HopRecord))};
      std::memcpy(data + at % kBytes, &skip, sizeof(skip));
      at += pad;
    }
    HopRecord r{fd, static_cast<uint32_t>(n)};
    std::memcpy(data + at % kBytes, &r, sizeof(r));
    std::memcpy(data + at % kBytes + sizeof(r), bytes, n);
    tail.store(at + need, std::memory_order_seq_cst);
    return true;
  }
  // Calls f(fd, bytes, n) for every published record, then frees them.
  template <typename F>
  bool drain(F&& f) {
    uint64_t h = head.load(std::memory_order_relaxed);
    const uint64_t t = tail.load(std::memory_order_acquire);
    if (h == t) return false;
    while (h != t) {
      HopRecord r;
      std::memcpy(&r, data + h % kBytes, sizeof(r));
      if (r.fd >= 0) f(r.fd, data + h % kBytes + sizeof(r), static_cast<size_t>(r.length));
      h += Need(r.length);
    }
    head.store(h, std::memory_order_release);
    return true;
  }
};

struct ShmHop {
  ShmRing req;
  ShmRing reply;
};

// The start of the mapping: every worker wakes the loop through this flag.
struct alignas(64) ShmLoop {
  std::atomic<uint32_t> sleeping{0};
};

void Wake(std::atomic<uint32_t>* sleeping, int efd) {
  if (sleeping->exchange(0, std::memory_order_seq_cst) == 1) {
    const uint64_t one = 1;
    if (write(efd, &one, sizeof(one)) < 0) std::perror("direct-echo: eventfd write");
  }
}

// --hop-shm: one worker process; echoes each request record into its reply ring.
void RunWorker(ShmLoop* loop, ShmHop* hop, int efd, int loop_efd) {
  while (!g_stop) {
    bool replied = false;
    hop->req.drain([&](int fd, const char* bytes, size_t n) {
      while (!hop->reply.push(fd, bytes, n) && !g_stop) {
        Wake(&loop->sleeping, loop_efd);
        sched_yield();
      }
      replied = true;
    });
    if (replied) {
      Wake(&loop->sleeping, loop_efd);
      continue;
    }
    hop->req.sleeping.store(1, std::memory_order_seq_cst);
    if (hop->req.empty()) {
      uint64_t count;
      if (read(efd, &count, sizeof(count)) < 0 && errno != EINTR) std::perror("direct-echo: eventfd read");
    }
    hop->req.sleeping.store(0, std::memory_order_relaxed);
  }
}

}  // namespace

int RunHopShm(int listen_fd, int workers) {
  const size_t n = static_cast<size_t>(workers);
  void* mem = mmap(nullptr, sizeof(ShmLoop) + sizeof(ShmHop) * n, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return 1;
  ShmLoop* loop = new (mem) ShmLoop;
  ShmHop* hops = static_cast<ShmHop*>(static_cast<void*>(static_cast<char*>(mem) + sizeof(ShmLoop)));
  for (size_t w = 0; w < n; ++w) new (&hops[w]) ShmHop;
  std::vector<int> worker_efd(n);
  const int loop_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  std::vector<pid_t> pids;
  for (size_t w = 0; w < n; ++w) {
    worker_efd[w] = eventfd(0, EFD_CLOEXEC);
    pid_t pid = -1;
    if (loop_efd < 0 || worker_efd[w] < 0 ||
        (pid = ForkWorker(w, listen_fd, [&] { RunWorker(loop, &hops[w], worker_efd[w], loop_efd); })) < 0) {
      std::perror("direct-echo: hop-shm set-up");
      EndWorkers(pids);
      return 1;
    }
    pids.push_back(pid);
  }
  PinTo(0);
  AnnounceReady();

  Clients clients;
  clients.watch(listen_fd);
  clients.watch(loop_efd);
  std::vector<epoll_event> events(512);
  std::vector<char> buf(kHopDatagram - sizeof(HopRecord));
  std::vector<char> pushed(n);
  auto write_reply = [&](int fd, const char* data, size_t len) { clients.write(fd, data, len); };
  auto drain_replies = [&] {
    for (size_t w = 0; w < n; ++w) hops[w].reply.drain(write_reply);
  };
  auto forward = [&](int fd, const char* bytes, size_t len) {
    const size_t w = static_cast<size_t>(fd) % n;
    while (!hops[w].req.push(fd, bytes, len) && !g_stop) {
      Wake(&hops[w].req.sleeping, worker_efd[w]);
      drain_replies();
      sched_yield();
    }
    pushed[w] = 1;
  };
  while (!g_stop) {
    // About to sleep: say so, then look once more (see ShmRing::push).
    loop->sleeping.store(1, std::memory_order_seq_cst);
    bool ready = false;
    for (size_t w = 0; w < n && !ready; ++w) ready = !hops[w].reply.empty();
    int count = epoll_wait(clients.epoll(), events.data(), static_cast<int>(events.size()), ready ? 0 : 200);
    loop->sleeping.store(0, std::memory_order_relaxed);
    for (int i = 0; i < count; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listen_fd) {
        clients.acceptAll(listen_fd);
      } else if (fd == loop_efd) {
        uint64_t v;
        if (read(loop_efd, &v, sizeof(v)) < 0 && errno != EAGAIN) std::perror("direct-echo: eventfd read");
      } else {
        clients.onEvent(events[i], buf.data(), buf.size(), forward);
      }
    }
    for (size_t w = 0; w < n; ++w) {  // wake a sleeping worker once per pass
      if (pushed[w]) Wake(&hops[w].req.sleeping, worker_efd[w]);
      pushed[w] = 0;
    }
    drain_replies();
  }
  EndWorkers(pids);
  return 0;
}

}  // namespace direct_echo
