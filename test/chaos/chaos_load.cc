#include "chaos_load.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <random>

namespace solar::chaos {

namespace {

constexpr int64_t kConnectTimeoutMs = 5000;
constexpr int64_t kConnectRetryMs = 100;
constexpr size_t kMaxHungReported = 20;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Mostly small, sometimes up to 64 KiB: 60% 1..64 B, 25% to 1 KiB, 12% to
// 16 KiB, 3% to 64 KiB (frames above 64 KiB are chunked by the server: the
// rolling-reload test covers those).
size_t DrawSize(std::mt19937_64& rng) {
  const int bucket = static_cast<int>(rng() % 100);
  auto between = [&](size_t lo, size_t hi) { return lo + rng() % (hi - lo + 1); };
  if (bucket < 60) return between(1, 64);
  if (bucket < 85) return between(65, 1024);
  if (bucket < 97) return between(1025, 16 * 1024);
  return between(16 * 1024 + 1, 64 * 1024);
}

// The payload is a function of the id: byte 0 has its high bit set (so it is
// never one of the debug worker's commands), bytes 1..8 carry the id, the rest
// is a PRNG stream seeded by the id. A reply is compared with all of it.
std::string MakePayload(uint64_t id, size_t n) {
  std::string p(n, '\0');
  p[0] = static_cast<char>(0x80 | (id & 0x7f));
  size_t i = 1;
  for (int b = 7; b >= 0 && i < n; --b) p[i++] = static_cast<char>(id >> (8 * b));
  uint64_t state = id;
  while (i < n) {
    uint64_t v = SplitMix64(&state);
    for (int k = 0; k < 8 && i < n; ++k) p[i++] = static_cast<char>(v >> (8 * k));
  }
  return p;
}

}  // namespace

struct ChaosLoad::Conn {
  enum class State { kDown, kConnecting, kUp };
  struct Pending {
    uint64_t id;
    std::string expected;  // the reply it must get
    size_t request_bytes;
    int64_t sent_ms;
    bool sleep;
  };
  State state = State::kDown;
  int fd = -1;
  int generation = 0;
  int in_flight_cap = 1;
  int local_port = 0;
  int64_t retry_at_ms = 0;
  int64_t connect_deadline_ms = 0;
  std::string out;
  size_t out_pos = 0;
  std::string in;
  std::deque<Pending> pending;
  size_t answered = 0;
};

ChaosLoad::ChaosLoad(int port, LoadOptions options) : port_(port), options_(options) {}

ChaosLoad::~ChaosLoad() {
  if (thread_.joinable()) stop();
}

void ChaosLoad::start() { thread_ = std::thread([this] { run(); }); }

LoadResult ChaosLoad::stop() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
  return result_;
}

