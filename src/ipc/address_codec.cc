#include "ipc/address_codec.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace solar::ipc {

void PackAddress(const ClientAddress& from, uint8_t* family, uint16_t* port, uint8_t addr[16]) {
  std::memset(addr, 0, 16);
  *family = 0;
  *port = 0;
  if (from.family() == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&from.storage);
    *family = AF_INET;
    *port = ntohs(in->sin_port);
    std::memcpy(addr, &in->sin_addr, 4);
  } else if (from.family() == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&from.storage);
    *family = AF_INET6;
    *port = ntohs(in6->sin6_port);
    std::memcpy(addr, &in6->sin6_addr, 16);
  }
}

bool UnpackAddress(uint8_t family, uint16_t port, const uint8_t addr[16], ClientAddress* to) {
  *to = ClientAddress();
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&to->storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    std::memcpy(&in->sin_addr, addr, 4);
    return true;
  }
  if (family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&to->storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    std::memcpy(&in6->sin6_addr, addr, 16);
    return true;
  }
  return false;
}

}  // namespace solar::ipc
