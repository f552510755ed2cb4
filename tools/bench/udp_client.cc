#include "udp_client.h"

#include <sys/socket.h>

#include "base/sys_result.h"
#include "clock.h"

namespace solar::bench {
namespace {

// Datagrams read per wake-up before the other sockets get their turn.
constexpr int kReadBatch = 64;
constexpr size_t kMaxDatagram = 65536;

}  // namespace

UdpClient::UdpClient(ClientEnv& env, uint64_t interval_ns, uint64_t first_ns, Histogram* connection_latency)
    : env_(env),
      pipeline_(*env.plan, *env.workload, *env.rng, *env.stats, interval_ns, first_ns, 0, env.traffic,
                connection_latency),
      timer_(evtimer_new(env.base, &UdpClient::OnTimer, this)) {}

UdpClient::~UdpClient() { closeSocket(); }

void UdpClient::start() {
  if (open()) fill(MonoNanos());
}

bool UdpClient::open() {
  const RunPlan& plan = *env_.plan;
  const int s = ::socket(plan.address.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s < 0) {
    env_.warn("socket()", errno);
    fail(ErrorKind::kConnect);
    return false;
  }
  fd_.reset(s);
  // connect() on UDP only fixes the peer: send() needs no address, the kernel
  // drops datagrams from anyone else, and ICMP port-unreachable comes back as
  // ECONNREFUSED.
  if (::connect(s, reinterpret_cast<const sockaddr*>(&plan.address), plan.address_length) != 0) {
    env_.warn("connect()", errno);
    fail(ErrorKind::kConnect);
    return false;
  }
  read_event_.reset(event_new(env_.base, s, EV_READ | EV_PERSIST, &UdpClient::OnRead, this));
  write_event_.reset(event_new(env_.base, s, EV_WRITE | EV_PERSIST, &UdpClient::OnWrite, this));
  event_add(read_event_.get(), nullptr);
  return true;
}

void UdpClient::OnRead(evutil_socket_t, short, void* arg) {
  static_cast<UdpClient*>(arg)->readReplies(MonoNanos());
}

void UdpClient::OnWrite(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<UdpClient*>(arg);
  const uint64_t now = MonoNanos();
  if (self->flush(now)) self->fill(now);
}

void UdpClient::OnTimer(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<UdpClient*>(arg);
  self->timer_at_ns_ = 0;
  if (self->fd_) self->fill(MonoNanos());
}

void UdpClient::readReplies(uint64_t now) {
  std::string& buffer = *env_.scratch;
  buffer.resize(kMaxDatagram);
  for (int i = 0; i < kReadBatch; ++i) {
    const auto r = RetryEintr([&] { return ::recv(fd_.get(), buffer.data(), buffer.size(), 0); });
    if (!r.ok()) {
      if (IsAgain(r.error)) break;
      env_.warn("recv()", r.error);  // ECONNREFUSED: nothing listens on the port
      fail(ErrorKind::kConnect);
      return;
    }
    const std::string_view reply(buffer.data(), static_cast<size_t>(r.value));
    const int index = pipeline_.match(reply);
    if (index < 0) {
      env_.stats->addError(ErrorKind::kMismatch);  // a datagram nobody asked for
      continue;
    }
    pipeline_.complete(static_cast<size_t>(index), reply, reply.size(), now);
  }
  fill(MonoNanos());  // as in TcpClient: checking replies is not the server's time
}

void UdpClient::fill(uint64_t now) {
  if (!fd_) return;
  while (pipeline_.issue(now) != nullptr) ++unsent_;
  if (!flush(now)) return;
  armTimer(pipeline_.nextDue(), now);
  if (pipeline_.finished()) env_.maybe_finished();
}

bool UdpClient::flush(uint64_t now) {
  while (unsent_ > 0) {
    InFlight& request = pipeline_.at(pipeline_.size() - unsent_);
    const auto r = RetryEintr(
        [&] { return ::send(fd_.get(), request.payload.data(), request.payload.size(), MSG_NOSIGNAL); });
    if (!r.ok()) {
      // A full send buffer (EAGAIN, or ENOBUFS from the device queue) is
      // back-pressure, not loss: wait until the socket is writable.
      if (IsAgain(r.error) || r.error == ENOBUFS) {
        setWriteInterest(true);
        return true;
      }
      env_.warn("send()", r.error);
      fail(ErrorKind::kConnect);
      return false;
    }
    request.sent_ns = now;
    --unsent_;
  }
  setWriteInterest(false);
  return true;
}

void UdpClient::setWriteInterest(bool on) {
  if (on == write_interest_ || !write_event_) return;
  write_interest_ = on;
  if (on) {
    event_add(write_event_.get(), nullptr);
  } else {
    event_del(write_event_.get());
  }
}

void UdpClient::armTimer(uint64_t at, uint64_t now) {
  if (at == 0 || at == timer_at_ns_) return;
  timer_at_ns_ = at;
  const timeval tv = NanosToTimeval(at > now ? at - now : 0);
  evtimer_add(timer_.get(), &tv);
}

void UdpClient::tick(uint64_t now) {
  if (!fd_) return;
  const size_t n = pipeline_.expired(now);
  if (n == 0) return;
  env_.stats->addError(ErrorKind::kTimeout, n);
  pipeline_.abandon();
  closeSocket();
  if (open()) fill(now);
}

void UdpClient::fail(ErrorKind kind, uint64_t count) {
  env_.stats->addError(kind, count);
  pipeline_.abandon();
  closeSocket();
  dead_ = true;
  env_.maybe_finished();
}

void UdpClient::closeSocket() {
  read_event_.reset();
  write_event_.reset();
  write_interest_ = false;
  unsent_ = 0;
  fd_.reset();
}

}  // namespace solar::bench
