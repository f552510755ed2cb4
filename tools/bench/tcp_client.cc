#include "tcp_client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "base/sys_result.h"
#include "clock.h"

namespace solar::bench {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
// While the socket is full, the written front of out_ is dropped once it is
// this large (out_ holds at most --pipeline requests, so this is about memory
// reuse, not about bounding it).
constexpr size_t kCompactOutputAt = 64 * 1024;

}  // namespace

TcpClient::TcpClient(ClientEnv& env, uint64_t interval_ns, uint64_t first_ns, Histogram* connection_latency)
    : env_(env),
      pipeline_(*env.plan, *env.workload, *env.rng, *env.stats, interval_ns, first_ns, env.codec->overhead(),
                env.traffic, connection_latency),
      timer_(evtimer_new(env.base, &TcpClient::OnTimer, this)) {}

TcpClient::~TcpClient() { closeSocket(); }

void TcpClient::start() { connect(MonoNanos()); }

void TcpClient::connect(uint64_t now) {
  const RunPlan& plan = *env_.plan;
  const int s = ::socket(plan.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s < 0) {
    env_.warn("socket()", errno);
    fail(ErrorKind::kConnect);
    return;
  }
  fd_.reset(s);
  // Requests are small and pipelined: Nagle would hold the second one back
  // until the first is acknowledged and show up as ~40 ms of fake latency.
  const int one = 1;
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

  read_event_.reset(event_new(env_.base, s, EV_READ | EV_PERSIST, &TcpClient::OnRead, this));
  write_event_.reset(event_new(env_.base, s, EV_WRITE | EV_PERSIST, &TcpClient::OnWrite, this));
  connect_started_ns_ = now;
  replies_on_connection_ = 0;
  // A non-blocking connect() does not fail with EINTR: it answers EINPROGRESS
  // and completes in the background, so there is nothing to retry.
  if (::connect(s, reinterpret_cast<const sockaddr*>(&plan.address), plan.address_length) == 0) {
    connected(now);
    return;
  }
  if (errno != EINPROGRESS) {
    env_.warn("connect()", errno);
    fail(ErrorKind::kConnect);
    return;
  }
  state_ = State::kConnecting;
  setWriteInterest(true);
}

void TcpClient::connected(uint64_t now) {
  state_ = State::kConnected;
  setWriteInterest(false);
  event_add(read_event_.get(), nullptr);
  // --retry: what the closed connection left unanswered goes first.
  for (size_t i = 0; i < pipeline_.size(); ++i) {
    InFlight& request = pipeline_.at(i);
    if (request.sent_ns != 0) continue;
    env_.codec->encode(request.payload, &out_);
    request.sent_ns = now;
  }
  fill(now);
}

void TcpClient::OnRead(evutil_socket_t, short, void* arg) {
  static_cast<TcpClient*>(arg)->readReplies(MonoNanos());
}

void TcpClient::OnWrite(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<TcpClient*>(arg);
  if (self->state_ == State::kConnecting) {
    int error = 0;
    socklen_t len = sizeof(error);
    if (getsockopt(self->fd_.get(), SOL_SOCKET, SO_ERROR, &error, &len) < 0) error = errno;
    if (error != 0) {
      self->env_.warn("connect()", error);
      self->fail(ErrorKind::kConnect);
    } else {
      self->connected(MonoNanos());
    }
    return;
  }
  if (self->flush()) self->fill(MonoNanos());
}

void TcpClient::OnTimer(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<TcpClient*>(arg);
  self->timer_at_ns_ = 0;
  const uint64_t now = MonoNanos();
  if (self->state_ == State::kWaiting) {
    self->connect(now);
  } else if (self->state_ == State::kConnected) {
    self->fill(now);
  }
}

