// solarctl's client of the admin endpoint (src/admin/admin_http.cc): GET
// requests through libevent's HTTP client, each bounded by a timeout, and the
// master's part of /status.
// Runs in: solarctl.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "base/noncopyable.h"
#include "base/socket_address.h"

struct event_base;
struct evhttp_connection;

namespace solar::ctl {

class AdminClient : NonCopyable {
 public:
  // `address` is where the admin endpoint listens (admin_listen or --admin).
  AdminClient(const SocketAddress& address, int timeout_ms);
  ~AdminClient();

  // GET `path`. True with *body for a 200 answer; false with *why naming the
  // endpoint and what went wrong (refused, timed out, another status).
  bool get(const std::string& path, std::string* body, std::string* why);

 private:
  SocketAddress address_;
  std::string host_;  // numeric, for evhttp_connection_base_new
  int timeout_ms_;
  event_base* base_;
  evhttp_connection* connection_ = nullptr;  // kept for the next request (keep-alive)
};

// The master's fields of /status ({"master": {...}, "processes": [...]}).
struct MasterStatus {
  pid_t pid = 0;
  std::string state;  // "starting", "running", "reloading", "stopping"
  uint64_t reloads = 0;
  uint64_t reload_failures = 0;
  int workers = 0;  // TCP and UDP worker processes listed
  // Why the last reload failed, when the server reports it (a field this
  // solar may not have yet: "" then).
  std::string last_reload_error;
};

// Parses a /status body. False with *why when it is not the JSON solar sends.
bool ParseMasterStatus(const std::string& body, MasterStatus* out, std::string* why);

}  // namespace solar::ctl
