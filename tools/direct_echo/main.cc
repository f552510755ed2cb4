// direct-echo: the reference server of `make bench` — one process, one epoll
// loop, no hop: what a request costs when nothing stands between the socket
// and the code that answers it. solar's CPU per request divided by this one's
// is the price of its architecture (listener -> worker -> listener), printed
// for every scenario so each change sees it (issue 11).
//
//   direct-echo [--disk DIR] [--udp] [--hop N | --hop-shm N] HOST:PORT
//
// TCP: writes back every byte it reads, which is a correct echo for frame32,
// line and raw alike (the reply framing equals the request framing). --disk
// appends what it reads to DIR/direct-echo.data first (the diskecho scenario).
// --udp: one datagram back per datagram, batched with recvmmsg/sendmmsg.
// --hop N: the least a listener -> worker hop can cost. The same loop reads
// each connection but, instead of writing back, packs what it read ({fd,
// length, bytes} records) into one datagram per worker per loop pass and
// sends it over a UNIX SOCK_DGRAM socketpair to one of N forked worker
// processes (fd mod N), which send each datagram back unchanged on one shared
// reply socketpair; the loop writes each record to its fd. Processes are
// pinned as solar pins its children (loop on the first CPU, worker i on CPU
// 1+i mod CPUs). No framing, no record validation, no reassembly, no
// scoreboard, no held list, no libevent: whatever solar costs above this is
// its own code; what this costs above the one-process loop is the hop itself.
// Prints "ready HOST:PORT" on stdout once it listens; stops on TERM or INT.
// Not installed; a benchmark tool only.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

// "ready HOST:PORT", printed once the server (workers included) is set up.
std::string g_ready_line;
void AnnounceReady() {
  std::fputs(g_ready_line.c_str(), stdout);
  std::fflush(stdout);
}

bool ParseAddress(const std::string& text, sockaddr_in* out) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  std::memset(out, 0, sizeof(*out));
  out->sin_family = AF_INET;
  out->sin_port = htons(static_cast<uint16_t>(std::atoi(text.c_str() + colon + 1)));
  return inet_pton(AF_INET, text.substr(0, colon).c_str(), &out->sin_addr) == 1;
}

// Pending output of one connection that the socket did not take at once.
struct Conn {
  std::string out;
};

int RunTcp(int listen_fd, int disk_fd) {
  AnnounceReady();
  int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_fd;
  epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev);
  std::unordered_map<int, Conn> conns;
  std::vector<epoll_event> events(512);
  std::vector<char> buf(64 * 1024);
  auto close_conn = [&](int fd) {
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
    close(fd);
    conns.erase(fd);
  };
  while (!g_stop) {
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 200);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listen_fd) {
        for (;;) {
          int c = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          int one = 1;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
          conns[c];
        }
        continue;
      }
      Conn& conn = conns[fd];
      if (events[i].events & EPOLLOUT) {
        ssize_t w = send(fd, conn.out.data(), conn.out.size(), MSG_NOSIGNAL);
        if (w > 0) conn.out.erase(0, static_cast<size_t>(w));
        if (conn.out.empty()) {
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = fd;
          epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
        }
      }
      if (!(events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || !conn.out.empty()) continue;
      ssize_t r = read(fd, buf.data(), buf.size());
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        close_conn(fd);
        continue;
      }
      if (r < 0) continue;
      if (disk_fd >= 0 && write(disk_fd, buf.data(), static_cast<size_t>(r)) != r) {
        std::perror("direct-echo: write");
        return 1;
      }
      ssize_t w = send(fd, buf.data(), static_cast<size_t>(r), MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN) {
        close_conn(fd);
        continue;
      }
      if (w < r) {  // the client is behind: keep the rest, stop reading until it is sent
        conn.out.assign(buf.data() + (w > 0 ? w : 0), static_cast<size_t>(r - (w > 0 ? w : 0)));
        epoll_event cev{};
        cev.events = EPOLLOUT;
        cev.data.fd = fd;
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
      }
    }
  }
  for (auto& [fd, c] : conns) close(fd);
  close(ep);
  return 0;
}

struct HopRecord {
  int32_t fd;
  uint32_t length;
};
constexpr size_t kHopDatagram = 64 * 1024;  // largest datagram either way

