// Parsing and printing of "host:port" / "[v6]:port" socket addresses.
// Runs in: master (config), tests.
#pragma once

#include <sys/socket.h>

#include <string>

namespace solar {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  int family() const { return storage.ss_family; }
  int port() const;
  void setPort(int port);
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  std::string toString() const;
};

// Accepts "1.2.3.4:80", "[::1]:80" and "localhost:80" (= 127.0.0.1); any
// other name is refused with the reason (the master must not depend on DNS at
// start). Returns false with *error set.
bool ParseSocketAddress(const std::string& text, SocketAddress* out, std::string* error);

// True if a socket of `type` (SOCK_STREAM, SOCK_DGRAM) can bind addr's
// address (any port): false with *error for an address this machine does not
// have. For `solar -t`, which must not disturb a running instance's port.
bool CheckBindable(const SocketAddress& addr, int type, std::string* error);

std::string FormatSockaddr(const sockaddr* sa);

}  // namespace solar
