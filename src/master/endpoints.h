// Every socket and IPC end the children use, made by the master before its
// first fork as one value (nginx's ngx_processes[].channel, made in the
// cycle): the listeners' SO_REUSEPORT sockets, a socketpair per worker slot
// (listeners send, the worker reads) and per listener (workers and the
// master's notices send, the listener reads), the UDP socket and SysV queue,
// the admin socket. A child takes the move-only set of ends its role uses
// (takeFor) and closes the rest with the value.
// Runs in: master (open, notices); each child right after fork (takeFor).
#pragma once

#include <sys/types.h>

#include <array>
#include <string>
#include <vector>

#include "base/noncopyable.h"
#include "base/socket_address.h"
#include "base/unique_fd.h"
#include "config.pb.h"
#include "scoreboard/scoreboard.h"

namespace solar {

// The ends one child owns. Released into ChildContext at the hand-off only.
struct ChildFds {
  UniqueFd listen;            // listener: its own socket; admin: the admin socket
  UniqueFd in;                // the socketpair end this process reads
  std::vector<UniqueFd> out;  // listener: each worker's send end; worker: each listener's
  UniqueFd udp;               // UDP roles
  int queue_id = -1;          // UDP roles: the SysV queue (not an fd: the master alone removes it)
  size_t queue_msgmax = 8192;
};

class Endpoints : NonCopyable {
 public:
  ~Endpoints();
  // Binds and creates everything the config asks for; false (logged) on the
  // first failure, with what was made closed again (the queue removed).
  // `owner` owns the UDP queue (the dropped user).
  bool open(const Config& config, uid_t owner_uid, gid_t owner_gid);

  // In the child after fork: its role's ends; every other end closes when the
  // value is destroyed or closeAll() runs.
  ChildFds takeFor(Role role, int index);
  void closeAll();

  // The master's own uses.
  int noticeFd(size_t listener) const { return listener_pairs_[listener][0].get(); }
  int workerInFd(size_t worker) const { return worker_pairs_[worker][1].get(); }
  size_t listeners() const { return listener_pairs_.size(); }
  void closeListeningSockets() { listen_fds_.clear(); }  // a stop: the port closes with the listeners
  void removeQueue();

  const SocketAddress& address() const { return address_; }
  const SocketAddress& udpAddress() const { return udp_address_; }
  const SocketAddress& adminAddress() const { return admin_address_; }

 private:
  using Pair = std::array<UniqueFd, 2>;  // [0] sends, [1] receives
  bool bindListeners(const Config& config);
  bool openUdp(const UdpConfig& udp, const std::string& pid_file, uid_t uid, gid_t gid);
  bool openAdmin(const std::string& listen);
  static bool makePair(Pair* pair, const std::string& what);

  SocketAddress address_;
  std::vector<UniqueFd> listen_fds_;  // one per listener
  std::vector<Pair> worker_pairs_;    // listeners -> worker slot w (max_workers of them)
  std::vector<Pair> listener_pairs_;  // workers (and master notices) -> listener l
  SocketAddress udp_address_;
  UniqueFd udp_fd_;
  int queue_id_ = -1;
  size_t msgmax_ = 8192;
  SocketAddress admin_address_;
  UniqueFd admin_fd_;
};

}  // namespace solar
