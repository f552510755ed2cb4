// direct-echo: the reference server of `make bench` — one process, one epoll
// loop, no hop: what a request costs when nothing stands between the socket
// and the code that answers it. solar's CPU per request divided by this one's
// is the price of its architecture (listener -> worker -> listener), printed
// for every scenario so each change sees it (issue 11).
//
//   direct-echo [--disk DIR] [--udp] HOST:PORT
//
// TCP: writes back every byte it reads, which is a correct echo for frame32,
// line and raw alike (the reply framing equals the request framing). --disk
// appends what it reads to DIR/direct-echo.data first (the diskecho scenario).
// --udp: one datagram back per datagram, batched with recvmmsg/sendmmsg.
// Prints "ready HOST:PORT" on stdout once it listens; stops on TERM or INT.
// Not installed; a benchmark tool only.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

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

int RunUdp(int fd) {
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
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--disk" && i + 1 < argc) {
      disk_dir = argv[++i];
    } else if (a == "--udp") {
      udp = true;
    } else if (address.empty() && a[0] != '-') {
      address = a;
    } else {
      std::fprintf(stderr, "usage: direct-echo [--disk DIR] [--udp] HOST:PORT\n");
      return 2;
    }
  }
  sockaddr_in addr;
  if (!ParseAddress(address, &addr)) {
    std::fprintf(stderr, "usage: direct-echo [--disk DIR] [--udp] HOST:PORT (IPv4)\n");
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
  std::printf("ready %s:%d\n", host, ntohs(addr.sin_port));
  std::fflush(stdout);
  int disk_fd = -1;
  if (!disk_dir.empty()) {
    disk_fd = open((disk_dir + "/direct-echo.data").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (disk_fd < 0) {
      std::perror("direct-echo: open");
      return 1;
    }
  }
  return udp ? RunUdp(fd) : RunTcp(fd, disk_fd);
}
