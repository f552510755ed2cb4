// KvClient: one connection to a solar KV server, TCP (frame32) or UDP (one
// datagram per message), with a timeout on every exchange. Used by solar-cli.
//
//   KvClient client;
//   std::string error;
//   if (!client.connect("127.0.0.1:7700", KvClient::kTcp, 5000, &error)) ...
//   solar::kv::KvRequest req;  req.mutable_get()->set_key("k");
//   solar::kv::KvResponse resp;
//   if (!client.call(req, &resp, &error)) ...   // transport failure
//
// Return contract: false means no valid reply came (error says why: refused,
// closed, timed out, unparsable); a reply with a non-OK status is still true.
// Runs in: solar-cli (and its unit tests). Not thread-safe.
#pragma once

#include <string>

#include "kv.pb.h"

namespace solar::cli {

class KvClient {
 public:
  enum Transport { kTcp, kUdp };

  KvClient() = default;
  ~KvClient();
  KvClient(const KvClient&) = delete;
  KvClient& operator=(const KvClient&) = delete;

  // `target` is HOST:PORT or [V6]:PORT; HOST may be a name.
  bool connect(const std::string& target, Transport transport, int timeout_ms, std::string* error);
  bool call(const kv::KvRequest& request, kv::KvResponse* response, std::string* error);
  void close();

 private:
  bool sendAll(const std::string& bytes, std::string* error);
  bool receive(std::string* payload, std::string* error);
  bool readExactly(size_t n, std::string* out, int64_t deadline_ms, std::string* error);

  int fd_ = -1;
  Transport transport_ = kTcp;
  int timeout_ms_ = 5000;
  uint64_t next_id_ = 1;
};

// Splits "host:port" / "[v6]:port". false when malformed.
bool SplitTarget(const std::string& target, std::string* host, std::string* port);

}  // namespace solar::cli
