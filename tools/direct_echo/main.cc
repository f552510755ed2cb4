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
// --hop-shm N: the same hop over shared-memory rings and eventfd wake-ups
// (RunHopShm): what the hop costs without the kernel's datagrams.
// Prints "ready HOST:PORT" on stdout once it (workers included) is set up;
// stops on TERM or INT.
// Not installed; a benchmark tool only.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "direct_echo.h"

namespace direct_echo {

volatile sig_atomic_t g_stop = 0;

static std::string g_ready_line;  // set by main once the socket is bound

void AnnounceReady() {
  std::fputs(g_ready_line.c_str(), stdout);
  std::fflush(stdout);
}

}  // namespace direct_echo

namespace {

using namespace direct_echo;

void OnSignal(int) { g_stop = 1; }

bool ParseAddress(const std::string& text, sockaddr_in* out) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  std::memset(out, 0, sizeof(*out));
  out->sin_family = AF_INET;
  out->sin_port = htons(static_cast<uint16_t>(std::atoi(text.c_str() + colon + 1)));
  return inet_pton(AF_INET, text.substr(0, colon).c_str(), &out->sin_addr) == 1;
}

// One process: every read written straight back (after the disk in --disk).
int RunTcp(int listen_fd, int disk_fd) {
  AnnounceReady();
  Clients clients;
  clients.watch(listen_fd);
  std::vector<epoll_event> events(512);
  std::vector<char> buf(64 * 1024);
  bool disk_failed = false;
  auto echo = [&](int fd, const char* bytes, size_t len) {
    if (disk_fd >= 0 && write(disk_fd, bytes, len) != static_cast<ssize_t>(len)) {
      std::perror("direct-echo: write");
      disk_failed = true;
      return;
    }
    if (!clients.write(fd, bytes, len)) clients.close(fd);
  };
  while (!g_stop && !disk_failed) {
    int n = epoll_wait(clients.epoll(), events.data(), static_cast<int>(events.size()), 200);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.fd == listen_fd) {
        clients.acceptAll(listen_fd);
      } else {
        clients.onEvent(events[i], buf.data(), buf.size(), echo);
      }
    }
  }
  return disk_failed ? 1 : 0;
}

int RunUdp(int fd) {
  AnnounceReady();
  Batch batch(64, 65536, /*with_names=*/true);
  while (!g_stop) {
    // recvmmsg's own timeout is only looked at after a datagram arrives: poll
    // first, so a TERM is seen within 200 ms on an idle socket.
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    mmsghdr* msgs = batch.reset();
    int n = recvmmsg(fd, msgs, batch.count(), MSG_DONTWAIT, nullptr);
    if (n <= 0) continue;
    batch.trim(n);
    sendmmsg(fd, msgs, static_cast<unsigned>(n), 0);
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
  if (hop > 0 && (udp || !disk_dir.empty())) {
    std::fprintf(stderr, "direct-echo: --hop and --hop-shm are TCP echo only\n");
    return 2;
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
  direct_echo::g_ready_line = "ready " + std::string(host) + ":" + std::to_string(ntohs(addr.sin_port)) + "\n";
  int disk_fd = -1;
  if (!disk_dir.empty()) {
    disk_fd = open((disk_dir + "/direct-echo.data").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (disk_fd < 0) {
      std::perror("direct-echo: open");
      return 1;
    }
  }
  if (hop > 0) return shm ? RunHopShm(fd, hop) : RunHop(fd, hop);
  return udp ? RunUdp(fd) : RunTcp(fd, disk_fd);
}