// --hop: one worker process. Every datagram goes back as it came: a record
// {fd, length, bytes} asks for exactly its bytes to be written to fd.
void RunHopWorker(int req_fd, int reply_fd) {
  constexpr int kBatch = 8;
  std::vector<std::vector<char>> bufs(kBatch, std::vector<char>(kHopDatagram));
  std::vector<iovec> iov(kBatch);
  std::vector<mmsghdr> msgs(kBatch);
  while (!g_stop) {
    for (int i = 0; i < kBatch; ++i) {
      iov[i] = {bufs[i].data(), bufs[i].size()};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(req_fd, msgs.data(), kBatch, MSG_WAITFORONE, nullptr);
    if (n <= 0) continue;  // EINTR (TERM)
    for (int i = 0; i < n; ++i) iov[i].iov_len = msgs[i].msg_len;
    if (sendmmsg(reply_fd, msgs.data(), static_cast<unsigned>(n), 0) != n) std::perror("direct-echo: hop sendmmsg");
  }
}


void PinTo(size_t ordinal) {
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return;
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
  }
  if (cpus.empty()) return;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpus[ordinal % cpus.size()], &one);
  sched_setaffinity(0, sizeof(one), &one);
}

int RunHop(int listen_fd, int workers) {
  int reply[2];
  if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, reply) != 0) return 1;
  std::vector<int> req_send(static_cast<size_t>(workers));
  std::vector<pid_t> pids;
  const int big = 4 << 20;
  for (int w = 0; w < workers; ++w) {
    int req[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, req) != 0) return 1;
    setsockopt(req[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      close(listen_fd);
      close(req[0]);
      close(reply[0]);
      PinTo(1 + static_cast<size_t>(w));
      RunHopWorker(req[1], reply[1]);
      _exit(0);
    }
    close(req[1]);
    req_send[static_cast<size_t>(w)] = req[0];
    pids.push_back(pid);
  }
  close(reply[1]);
  PinTo(0);
  AnnounceReady();
  const int reply_fd = reply[0];
  fcntl(reply_fd, F_SETFL, O_NONBLOCK);

  int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_fd;
  epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev);
  ev.data.fd = reply_fd;
  epoll_ctl(ep, EPOLL_CTL_ADD, reply_fd, &ev);
  // A reply for an fd closed meanwhile is dropped; a bench run keeps its
  // connections open, so no fd number is reused while replies are due.
  std::unordered_map<int, Conn> conns;
  std::vector<epoll_event> events(512);
  std::vector<std::string> pending(static_cast<size_t>(workers));
  // A read plus its record header fits a 64 KiB datagram, the receive buffers' size.
  std::vector<char> buf(kHopDatagram - sizeof(HopRecord));
  constexpr int kReplyBatch = 8;
  std::vector<std::vector<char>> rbufs(kReplyBatch, std::vector<char>(kHopDatagram));
  std::vector<iovec> riov(kReplyBatch);
  std::vector<mmsghdr> rmsgs(kReplyBatch);
  auto write_reply = [&](int fd, const char* data, size_t len) {
    auto it = conns.find(fd);
    if (it == conns.end()) return;
    Conn& conn = it->second;
    if (!conn.out.empty()) {
      conn.out.append(data, len);
      return;
    }
    ssize_t w = send(fd, data, len, MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN) return;  // the read side sees the close
    const size_t done = w > 0 ? static_cast<size_t>(w) : 0;
    if (done < len) {
      conn.out.assign(data + done, len - done);
      epoll_event cev{};
      cev.events = EPOLLOUT;
      cev.data.fd = fd;
      epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
    }
  };
  auto drain_replies = [&] {
    for (;;) {
      for (int k = 0; k < kReplyBatch; ++k) {
        riov[k] = {rbufs[k].data(), rbufs[k].size()};
        rmsgs[k] = {};
        rmsgs[k].msg_hdr.msg_iov = &riov[k];
        rmsgs[k].msg_hdr.msg_iovlen = 1;
      }
      int got = recvmmsg(reply_fd, rmsgs.data(), kReplyBatch, MSG_DONTWAIT, nullptr);
      if (got <= 0) break;
      for (int k = 0; k < got; ++k) {
        const char* p = rbufs[k].data();
        const char* end = p + rmsgs[k].msg_len;
        while (end - p >= static_cast<std::ptrdiff_t>(sizeof(HopRecord))) {
          HopRecord r;
          std::memcpy(&r, p, sizeof(r));
          p += sizeof(r);
          write_reply(r.fd, p, r.length);
          p += r.length;
        }
      }
      if (got < kReplyBatch) break;
    }
  };
  // Sends never block the loop for good: on EAGAIN (the worker's queue is
  // full, as it may be while that worker waits for room in the reply queue)
  // the loop takes replies until the datagram fits.
  auto flush = [&](size_t w) {
    if (pending[w].empty()) return;
    while (send(req_send[w], pending[w].data(), pending[w].size(), MSG_DONTWAIT) < 0) {
      if (errno != EAGAIN && errno != EINTR) {
        std::perror("direct-echo: hop send");
        break;
      }
      pollfd p[2] = {{req_send[w], POLLOUT, 0}, {reply_fd, POLLIN, 0}};
      poll(p, 2, 100);
      if (p[1].revents & POLLIN) drain_replies();
    }
    pending[w].clear();
  };
  while (!g_stop) {
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 200);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listen_fd) {
        for (;;) {
          int c = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          int one = 1;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
          conns[c];
        }
        continue;
      }
      if (fd == reply_fd) {
        drain_replies();
        continue;
      }
      Conn& conn = conns[fd];
      if (events[i].events & EPOLLOUT) {
        ssize_t w = send(fd, conn.out.data(), conn.out.size(), MSG_NOSIGNAL);
        if (w > 0) conn.out.erase(0, static_cast<size_t>(w));
        if (conn.out.empty()) {
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = fd;
          epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
        }
      }
      if (!(events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || !conn.out.empty()) continue;
      ssize_t r = read(fd, buf.data(), buf.size());
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
        close(fd);
        conns.erase(fd);
        continue;
      }
      if (r < 0) continue;
      const size_t w = static_cast<size_t>(fd % workers);
      if (pending[w].size() + sizeof(HopRecord) + static_cast<size_t>(r) > kHopDatagram) flush(w);
      HopRecord rec{fd, static_cast<uint32_t>(r)};
      pending[w].append(reinterpret_cast<const char*>(&rec), sizeof(rec));
      pending[w].append(buf.data(), static_cast<size_t>(r));
    }
    for (size_t w = 0; w < pending.size(); ++w) flush(w);  // one datagram per worker per pass
  }
  for (pid_t pid : pids) kill(pid, SIGTERM);
  for (pid_t pid : pids) waitpid(pid, nullptr, 0);
  for (auto& [fd, c] : conns) close(fd);
  close(ep);
  return 0;
}

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
void RunShmWorker(ShmLoop* loop, ShmHop* hop, int efd, int loop_efd) {
  while (!g_stop) {
    bool replied = false;
    hop->req.drain([&](int fd, const char* bytes, size_t n) {
      while (!hop->reply.push(fd, bytes, n)) {
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
    pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      close(listen_fd);
      PinTo(1 + w);
      RunShmWorker(loop, &hops[w], worker_efd[w], loop_efd);
      _exit(0);
    }
    pids.push_back(pid);
  }
  PinTo(0);
  AnnounceReady();
  std::atomic<uint32_t>* loop_sleeping = &loop->sleeping;

  int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_fd;
  epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev);
  ev.data.fd = loop_efd;
  epoll_ctl(ep, EPOLL_CTL_ADD, loop_efd, &ev);
  std::unordered_map<int, Conn> conns;
  std::vector<epoll_event> events(512);
  std::vector<char> buf(kHopDatagram - sizeof(HopRecord));
  std::vector<char> pushed(n);
  auto write_reply = [&](int fd, const char* data, size_t len) {
    auto it = conns.find(fd);
    if (it == conns.end()) return;
    Conn& conn = it->second;
    if (!conn.out.empty()) {
      conn.out.append(data, len);
      return;
    }
    ssize_t w = send(fd, data, len, MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN) return;
    const size_t done = w > 0 ? static_cast<size_t>(w) : 0;
    if (done < len) {
      conn.out.assign(data + done, len - done);
      epoll_event cev{};
      cev.events = EPOLLOUT;
      cev.data.fd = fd;
      epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
    }
  };
  auto drain_replies = [&] {
    for (size_t w = 0; w < n; ++w) hops[w].reply.drain(write_reply);
  };
  while (!g_stop) {
    loop_sleeping->store(1, std::memory_order_seq_cst);
    bool ready = false;
    for (size_t w = 0; w < n && !ready; ++w) ready = !hops[w].reply.empty();
    int count = epoll_wait(ep, events.data(), static_cast<int>(events.size()), ready ? 0 : 200);
    loop_sleeping->store(0, std::memory_order_relaxed);
    for (int i = 0; i < count; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listen_fd) {
        for (;;) {
          int c = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          int one = 1;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
          conns[c];
        }
        continue;
      }
      if (fd == loop_efd) {
        uint64_t v;
        if (read(loop_efd, &v, sizeof(v)) < 0 && errno != EAGAIN) std::perror("direct-echo: eventfd read");
        continue;
      }
      Conn& conn = conns[fd];
      if (events[i].events & EPOLLOUT) {
        ssize_t w = send(fd, conn.out.data(), conn.out.size(), MSG_NOSIGNAL);
        if (w > 0) conn.out.erase(0, static_cast<size_t>(w));
        if (conn.out.empty()) {
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = fd;
          epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
        }
      }
      if (!(events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || !conn.out.empty()) continue;
      ssize_t r = read(fd, buf.data(), buf.size());
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
        close(fd);
        conns.erase(fd);
        continue;
      }
      if (r < 0) continue;
      const size_t w = static_cast<size_t>(fd) % n;
      while (!hops[w].req.push(fd, buf.data(), static_cast<size_t>(r))) {
        Wake(&hops[w].req.sleeping, worker_efd[w]);
        drain_replies();
        sched_yield();
      }
      pushed[w] = 1;
    }
    for (size_t w = 0; w < n; ++w) {  // wake a sleeping worker once per pass
      if (pushed[w]) Wake(&hops[w].req.sleeping, worker_efd[w]);
      pushed[w] = 0;
    }
    drain_replies();
  }
  for (pid_t pid : pids) kill(pid, SIGTERM);
  for (pid_t pid : pids) waitpid(pid, nullptr, 0);
  for (auto& [fd, c] : conns) close(fd);
  close(ep);
  return 0;
}

