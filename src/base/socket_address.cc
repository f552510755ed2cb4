#include "base/socket_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "api/request.h"

namespace solar {

int SocketAddress::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  return 0;
}

void SocketAddress::setPort(int port) {
  if (family() == AF_INET) reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
  if (family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
}

std::string SocketAddress::toString() const { return FormatSockaddr(get()); }

std::string FormatSockaddr(const sockaddr* sa) {
  // One formatting for every address solar prints: ClientAddress's.
  ClientAddress a;
  if (sa->sa_family == AF_INET) std::memcpy(&a.storage, sa, sizeof(sockaddr_in));
  if (sa->sa_family == AF_INET6) std::memcpy(&a.storage, sa, sizeof(sockaddr_in6));
  return a.toString();
}

bool ParseSocketAddress(const std::string& text, SocketAddress* out, std::string* error) {
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      *error = "expected \"[v6-address]:port\", got \"" + text + "\"";
      return false;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos) {
      *error = "expected \"address:port\", got \"" + text + "\"";
      return false;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  char* end = nullptr;
  long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p < 0 || p > 65535) {
    *error = "bad port \"" + port + "\" in \"" + text + "\"";
    return false;
  }
  *out = SocketAddress();
  auto* in = reinterpret_cast<sockaddr_in*>(&out->storage);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&out->storage);
  if (inet_pton(AF_INET, host.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<uint16_t>(p));
    out->length = sizeof(sockaddr_in);
    return true;
  }
  *out = SocketAddress();
  if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(p));
    out->length = sizeof(sockaddr_in6);
    return true;
  }
  *out = SocketAddress();
  if (host == "localhost" && text[0] != '[') {  // the one name with one meaning everywhere; no resolver involved
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    in->sin_port = htons(static_cast<uint16_t>(p));
    out->length = sizeof(sockaddr_in);
    return true;
  }
  *error = "\"" + host + "\" is not an IPv4 or IPv6 address: names are not resolved (a name may map to "
           "several addresses, and the server must not depend on DNS to start); use e.g. \"127.0.0.1:" +
           port + "\" or \"[::1]:" + port + "\"";
  return false;
}

bool CheckBindable(const SocketAddress& addr, int type, std::string* error) {
  SocketAddress any_port = addr;
  any_port.setPort(0);  // the port may be in use by a running instance: only the address is checked
  int fd = ::socket(addr.family(), type | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket() failed: ") + std::strerror(errno);
    return false;
  }
  const bool ok = ::bind(fd, any_port.get(), any_port.length) == 0;
  const int err = errno;
  ::close(fd);
  if (ok) return true;
  *error = addr.toString() + ": " + std::strerror(err) +
           (err == EADDRNOTAVAIL ? " (not an address of this machine)" : "");
  return false;
}

}  // namespace solar
