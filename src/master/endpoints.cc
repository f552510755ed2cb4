#include "master/endpoints.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <glog/logging.h>

#include "ipc/msg_queue.h"
#include "sys/kernel_limits.h"

namespace solar {

namespace {

constexpr size_t kSocketpairSndbuf = 4u << 20;
constexpr int kUdpRcvbuf = 4 << 20;

// SO_REUSEPORT lets any socket of the same user join a group, so a second
// solar on a served port would silently share it (issue 10). A plain bind
// first, without SO_REUSEPORT, fails with EADDRINUSE when anything listens
// there, as nginx refuses; for port 0 it also picks the port the group takes.
// Returns false (logged) if the address is taken.
bool ProbeAddressFree(SocketAddress* addr, const std::string& what) {
  UniqueFd probe(::socket(addr->family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe) {
    PLOG(ERROR) << "socket() for " << what << " failed";
    return false;
  }
  int one = 1;
  if (setsockopt(probe.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
    PLOG(WARNING) << "setsockopt(SO_REUSEADDR) for " << what << " failed";  // only TIME_WAIT reuse is lost
  if (::bind(probe.get(), addr->get(), addr->length) != 0) {
    PLOG(ERROR) << "bind(" << addr->toString() << ") for " << what << " failed"
                << (errno == EADDRINUSE ? " (another process serves this address)" : "");
    return false;
  }
  if (addr->port() == 0) {
    socklen_t len = sizeof(addr->storage);
    if (getsockname(probe.get(), reinterpret_cast<sockaddr*>(&addr->storage), &len) != 0) {
      PLOG(ERROR) << "getsockname() for " << what << " failed";
      return false;
    }
  }
  return true;
}

// A listening TCP socket at *addr; a port 0 is replaced by the port the kernel
// chose, so the rest of a SO_REUSEPORT group binds the same one. Logs and
// returns an empty fd on failure.
UniqueFd BindStream(SocketAddress* addr, bool reuseport, int backlog, const std::string& what) {
  UniqueFd fd(::socket(addr->family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    PLOG(ERROR) << "socket() for " << what << " failed";
    return fd;
  }
  int one = 1;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
    PLOG(WARNING) << "setsockopt(SO_REUSEADDR) for " << what << " failed";  // only TIME_WAIT reuse is lost
  if (reuseport && setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    PLOG(ERROR) << "setsockopt(SO_REUSEPORT) for " << what << " failed";
    return UniqueFd();
  }
  if (::bind(fd.get(), addr->get(), addr->length) != 0) {
    PLOG(ERROR) << "bind(" << addr->toString() << ") for " << what << " failed";
    return UniqueFd();
  }
  if (::listen(fd.get(), backlog) != 0) {
    PLOG(ERROR) << "listen(" << addr->toString() << ") for " << what << " failed";
    return UniqueFd();
  }
  if (addr->port() == 0) {
    // Without the chosen port, each socket of the group would bind another one.
    socklen_t len = sizeof(addr->storage);
    if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr->storage), &len) != 0) {
      PLOG(ERROR) << "getsockname() for " << what << " failed";
      return UniqueFd();
    }
  }
  return fd;
}

// A bigger buffer than the kernel's default: as root past its limit
// (SO_*BUFFORCE), else up to net.core.*mem_max. A failure only costs burst room.
void SetBuffer(int fd, int force_opt, int opt, int bytes, const std::string& what) {
  if (geteuid() == 0 && setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof(bytes)) == 0) return;
  if (setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof(bytes)) != 0)
    PLOG(WARNING) << "setsockopt(" << (opt == SO_SNDBUF ? "SO_SNDBUF" : "SO_RCVBUF") << ", " << bytes << ") for "
                  << what << " failed; the kernel's default applies";
}

}  // namespace

Endpoints::~Endpoints() = default;

bool Endpoints::open(const Config& config, uid_t owner_uid, gid_t owner_gid) {
  if (!bindListeners(config)) return false;
  worker_pairs_.resize(config.max_workers());
  for (size_t w = 0; w < worker_pairs_.size(); ++w) {
    if (!makePair(&worker_pairs_[w], "worker " + std::to_string(w))) return false;
  }
  listener_pairs_.resize(config.listeners());
  for (size_t l = 0; l < listener_pairs_.size(); ++l) {
    if (!makePair(&listener_pairs_[l], "listener " + std::to_string(l))) return false;
  }
  if (config.has_udp() && !openUdp(config.udp(), config.pid_file(), owner_uid, owner_gid)) return false;
  if (!config.admin_listen().empty() && !openAdmin(config.admin_listen())) return false;
  return true;
}

bool Endpoints::bindListeners(const Config& config) {
  std::string error;
  if (!ParseSocketAddress(config.listen(), &address_, &error)) {
    LOG(ERROR) << "listen: " << error;
    return false;
  }
  if (!ProbeAddressFree(&address_, "listen")) return false;
  for (uint32_t l = 0; l < config.listeners(); ++l) {
    // One socket per listener in a SO_REUSEPORT group: the kernel spreads new
    // connections, so there is no thundering herd and no accept lock (seed 003 §4.2).
    UniqueFd fd = BindStream(&address_, /*reuseport=*/true, static_cast<int>(config.backlog()),
                             "listener " + std::to_string(l));
    if (!fd) return false;
    listen_fds_.push_back(std::move(fd));
  }
  return true;
}

