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

// Accepts "1.2.3.4:80", "[::1]:80", "localhost:80" is refused (numeric only:
// the master must not depend on DNS at start). Returns false with *error set.
bool ParseSocketAddress(const std::string& text, SocketAddress* out, std::string* error);

std::string FormatSockaddr(const sockaddr* sa);

}  // namespace solar