int RunUdp(int fd) {
  AnnounceReady();
  constexpr int kBatch = 64;
  std::vector<std::vector<char>> bufs(kBatch, std::vector<char>(65536));
  std::vector<iovec> iov(kBatch);
  std::vector<sockaddr_in6> addrs(kBatch);
  std::vector<mmsghdr> msgs(kBatch);
  while (!g_stop) {
    for (int i = 0; i < kBatch; ++i) {
      iov[i] = {bufs[i].data(), bufs[i].size()};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &addrs[i];
      msgs[i].msg_hdr.msg_namelen = sizeof(addrs[i]);
    }
    // recvmmsg's own timeout is only looked at after a datagram arrives: poll
    // first, so a TERM is seen within 200 ms on an idle socket.
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    int n = recvmmsg(fd, msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) continue;
    for (int i = 0; i < n; ++i) iov[i].iov_len = msgs[i].msg_len;
    sendmmsg(fd, msgs.data(), static_cast<unsigned>(n), 0);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string disk_dir, address;
  bool udp = false;
  int hop = 0;
  bool shm = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--disk" && i + 1 < argc) {
      disk_dir = argv[++i];
    } else if (a == "--udp") {
      udp = true;
    } else if ((a == "--hop" || a == "--hop-shm") && i + 1 < argc && std::atoi(argv[i + 1]) > 0) {
      shm = a == "--hop-shm";
      hop = std::atoi(argv[++i]);
    } else if (address.empty() && a[0] != '-') {
      address = a;
    } else {
      std::fprintf(stderr, "usage: direct-echo [--disk DIR] [--udp] [--hop N | --hop-shm N] HOST:PORT\n");
      return 2;
    }
  }
  sockaddr_in addr;
  if (!ParseAddress(address, &addr)) {
    std::fprintf(stderr, "usage: direct-echo [--disk DIR] [--udp] [--hop N | --hop-shm N] HOST:PORT (IPv4)\n");
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = OnSignal;  // no SA_RESTART: a blocked call returns EINTR and the loop sees g_stop
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  int fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM | SOCK_NONBLOCK) | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || (!udp && listen(fd, 1024) != 0)) {
    std::perror("direct-echo: bind/listen");
    return 1;
  }
  if (udp) {
    int rcv = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  char host[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &addr.sin_addr, host, sizeof(host));
  g_ready_line = "ready " + std::string(host) + ":" + std::to_string(ntohs(addr.sin_port)) + "\n";
  int disk_fd = -1;
  if (!disk_dir.empty()) {
    disk_fd = open((disk_dir + "/direct-echo.data").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (disk_fd < 0) {
      std::perror("direct-echo: open");
      return 1;
    }
  }
  if (hop > 0 && (udp || disk_fd >= 0)) {
    std::fprintf(stderr, "direct-echo: --hop is TCP echo only\n");
    return 2;
  }
  if (hop > 0) return shm ? RunHopShm(fd, hop) : RunHop(fd, hop);
  return udp ? RunUdp(fd) : RunTcp(fd, disk_fd);
}