bool Endpoints::openAdmin(const std::string& listen) {
  std::string error;
  if (!ParseSocketAddress(listen, &admin_address_, &error)) {
    LOG(ERROR) << "admin_listen: " << error;
    return false;
  }
  admin_fd_ = BindStream(&admin_address_, /*reuseport=*/false, 64, "the admin endpoint");
  return static_cast<bool>(admin_fd_);
}

bool Endpoints::openUdp(const UdpConfig& udp, const std::string& pid_file, uid_t uid, gid_t gid) {
  std::string error;
  if (!ParseSocketAddress(udp.listen(), &udp_address_, &error)) {
    LOG(ERROR) << "udp.listen: " << error;
    return false;
  }
  udp_fd_.reset(::socket(udp_address_.family(), SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!udp_fd_) {
    PLOG(ERROR) << "socket() for udp.listen failed";
    return false;
  }
  // No SO_REUSEADDR: on a UDP socket it would let a second server bind the
  // same port and take part of its datagrams (and UDP has no TIME_WAIT).
  // Bursts wait in the socket while the listener moves them to the queue.
  SetBuffer(udp_fd_.get(), SO_RCVBUFFORCE, SO_RCVBUF, kUdpRcvbuf, "udp.listen");
  if (::bind(udp_fd_.get(), udp_address_.get(), udp_address_.length) != 0) {
    PLOG(ERROR) << "bind(" << udp_address_.toString() << ") for udp.listen failed";
    return false;
  }
  socklen_t len = sizeof(udp_address_.storage);
  if (getsockname(udp_fd_.get(), reinterpret_cast<sockaddr*>(&udp_address_.storage), &len) != 0) {
    PLOG(ERROR) << "getsockname() for udp.listen failed";
    return false;
  }
  const key_t key = udp.queue_key() ? static_cast<key_t>(udp.queue_key()) : ipc::DeriveQueueKey(pid_file);
  bool stale = false;
  queue_id_ = ipc::MsgQueue::Create(key, &stale);
  if (queue_id_ < 0) {
    PLOG(ERROR) << "msgget(key 0x" << std::hex << key << std::dec << ") for the UDP queue failed";
    return false;
  }
  if (stale) {
    LOG(WARNING) << "removed a stale UDP queue with key 0x" << std::hex << key << std::dec
                 << " (left by a run that did not stop cleanly)";
  }
  if (int err = ipc::MsgQueue::Configure(queue_id_, uid, gid, udp.queue_bytes()); err != 0) {
    LOG(WARNING) << "could not set the UDP queue's byte limit to " << udp.queue_bytes() << " (" << strerror(err)
                 << "); the kernel default kernel.msgmnb=" << ReadSysctl("kernel/msgmnb")
                 << " applies: raise it with sysctl -w kernel.msgmnb=" << udp.queue_bytes();
  }
  if (const int64_t msgmax = ReadSysctl("kernel/msgmax"); msgmax > 0) msgmax_ = static_cast<size_t>(msgmax);
  return true;
}

void Endpoints::removeQueue() {
  if (queue_id_ < 0) return;
  if (!ipc::MsgQueue::Remove(queue_id_)) PLOG(WARNING) << "msgctl(IPC_RMID) of the UDP queue failed";
  queue_id_ = -1;
}

bool Endpoints::makePair(Pair* pair, const std::string& what) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) != 0) {
    PLOG(ERROR) << "socketpair() for " << what << " failed";
    return false;
  }
  (*pair)[0].reset(sv[0]);
  (*pair)[1].reset(sv[1]);
  // Every datagram in flight is charged to the sending socket: a bigger send
  // buffer lets more requests wait for a busy worker without EAGAIN.
  SetBuffer(sv[0], SO_SNDBUFFORCE, SO_SNDBUF, static_cast<int>(kSocketpairSndbuf), what);
  return true;
}

ChildFds Endpoints::takeFor(Role role, int index) {
  ChildFds fds;
  switch (role) {
    case Role::kListener:
      fds.listen = std::move(listen_fds_[index]);
      fds.in = std::move(listener_pairs_[index][1]);
      for (auto& p : worker_pairs_) fds.out.push_back(std::move(p[0]));
      break;
    case Role::kWorker:
      fds.in = std::move(worker_pairs_[index][1]);
      for (auto& p : listener_pairs_) fds.out.push_back(std::move(p[0]));
      break;
    case Role::kUdpListener:
    case Role::kUdpWorker:
      fds.udp = std::move(udp_fd_);
      fds.queue_id = queue_id_;
      fds.queue_msgmax = msgmax_;
      break;
    case Role::kAdmin:
      fds.listen = std::move(admin_fd_);
      break;
    default:
      break;
  }
  queue_id_ = -1;  // the master alone removes the queue
  closeAll();
  return fds;
}

void Endpoints::closeAll() {
  listen_fds_.clear();
  worker_pairs_.clear();
  listener_pairs_.clear();
  udp_fd_.reset();
  admin_fd_.reset();
}

}  // namespace solar
