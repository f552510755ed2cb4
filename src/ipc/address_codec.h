// The one encoding of a client address inside solar's own structures (the
// record header, the UDP queue message, the scoreboard's current request):
// family (0, AF_INET or AF_INET6), port in host order, and 4 or 16 address
// bytes in network order, zero-padded to 16.
// Runs in: listener, worker, UDP listener and worker, master.
#pragma once

#include <cstdint>

#include "api/request.h"

namespace solar::ipc {

// Anything but IPv4/IPv6 packs as family 0 (no address).
void PackAddress(const ClientAddress& from, uint8_t* family, uint16_t* port, uint8_t addr[16]);

// False (and an empty *to) for a family other than AF_INET / AF_INET6.
bool UnpackAddress(uint8_t family, uint16_t port, const uint8_t addr[16], ClientAddress* to);

}  // namespace solar::ipc