void ChaosLoad::run() {
  std::mt19937_64 rng(options_.seed);
  std::vector<Conn> conns(static_cast<size_t>(options_.connections));
  std::vector<char> buf(256 * 1024);
  uint64_t next_id = 1;
  LoadResult& r = result_;

  auto closeFd = [](Conn& c) {
    if (c.fd >= 0) close(c.fd);
    c.fd = -1;
    c.out.clear();
    c.out_pos = 0;
    c.in.clear();
  };
  // The server closed it: what it had not answered went with it.
  auto closedByServer = [&](Conn& c, int64_t now) {
    ++r.closed_by_server;
    closed_.fetch_add(1, std::memory_order_relaxed);
    r.lost_with_connection += c.pending.size();
    c.pending.clear();
    closeFd(c);
    c.state = Conn::State::kDown;
    c.retry_at_ms = now;
  };
  auto connectFailed = [&](Conn& c, int64_t now) {
    ++r.connect_failures;
    closeFd(c);
    c.state = Conn::State::kDown;
    c.retry_at_ms = now + kConnectRetryMs;
  };
  auto connected = [&](Conn& c) {
    c.state = Conn::State::kUp;
    ++c.generation;
    c.in_flight_cap = 1 + static_cast<int>(rng() % static_cast<uint64_t>(options_.max_in_flight));
    sockaddr_in local{};
    socklen_t len = sizeof(local);
    if (getsockname(c.fd, reinterpret_cast<sockaddr*>(&local), &len) == 0) c.local_port = ntohs(local.sin_port);
  };
  auto startConnect = [&](Conn& c, int64_t now) {
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return connectFailed(c, now);
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c.fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) return connected(c);
    if (errno != EINPROGRESS) return connectFailed(c, now);
    c.state = Conn::State::kConnecting;
    c.connect_deadline_ms = now + kConnectTimeoutMs;
  };
  auto queueRequest = [&](Conn& c, int64_t now) {
    Conn::Pending p;
    p.id = next_id++;
    p.sent_ms = now;
    p.sleep = static_cast<int>(rng() % 100) < options_.sleep_percent;
    std::string payload;
    if (p.sleep) {
      payload = "sleep:" + std::to_string(options_.sleep_ms);
      p.expected = "slept:" + std::to_string(options_.sleep_ms);
    } else {
      payload = MakePayload(p.id, DrawSize(rng));
    }
    p.request_bytes = payload.size();
    if (c.out_pos == c.out.size()) {
      c.out.clear();
      c.out_pos = 0;
    }
    const uint32_t be = htonl(static_cast<uint32_t>(payload.size()));
    c.out.append(reinterpret_cast<const char*>(&be), 4);
    c.out.append(payload);
    if (!p.sleep) p.expected = std::move(payload);
    c.pending.push_back(std::move(p));
    ++r.sent;
  };
  // Cuts whole frames out of c.in and matches each with the oldest request.
  auto takeReplies = [&](Conn& c, int64_t now) {
    size_t pos = 0;
    while (c.in.size() - pos >= 4) {
      uint32_t be;
      std::memcpy(&be, c.in.data() + pos, 4);
      const size_t len = ntohl(be);
      if (c.in.size() - pos - 4 < len) break;
      if (c.pending.empty()) {
        ++r.mismatches;
        if (r.first_mismatch.empty())
          r.first_mismatch = "a " + std::to_string(len) + "-byte reply came with nothing in flight";
      } else {
        Conn::Pending& p = c.pending.front();
        if (len == p.expected.size() && c.in.compare(pos + 4, len, p.expected) == 0) {
          ++r.answered;
          ++c.answered;
          answered_.fetch_add(1, std::memory_order_relaxed);
          r.max_latency_ms = std::max(r.max_latency_ms, now - p.sent_ms);
        } else {
          ++r.mismatches;
          if (r.first_mismatch.empty())
            r.first_mismatch = "request id " + std::to_string(p.id) + " (" + std::to_string(p.request_bytes) +
                               " B) got a " + std::to_string(len) + "-byte reply that differs";
        }
        c.pending.pop_front();
      }
      pos += 4 + len;
    }
    c.in.erase(0, pos);
  };
  // Reads what is there; false once the server has closed the connection.
  auto readSome = [&](Conn& c, int64_t now) {
    for (int i = 0; i < 4; ++i) {
      ssize_t k = recv(c.fd, buf.data(), buf.size(), 0);
      if (k > 0) {
        c.in.append(buf.data(), static_cast<size_t>(k));
        takeReplies(c, now);
        if (static_cast<size_t>(k) < buf.size()) return true;
        continue;
      }
      if (k < 0 && (errno == EAGAIN || errno == EINTR)) return true;
      return false;  // EOF, or a reset
    }
    return true;
  };

  int64_t drain_deadline = 0;
  std::vector<pollfd> pfds;
  std::vector<Conn*> owners;
  for (;;) {
    const int64_t now = NowMs();
    const bool stopping = stopping_.load();
    if (stopping && drain_deadline == 0) drain_deadline = now + options_.grace_ms;
    bool busy = false;
    pfds.clear();
    owners.clear();
    for (Conn& c : conns) {
      if (stopping && c.state != Conn::State::kUp) {
        closeFd(c);
        c.state = Conn::State::kDown;
        continue;
      }
      if (c.state == Conn::State::kDown && now >= c.retry_at_ms) startConnect(c, now);
      if (c.state == Conn::State::kConnecting && now >= c.connect_deadline_ms) connectFailed(c, now);
      if (c.state == Conn::State::kDown) continue;
      if (c.state == Conn::State::kUp && !stopping) {
        while (static_cast<int>(c.pending.size()) < c.in_flight_cap) queueRequest(c, now);
      }
      if (c.state == Conn::State::kUp && !c.pending.empty()) busy = true;
      short ev = c.state == Conn::State::kConnecting ? POLLOUT : POLLIN;
      if (c.state == Conn::State::kUp && c.out_pos < c.out.size()) ev |= POLLOUT;
      pfds.push_back({c.fd, ev, 0});
      owners.push_back(&c);
    }
    if (stopping && (!busy || now >= drain_deadline)) break;
    int n = poll(pfds.data(), pfds.size(), 50);
    if (n <= 0) continue;
    const int64_t after = NowMs();
    for (size_t i = 0; i < pfds.size(); ++i) {
      Conn& c = *owners[i];
      const short rev = pfds[i].revents;
      if (rev == 0) continue;
      if (c.state == Conn::State::kConnecting) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0 && (rev & POLLOUT)) {
          connected(c);
        } else {
          connectFailed(c, after);
        }
        continue;
      }
      if ((rev & (POLLIN | POLLHUP | POLLERR)) && !readSome(c, after)) {
        closedByServer(c, after);
        continue;
      }
      if ((rev & POLLOUT) && c.out_pos < c.out.size()) {
        ssize_t k = send(c.fd, c.out.data() + c.out_pos, c.out.size() - c.out_pos, MSG_NOSIGNAL);
        if (k > 0) {
          c.out_pos += static_cast<size_t>(k);
        } else if (k < 0 && errno != EAGAIN && errno != EINTR) {
          // The server is gone (EPIPE, reset): take the replies it did send first.
          readSome(c, after);
          closedByServer(c, after);
        }
      }
    }
  }
  // The end: a connection the server closed just now is "closed", not "hung".
  const int64_t end = NowMs();
  for (Conn& c : conns) {
    if (c.state != Conn::State::kUp) continue;
    if (!c.pending.empty() && !readSome(c, end)) {
      closedByServer(c, end);
      continue;
    }
    if (!c.pending.empty()) {
      r.hung += c.pending.size();
      if (r.hung_connections.size() < kMaxHungReported) {
        HungConnection h;
        h.local_port = c.local_port;
        h.generation = c.generation;
        h.pending = c.pending.size();
        h.answered = c.answered;
        h.oldest_id = c.pending.front().id;
        h.oldest_bytes = c.pending.front().request_bytes;
        h.oldest_age_ms = end - c.pending.front().sent_ms;
        h.oldest_is_sleep = c.pending.front().sleep;
        h.unsent_bytes = c.out.size() - c.out_pos;
        r.hung_connections.push_back(h);
      }
    }
    closeFd(c);
    c.state = Conn::State::kDown;
  }
}

}  // namespace solar::chaos
