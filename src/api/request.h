// PUBLIC API. solar::Request: one whole request handed to Worker::process.
// Runs in: worker processes (TCP and UDP). Includes nothing internal.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace solar {

enum class Transport { kTcp, kUdp };

// The client's address as the listener saw it (IPv4 or IPv6 and port).
struct ClientAddress {
  sockaddr_storage storage{};  // ss_family is AF_UNSPEC when unknown

  int family() const { return storage.ss_family; }
  uint16_t port() const;
  // "1.2.3.4:80" or "[::1]:80"; "-" when unknown.
  std::string toString() const;
};

// Identifies one TCP connection for the life of the server: a listener id, a
// slot and a generation, so a closed connection's id is never reused.
struct ConnectionId {
  uint16_t listener = 0;
  uint32_t slot = 0;
  uint32_t generation = 0;

  bool operator==(const ConnectionId& o) const {
    return listener == o.listener && slot == o.slot && generation == o.generation;
  }
  uint64_t packed() const { return (uint64_t{generation} << 32) ^ (uint64_t{listener} << 24) ^ slot; }
};

class Request {
 public:
  Request(Transport transport, std::string_view payload, const ClientAddress& peer,
          ConnectionId connection, uint64_t sequence)
      : transport_(transport), payload_(payload), peer_(peer), connection_(connection),
        sequence_(sequence) {}

  // The request's bytes: the frame without its length prefix (frame32), the line
  // without its newline (line), one read's bytes (raw), or one datagram (UDP).
  std::string_view payload() const { return payload_; }
  Transport transport() const { return transport_; }
  const ClientAddress& peer() const { return peer_; }
  // For TCP: the connection the request came on. For UDP: all zero.
  const ConnectionId& connection() const { return connection_; }
  // The request's number on its connection, from 0 (TCP); 0 for UDP.
  uint64_t sequence() const { return sequence_; }

 private:
  Transport transport_;
  std::string_view payload_;
  const ClientAddress& peer_;
  ConnectionId connection_;
  uint64_t sequence_;
};

}  // namespace solar
