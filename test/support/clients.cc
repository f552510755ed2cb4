#include "clients.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <random>
#include <vector>

#include "server_harness.h"

namespace solar::testing {

namespace {

struct Conn {
  int fd = -1;
  std::mt19937 rng;
  int to_send = 0;
  std::string out;  // bytes not yet written
  size_t out_pos = 0;
  std::deque<std::string> expected;
  std::string in;
  bool done = false;
};

std::string NextPayload(Conn& c, const PipelineOptions& o) {
  std::uniform_int_distribution<size_t> size(o.min_size, o.max_size);
  std::string p(size(c.rng), '\0');
  for (auto& ch : p) ch = static_cast<char>(c.rng());
  return p;
}

}  // namespace

PipelineResult RunPipelined(int port, const PipelineOptions& o) {
  PipelineResult r;
  std::vector<Conn> conns(static_cast<size_t>(o.connections));
  for (size_t i = 0; i < conns.size(); ++i) {
    conns[i].fd = ConnectTcp(port);
    conns[i].rng.seed(o.seed * 7919 + static_cast<unsigned>(i));
    conns[i].to_send = o.requests_per_connection;
    if (conns[i].fd < 0) {
      r.first_error = "connect failed";
      conns[i].done = true;
      continue;
    }
    fcntl(conns[i].fd, F_SETFL, O_NONBLOCK);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.timeout_ms);
  std::vector<char> buf(256 * 1024);
  for (;;) {
    std::vector<pollfd> pfds;
    std::vector<Conn*> owners;
    for (auto& c : conns) {
      if (c.done) continue;
      if (c.out_pos == c.out.size() && c.to_send > 0) {
        // Keep about 256 KiB queued per connection: deep pipelining without
        // building the whole stream in memory.
        c.out.erase(0, c.out_pos);
        c.out_pos = 0;
        while (c.to_send > 0 && c.out.size() < 256 * 1024) {
          std::string p = NextPayload(c, o);
          c.out += Frame32(p);
          c.expected.push_back(std::move(p));
          --c.to_send;
        }
      }
      short ev = POLLIN;
      if (c.out_pos < c.out.size()) ev |= POLLOUT;
      pfds.push_back({c.fd, ev, 0});
      owners.push_back(&c);
    }
    if (pfds.empty()) break;
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    if (left <= 0) {
      r.timed_out = true;
      break;
    }
    int n = poll(pfds.data(), pfds.size(), std::min(left, 1000));
    if (n < 0 && errno != EINTR) break;
    for (size_t i = 0; i < pfds.size(); ++i) {
      Conn& c = *owners[i];
      if (pfds[i].revents & POLLOUT) {
        ssize_t k = send(c.fd, c.out.data() + c.out_pos, c.out.size() - c.out_pos, MSG_NOSIGNAL);
        if (k > 0) {
          size_t before = c.out_pos;
          c.out_pos += static_cast<size_t>(k);
          (void)before;
        }
      }
      if (pfds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t k = recv(c.fd, buf.data(), buf.size(), 0);
        if (k > 0) {
          c.in.append(buf.data(), static_cast<size_t>(k));
          size_t pos = 0;
          while (c.in.size() - pos >= 4) {
            uint32_t be;
            std::memcpy(&be, c.in.data() + pos, 4);
            size_t len = ntohl(be);
            if (c.in.size() - pos - 4 < len) break;
            if (c.expected.empty() || c.in.compare(pos + 4, len, c.expected.front()) != 0) {
              ++r.mismatches;
              if (r.first_error.empty()) r.first_error = "reply differs from its request";
            } else {
              ++r.answered;
              if (o.progress) o.progress->store(r.answered, std::memory_order_relaxed);
            }
            if (!c.expected.empty()) c.expected.pop_front();
            pos += 4 + len;
          }
          c.in.erase(0, pos);
        } else if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
          ++r.closed;
          if (r.first_error.empty()) r.first_error = "connection closed by server";
          c.done = true;
        }
      }
      if (!c.done && c.to_send == 0 && c.out_pos == c.out.size() && c.expected.empty()) c.done = true;
    }
  }
  for (auto& c : conns) {
    r.sent += static_cast<size_t>(o.requests_per_connection - c.to_send) - (c.out_pos < c.out.size() ? 1 : 0);
    if (c.fd >= 0) close(c.fd);
  }
  return r;
}

}  // namespace solar::testing
