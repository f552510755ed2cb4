#include "admin_client.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

namespace solar::ctl {
namespace {

// One request's outcome, filled by libevent's callbacks.
struct Exchange {
  event_base* base = nullptr;
  bool done = false;
  bool failed = false;
  evhttp_request_error error = EVREQ_HTTP_EOF;
  int code = 0;
  std::string reason;
  std::string body;
};

// Called before OnDone when some requests fail (libevent 2.1: a timeout, a
// broken answer; not a refused connect).
void OnError(evhttp_request_error error, void* arg) {
  auto* x = static_cast<Exchange*>(arg);
  x->failed = true;
  x->error = error;
}

// Called once per request: with the answer, or with nullptr / code 0 when it failed.
void OnDone(evhttp_request* req, void* arg) {
  auto* x = static_cast<Exchange*>(arg);
  x->done = true;
  if (req != nullptr && evhttp_request_get_response_code(req) != 0) {
    x->code = evhttp_request_get_response_code(req);
    const char* line = evhttp_request_get_response_code_line(req);
    x->reason = line != nullptr ? line : "";
    evbuffer* in = evhttp_request_get_input_buffer(req);
    x->body.resize(evbuffer_get_length(in));
    evbuffer_copyout(in, x->body.data(), x->body.size());
  } else {
    x->failed = true;
  }
  event_base_loopbreak(x->base);
}

void OnBackstop(evutil_socket_t, short, void* base) { event_base_loopbreak(static_cast<event_base*>(base)); }

timeval Millis(int ms) { return timeval{ms / 1000, (ms % 1000) * 1000}; }

// Why a connection to `address` cannot be made, for a request that failed
// without an answer: libevent 2.1 reports a refused connect like a closed
// one and keeps no errno, so one plain connect() names it. "" if it connects.
std::string ConnectError(const SocketAddress& address, int timeout_ms) {
  const int fd = socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::strerror(errno);
  const timeval tv = Millis(timeout_ms);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));  // bounds connect() too
  const int rc = connect(fd, address.get(), address.length);
  const int err = errno;
  close(fd);
  return rc == 0 ? std::string() : std::strerror(err);
}

uint64_t Number(const google::protobuf::Struct& s, const char* key) {
  auto it = s.fields().find(key);
  return it != s.fields().end() && it->second.has_number_value() ? static_cast<uint64_t>(it->second.number_value())
                                                                 : 0;
}

}  // namespace

AdminClient::AdminClient(const SocketAddress& address, int timeout_ms)
    : address_(address), timeout_ms_(timeout_ms), base_(event_base_new()) {
  char host[NI_MAXHOST] = "";
  getnameinfo(address.get(), address.length, host, sizeof(host), nullptr, 0, NI_NUMERICHOST);
  host_ = host;
}

AdminClient::~AdminClient() {
  if (connection_ != nullptr) evhttp_connection_free(connection_);
  if (base_ != nullptr) event_base_free(base_);
}

bool AdminClient::get(const std::string& path, std::string* body, std::string* why) {
  const std::string where = "the admin endpoint at " + address_.toString();
  if (base_ == nullptr || host_.empty()) {
    *why = "cannot set up a client for " + where;
    return false;
  }
  const timeval timeout = Millis(timeout_ms_);
  if (connection_ == nullptr) {
    connection_ = evhttp_connection_base_new(base_, nullptr, host_.c_str(), static_cast<uint16_t>(address_.port()));
    if (connection_ == nullptr) {
      *why = "cannot set up a connection to " + where;
      return false;
    }
    // Bounds the connect, the send and the wait for the answer alike.
    evhttp_connection_set_timeout_tv(connection_, &timeout);
    evhttp_connection_set_retries(connection_, 0);
  }
  Exchange x;
  x.base = base_;
  evhttp_request* req = evhttp_request_new(OnDone, &x);
  evhttp_request_set_error_cb(req, OnError);
  evhttp_add_header(evhttp_request_get_output_headers(req), "Host", host_.c_str());
  // On failure evhttp_make_request frees the request itself.
  const bool sent = evhttp_make_request(connection_, req, EVHTTP_REQ_GET, path.c_str()) == 0;
  if (sent) {
    // A backstop a second after evhttp's own timeout, so that no state of the
    // connection can keep solarctl waiting.
    const timeval backstop = Millis(timeout_ms_ + 1000);
    event* timer = evtimer_new(base_, OnBackstop, base_);
    evtimer_add(timer, &backstop);
    event_base_dispatch(base_);
    event_free(timer);
  }
  if (!sent || !x.done || x.failed) {
    // A fresh connection for the next request: this one's state is unknown.
    evhttp_connection_free(connection_);
    connection_ = nullptr;
    if (!sent) {
      *why = "cannot send a request to " + where;
    } else if (!x.done || x.error == EVREQ_HTTP_TIMEOUT) {
      *why = where + " did not answer within " + std::to_string(timeout_ms_) + " ms";
    } else if (const std::string error = ConnectError(address_, timeout_ms_); !error.empty()) {
      *why = "cannot reach " + where + ": " + error;
    } else {
      *why = where + " closed the connection without an answer";
    }
    return false;
  }
  if (x.code != 200) {
    *why = "unexpected answer from " + where + ": " + std::to_string(x.code) + " " + x.reason;
    return false;
  }
  *body = std::move(x.body);
  return true;
}

bool ParseMasterStatus(const std::string& body, MasterStatus* out, std::string* why) {
  google::protobuf::Struct status;
  if (!google::protobuf::util::JsonStringToMessage(body, &status).ok()) {
    *why = "the admin endpoint sent invalid JSON";
    return false;
  }
  auto master = status.fields().find("master");
  if (master == status.fields().end() || !master->second.has_struct_value()) {
    *why = "the admin endpoint's /status has no \"master\"";
    return false;
  }
  const google::protobuf::Struct& m = master->second.struct_value();
  out->pid = static_cast<pid_t>(Number(m, "pid"));
  auto state = m.fields().find("state");
  out->state = state != m.fields().end() ? state->second.string_value() : "";
  out->reloads = Number(m, "reloads");
  out->reload_failures = Number(m, "reload_failures");
  auto error = m.fields().find("last_reload_error");
  out->last_reload_error = error != m.fields().end() ? error->second.string_value() : "";
  out->workers = 0;
  auto processes = status.fields().find("processes");
  if (processes != status.fields().end()) {
    for (const auto& p : processes->second.list_value().values()) {
      auto role = p.struct_value().fields().find("role");
      if (role == p.struct_value().fields().end()) continue;
      const std::string& r = role->second.string_value();
      if (r == "worker" || r == "udp_worker") ++out->workers;
    }
  }
  return true;
}

}  // namespace solar::ctl
