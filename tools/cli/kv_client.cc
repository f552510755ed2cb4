#include "kv_client.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace solar::cli {
namespace {

// The largest reply accepted over TCP: solar's max_frame_bytes can be raised,
// so allow well beyond its 4 MiB default without trusting any length.
constexpr uint32_t kMaxReplyBytes = 256u << 20;
constexpr size_t kMaxDatagram = 65535;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string Errno(const char* call) { return std::string(call) + ": " + std::strerror(errno); }

// Waits for `events` on fd until the deadline: 1 ready, 0 timed out, -1 error.
int WaitFd(int fd, short events, int64_t deadline_ms) {
  for (;;) {
    const int64_t left = deadline_ms - NowMs();
    if (left <= 0) return 0;
    pollfd p{fd, events, 0};
    const int r = poll(&p, 1, static_cast<int>(left));
    if (r >= 0) return r;
    if (errno != EINTR) return -1;
  }
}

}  // namespace

bool SplitTarget(const std::string& target, std::string* host, std::string* port) {
  size_t colon;
  if (!target.empty() && target[0] == '[') {
    const size_t close = target.find(']');
    if (close == std::string::npos || close + 1 >= target.size() || target[close + 1] != ':') return false;
    *host = target.substr(1, close - 1);
    colon = close + 1;
  } else {
    colon = target.rfind(':');
    if (colon == std::string::npos) return false;
    *host = target.substr(0, colon);
    if (host->find(':') != std::string::npos) return false;
  }
  *port = target.substr(colon + 1);
  if (host->empty() || port->empty() || port->size() > 5) return false;
  for (char c : *port) {
    if (c < '0' || c > '9') return false;
  }
  const int p = std::stoi(*port);
  return p >= 1 && p <= 65535;
}

KvClient::~KvClient() { close(); }

void KvClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool KvClient::connect(const std::string& target, Transport transport, int timeout_ms, std::string* error) {
  close();
  transport_ = transport;
  timeout_ms_ = timeout_ms;
  std::string host, port;
  if (!SplitTarget(target, &host, &port)) {
    *error = "invalid server address '" + target + "': expected HOST:PORT or [IPV6]:PORT";
    return false;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = transport == kTcp ? SOCK_STREAM : SOCK_DGRAM;
  addrinfo* list = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &list); rc != 0) {
    *error = "cannot resolve " + host + ": " + gai_strerror(rc);
    return false;
  }
  const int64_t deadline = NowMs() + timeout_ms;
  *error = "no address for " + target;
  for (addrinfo* a = list; a != nullptr; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      *error = Errno("socket()");
      continue;
    }
    // connect() on UDP only fixes the peer: replies from anyone else are
    // dropped by the kernel, and an ICMP "port unreachable" becomes an error.
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      *error = "connect to " + target + ": " + std::strerror(errno);
      ::close(fd);
      continue;
    }
    if (transport == kTcp) {
      const int w = WaitFd(fd, POLLOUT, deadline);
      int so_error = 0;
      socklen_t len = sizeof(so_error);
      if (w <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0 || so_error != 0) {
        *error = "connect to " + target + ": " + (w == 0 ? "timed out" : std::strerror(so_error ? so_error : errno));
        ::close(fd);
        continue;
      }
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    fd_ = fd;
    break;
  }
  freeaddrinfo(list);
  if (fd_ < 0) return false;
  error->clear();
  return true;
}

bool KvClient::sendAll(const std::string& bytes, std::string* error) {
  const int64_t deadline = NowMs() + timeout_ms_;
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
      if (transport_ == kUdp) break;  // a datagram goes whole or not at all
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (WaitFd(fd_, POLLOUT, deadline) > 0) continue;
      *error = "send: timed out";
      return false;
    }
    *error = Errno("send");
    return false;
  }
  return true;
}

bool KvClient::readExactly(size_t n, std::string* out, int64_t deadline_ms, std::string* error) {
  out->clear();
  char buf[65536];
  while (out->size() < n) {
    const ssize_t k = ::recv(fd_, buf, std::min(sizeof(buf), n - out->size()), 0);
    if (k > 0) {
      out->append(buf, static_cast<size_t>(k));
      continue;
    }
    if (k == 0) {
      *error = "the server closed the connection";
      return false;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      *error = Errno("recv");
      return false;
    }
    if (WaitFd(fd_, POLLIN, deadline_ms) <= 0) {
      *error = "no reply within " + std::to_string(timeout_ms_) + " ms";
      return false;
    }
  }
  return true;
}

bool KvClient::receive(std::string* payload, std::string* error) {
  const int64_t deadline = NowMs() + timeout_ms_;
  if (transport_ == kUdp) {
    payload->resize(kMaxDatagram);
    for (;;) {
      const ssize_t k = ::recv(fd_, payload->data(), payload->size(), 0);
      if (k >= 0) {
        payload->resize(static_cast<size_t>(k));
        return true;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        *error = Errno("recv");
        return false;
      }
      if (WaitFd(fd_, POLLIN, deadline) <= 0) {
        *error = "no reply within " + std::to_string(timeout_ms_) + " ms";
        return false;
      }
    }
  }
  std::string header;
  if (!readExactly(4, &header, deadline, error)) return false;
  uint32_t be;
  std::memcpy(&be, header.data(), 4);
  const uint32_t word = ntohl(be);
  // Bit 31: an error reply; the rest is the length of its message. The
  // connection stays usable, but this request failed.
  const uint32_t length = word & 0x7fffffffu;
  if (length > kMaxReplyBytes) {
    *error = "reply frame of " + std::to_string(length) + " bytes is implausible";
    return false;
  }
  if (!readExactly(length, payload, deadline, error)) return false;
  if (word & 0x80000000u) {
    *error = "the server answered with an error: " + *payload;
    return false;
  }
  return true;
}

bool KvClient::call(const kv::KvRequest& request, kv::KvResponse* response, std::string* error) {
  if (fd_ < 0) {
    *error = "not connected";
    return false;
  }
  kv::KvRequest numbered = request;
  const uint64_t id = next_id_++;
  numbered.set_id(id);
  std::string body = numbered.SerializeAsString();
  if (transport_ == kTcp) {
    const uint32_t be = htonl(static_cast<uint32_t>(body.size()));
    body.insert(0, reinterpret_cast<const char*>(&be), 4);
  }
  if (!sendAll(body, error)) return false;
  // Over UDP a late reply to an earlier request may arrive first: skip it.
  for (;;) {
    std::string payload;
    if (!receive(&payload, error)) return false;
    if (!response->ParseFromString(payload)) {
      *error = "the reply (" + std::to_string(payload.size()) + " bytes) is not a solar.kv.KvResponse";
      return false;
    }
    if (transport_ == kTcp || response->id() == id) return true;
  }
}

}  // namespace solar::cli