void TcpClient::readReplies(uint64_t now) {
  // One recv per wake-up: the socket is level-triggered, so anything left is
  // read on the next turn, after the other connections had theirs.
  char* room = in_.prepare(kReadChunk);
  const size_t room_size = in_.writable();  // at least kReadChunk; never 0, which would read as EOF
  const auto r = RetryEintr([&] { return ::recv(fd_.get(), room, room_size, 0); });
  if (!r.ok()) {
    if (!IsAgain(r.error)) fail(ErrorKind::kClosed);  // ECONNRESET and the like
    return;
  }
  if (r.value == 0) {
    fail(ErrorKind::kClosed);
    return;
  }
  in_.commit(static_cast<size_t>(r.value));

  while (!in_.empty()) {
    if (pipeline_.size() == 0) {
      // Bytes nobody asked for: the stream cannot be trusted any more.
      fail(ErrorKind::kMismatch);
      return;
    }
    const Codec::Decoded d = env_.codec->decode(in_.readable(), pipeline_.at(0).payload.size());
    if (d.status == Codec::Decoded::kNeedMore) break;
    if (d.status == Codec::Decoded::kInvalid) {
      fail(ErrorKind::kMismatch);
      return;
    }
    if (d.error) {
      pipeline_.fail(0);
    } else {
      pipeline_.complete(0, d.payload, d.consumed, now);
    }
    ++replies_on_connection_;
    in_.consume(d.consumed);
  }
  // A fresh clock for the new requests: the time spent checking the replies
  // above is the client's, not the server's.
  fill(MonoNanos());
}

void TcpClient::fill(uint64_t now) {
  if (state_ != State::kConnected) return;
  while (InFlight* request = pipeline_.issue(now)) {
    env_.codec->encode(request->payload, &out_);
    request->sent_ns = now;
  }
  if (!flush()) return;
  armTimer(pipeline_.nextDue(), now);
  if (pipeline_.finished()) env_.maybe_finished();
}

bool TcpClient::flush() {
  while (out_written_ < out_.size()) {
    // MSG_NOSIGNAL: a peer that closed must give EPIPE here, not kill us with SIGPIPE.
    const auto r = RetryEintr([&] {
      return ::send(fd_.get(), out_.data() + out_written_, out_.size() - out_written_, MSG_NOSIGNAL);
    });
    if (!r.ok()) {
      if (IsAgain(r.error)) {
        // The server reads slower than we write: wait until the socket takes
        // more. The requests still in out_ keep their timestamps, so the wait
        // is part of their latency, as it would be for a real client.
        if (out_written_ >= kCompactOutputAt) {
          out_.erase(0, out_written_);
          out_written_ = 0;
        }
        setWriteInterest(true);
        return true;
      }
      fail(ErrorKind::kClosed);
      return false;
    }
    out_written_ += static_cast<size_t>(r.value);
  }
  out_.clear();
  out_written_ = 0;
  setWriteInterest(false);
  return true;
}

void TcpClient::setWriteInterest(bool on) {
  if (on == write_interest_ || !write_event_) return;
  write_interest_ = on;
  if (on) {
    event_add(write_event_.get(), nullptr);
  } else {
    event_del(write_event_.get());
  }
}

void TcpClient::armTimer(uint64_t at, uint64_t now) {
  if (at == 0 || at == timer_at_ns_) return;
  timer_at_ns_ = at;
  const timeval tv = NanosToTimeval(at > now ? at - now : 0);
  evtimer_add(timer_.get(), &tv);
}

void TcpClient::tick(uint64_t now) {
  if (state_ == State::kConnecting && now - connect_started_ns_ > env_.plan->options.timeout_ns) {
    env_.warn("connect()", ETIMEDOUT);
    fail(ErrorKind::kConnect);
  } else if (state_ == State::kConnected) {
    // A late reply can no longer be told from the next one: start afresh.
    if (const size_t n = pipeline_.expired(now)) fail(ErrorKind::kTimeout, n);
  }
}

void TcpClient::fail(ErrorKind kind, uint64_t count) {
  // --retry (the clients' retry rule): a connection that carried replies,
  // closed or reset before any byte of the next reply, is the server closing
  // it (a graceful stop) more often than a request that ran. Its requests go
  // once more, on a new connection, at once.
  if (kind == ErrorKind::kClosed && env_.plan->options.retry && replies_on_connection_ > 0 && in_.empty() &&
      pipeline_.requeue()) {
    ++env_.stats->server_closes;
    closeSocket();
    state_ = State::kWaiting;
    const uint64_t now = MonoNanos();
    armTimer(now, now);
    return;
  }
  env_.stats->addError(kind, count);
  pipeline_.abandon();
  closeSocket();
  if (kind == ErrorKind::kConnect || !pipeline_.wantsMore()) {
    state_ = State::kDead;
    env_.maybe_finished();
    return;
  }
  state_ = State::kWaiting;
  const uint64_t now = MonoNanos();
  armTimer(now + kReconnectDelayNs, now);
}

void TcpClient::closeSocket() {
  read_event_.reset();
  write_event_.reset();
  write_interest_ = false;
  fd_.reset();
  out_.clear();
  out_written_ = 0;
  in_.clear();
}

}  // namespace solar::bench
