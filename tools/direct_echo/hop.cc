// direct-echo --hop N: the least a listener -> worker hop can cost (main.cc).
// The loop packs what it reads into one datagram per worker per pass, sends
// it over a UNIX SOCK_DGRAM socketpair to worker fd mod N, and writes each
// record of the datagrams that come back to its connection.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "direct_echo.h"

namespace direct_echo {
namespace {

// One worker process. Every datagram goes back as it came: a record {fd,
// length, bytes} asks for exactly its bytes to be written to fd.
void RunWorker(int req_fd, int reply_fd) {
  Batch batch(8, kHopDatagram);
  while (!g_stop) {
    mmsghdr* msgs = batch.reset();
    int n = recvmmsg(req_fd, msgs, batch.count(), MSG_WAITFORONE, nullptr);
    if (n <= 0) continue;  // EINTR (TERM)
    batch.trim(n);
    if (sendmmsg(reply_fd, msgs, static_cast<unsigned>(n), 0) != n) std::perror("direct-echo: hop sendmmsg");
  }
}

}  // namespace

int RunHop(int listen_fd, int workers) {
  int reply[2];
  if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, reply) != 0) return 1;
  const size_t n = static_cast<size_t>(workers);
  std::vector<int> req_send(n);
  std::vector<pid_t> pids;
  const int big = 4 << 20;
  for (size_t w = 0; w < n; ++w) {
    int req[2];
    pid_t pid = -1;
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, req) != 0 ||
        (pid = ForkWorker(w, listen_fd, [&] {
           close(req[0]);
           close(reply[0]);
           RunWorker(req[1], reply[1]);
         })) < 0) {
      std::perror("direct-echo: hop set-up");
      EndWorkers(pids);
      return 1;
    }
    close(req[1]);
    setsockopt(req[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    req_send[w] = req[0];
    pids.push_back(pid);
  }
  close(reply[1]);
  PinTo(0);
  AnnounceReady();
  const int reply_fd = reply[0];
  fcntl(reply_fd, F_SETFL, O_NONBLOCK);

  Clients clients;
  clients.watch(listen_fd);
  clients.watch(reply_fd);
  std::vector<epoll_event> events(512);
  std::vector<std::string> pending(n);  // this pass's datagram to each worker
  // A read plus its record header fits a 64 KiB datagram, the receive buffers' size.
  std::vector<char> buf(kHopDatagram - sizeof(HopRecord));
  Batch replies(8, kHopDatagram);
  auto drain_replies = [&] {
    for (;;) {
      int got = recvmmsg(reply_fd, replies.reset(), replies.count(), MSG_DONTWAIT, nullptr);
      if (got <= 0) return;
      for (int k = 0; k < got; ++k) {
        const char* p = replies.data(k);
        const char* end = p + replies.length(k);
        while (end - p >= static_cast<std::ptrdiff_t>(sizeof(HopRecord))) {
          HopRecord r;
          std::memcpy(&r, p, sizeof(r));
          p += sizeof(r);
          clients.write(r.fd, p, r.length);  // a failed connection: its read sees the close
          p += r.length;
        }
      }
      if (static_cast<unsigned>(got) < replies.count()) return;  // a short batch: the socket is empty
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
      if (g_stop) break;
    }
    pending[w].clear();
  };
  auto forward = [&](int fd, const char* bytes, size_t len) {
    const size_t w = static_cast<size_t>(fd) % n;
    if (pending[w].size() + sizeof(HopRecord) + len > kHopDatagram) flush(w);
    HopRecord rec{fd, static_cast<uint32_t>(len)};
    pending[w].append(reinterpret_cast<const char*>(&rec), sizeof(rec));
    pending[w].append(bytes, len);
  };
  while (!g_stop) {
    int count = epoll_wait(clients.epoll(), events.data(), static_cast<int>(events.size()), 200);
    for (int i = 0; i < count; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listen_fd) {
        clients.acceptAll(listen_fd);
      } else if (fd == reply_fd) {
        drain_replies();
      } else {
        clients.onEvent(events[i], buf.data(), buf.size(), forward);
      }
    }
    for (size_t w = 0; w < n; ++w) flush(w);  // one datagram per worker per pass
  }
  EndWorkers(pids);
  return 0;
}

}  // namespace direct_echo
