// direct-echo's parts (main.cc says what the tool is for): the client side
// every TCP mode shares, and the two hops.
#pragma once

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

namespace direct_echo {

extern volatile sig_atomic_t g_stop;  // TERM or INT

// Prints "ready HOST:PORT" (once the server, workers included, is set up).
void AnnounceReady();

// Pins the calling process as solar pins its children: ordinal mod the CPUs
// it may run on (the loop is 0, worker i is 1 + i).
void PinTo(size_t ordinal);

// The client side of every TCP mode, in one epoll set: accepted connections
// and the output a socket did not take at once (a connection with output
// waiting is not read until it is sent, as solar's high-water mark does).
class Clients {
 public:
  Clients();
  ~Clients();
  Clients(const Clients&) = delete;
  Clients& operator=(const Clients&) = delete;

  int epoll() const { return ep_; }
  // Adds fd (a listening socket, a reply socketpair, an eventfd) for reading.
  void watch(int fd);
  void acceptAll(int listen_fd);
  // Writes data to fd now, keeping what the socket does not take. False when
  // the connection failed (the caller closes it) or is gone.
  bool write(int fd, const char* data, size_t len);
  // A client's epoll event: sends waiting output, then reads once into buf
  // and hands the bytes to on_read(fd, bytes, n). Closes on EOF or error.
  template <typename F>
  void onEvent(const epoll_event& e, char* buf, size_t cap, F&& on_read);
  void close(int fd);

 private:
  bool flushOut(int fd, std::string& out);  // false: failed and closed
  void wantWrite(int fd, bool on);

  int ep_;
  std::unordered_map<int, std::string> out_;  // every connection, with its waiting output
};

template <typename F>
void Clients::onEvent(const epoll_event& e, char* buf, size_t cap, F&& on_read) {
  const int fd = e.data.fd;
  auto it = out_.find(fd);
  if (it == out_.end()) return;
  if ((e.events & EPOLLOUT) && !flushOut(fd, it->second)) return;
  if (!(e.events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || !it->second.empty()) return;
  ssize_t r = ::read(fd, buf, cap);
  if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
    close(fd);
    return;
  }
  if (r > 0) on_read(fd, buf, static_cast<size_t>(r));
}

// Buffers for one recvmmsg of up to `count` datagrams of up to `size` bytes
// each (with their senders' addresses when `with_names`), which a sendmmsg
// can send back as they came.
class Batch {
 public:
  Batch(size_t count, size_t size, bool with_names = false);
  // Every buffer empty and full-sized again, before a recvmmsg.
  mmsghdr* reset();
  unsigned count() const { return static_cast<unsigned>(msgs_.size()); }
  // After a recvmmsg of n: each iovec as long as its datagram, for sendmmsg.
  void trim(int n);
  const char* data(int i) const { return bufs_[static_cast<size_t>(i)].data(); }
  size_t length(int i) const { return msgs_[static_cast<size_t>(i)].msg_len; }

 private:
  std::vector<std::vector<char>> bufs_;
  std::vector<iovec> iov_;
  std::vector<sockaddr_in6> names_;
  std::vector<mmsghdr> msgs_;
};

// A request or reply crossing a hop: {fd, length}, then length bytes.
struct HopRecord {
  int32_t fd;
  uint32_t length;
};
constexpr size_t kHopDatagram = 64 * 1024;  // largest datagram or record either way

// Forks hop worker w: it dies with this process, drops the listening
// socket, is pinned to CPU 1 + w and runs `run`, then exits. The parent gets
// the pid (-1 when fork failed).
pid_t ForkWorker(size_t w, int listen_fd, const std::function<void()>& run);

// Ends the hop's workers (SIGKILL: they hold nothing, and a TERM that lands
// just before a blocking receive would go unseen) and reaps them.
void EndWorkers(const std::vector<pid_t>& pids);

int RunHop(int listen_fd, int workers);     // hop.cc
int RunHopShm(int listen_fd, int workers);  // hop_shm.cc

}  // namespace direct_echo
