#include "admin/admin_http.h"

#include <signal.h>

#include <cstdio>
#include <memory>
#include <sstream>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <glog/logging.h>

#include "base/event_loop.h"

namespace solar {
namespace {

bool IsGauge(int c) { return c == kConnections || c == kQueuedToWorker; }

const char* CounterHelp(int c) {
  switch (c) {
    case kRequests: return "Requests answered (workers) or received and forwarded (listeners).";
    case kBytesIn: return "Request payload bytes received by workers.";
    case kBytesOut: return "Reply payload bytes sent by workers.";
    case kErrors: return "Requests answered with an error (process() threw, Response::error, reply too large).";
    case kBadRecords: return "IPC records refused by validation.";
    case kOrphanChunks: return "Request chunks whose start was lost with a dead worker.";
    case kAccepted: return "TCP connections accepted.";
    case kRejected: return "TCP connections closed at once: over max_connections or out of fds.";
    case kConnections: return "TCP connections open now.";
    case kOversized: return "Connections closed for a frame over max_frame_bytes.";
    case kIdleClosed: return "Connections closed by idle_timeout_ms.";
    case kReadTimeouts: return "Connections closed by request_read_timeout_ms (a partial request held too long).";
    case kSendTimeouts: return "Connections closed by send_timeout_ms (the client stopped taking its replies).";
    case kStaleReplies: return "Replies dropped because their connection was gone or closing.";
    case kLostClosed: return "Connections closed because their worker died holding their request.";
    case kUnavailableClosed: return "Connections closed because their worker could not start.";
    case kQueuedToWorker: return "Bytes queued in a listener for busy workers.";
    case kUdpReceived: return "UDP datagrams read.";
    case kUdpQueued: return "UDP datagrams put on the queue.";
    case kQueueFull: return "UDP datagrams dropped because the queue was full.";
    case kTooBig: return "UDP datagrams dropped for their size.";
    case kUdpSendErrors: return "UDP replies whose sendto() failed.";
  }
  return "";
}

struct Live {
  size_t index;
  Role role;
  int slot;
  pid_t pid;
  SlotState state;
  int64_t started_ms;
  int64_t request_start_ms;
  uint64_t counters[kCounterCount];
};

// Copies what is running; atomics are read one by one (PHP-FPM copies under a
// lock; exact cross-field consistency is not needed for monitoring).
std::vector<Live> Snapshot(const Scoreboard& board) {
  std::vector<Live> out;
  for (size_t i = 0; i < board.size(); ++i) {
    const ProcessSlot& s = board.slot(i);
    pid_t pid = s.pid.load();
    if (pid <= 0) continue;
    Live l;
    l.index = i;
    l.role = static_cast<Role>(s.role.load());
    l.slot = s.index.load();
    l.pid = pid;
    l.state = static_cast<SlotState>(s.state.load());
    l.started_ms = s.started_ms.load();
    l.request_start_ms = board.worker(i) != nullptr ? board.worker(i)->request_start_ms.load() : 0;
    for (int c = 0; c < kCounterCount; ++c) l.counters[c] = s.counters[c].load(std::memory_order_relaxed);
    out.push_back(l);
  }
  return out;
}

std::string Labels(const Live& l) {
  return "{role=\"" + std::string(RoleName(l.role)) + "\",slot=\"" + std::to_string(l.slot) + "\",pid=\"" +
         std::to_string(l.pid) + "\"}";
}

}  // namespace

std::string RenderMetrics(const Scoreboard& board) {
  const ScoreboardHeader& h = board.header();
  std::vector<Live> live = Snapshot(board);
  std::ostringstream o;
  auto family = [&](const std::string& name, const char* type, const char* help) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
  };
  family("solar_up", "gauge", "1 while the server runs.");
  o << "solar_up 1\n";
  family("solar_start_time_seconds", "gauge", "When the master started, in seconds since the epoch.");
  o << "solar_start_time_seconds " << h.started_ms.load() / 1000 << "\n";
  family("solar_state", "gauge", "1 for the master's current state.");
  for (auto st : {ServerState::kStarting, ServerState::kRunning, ServerState::kReloading, ServerState::kStopping})
    o << "solar_state{state=\"" << ServerStateName(st) << "\"} "
      << (h.state.load() == static_cast<uint8_t>(st) ? 1 : 0) << "\n";
  family("solar_draining", "gauge", "1 from a drain (WINCH, solarctl drain) or a stop: /health answers 503.");
  o << "solar_draining " << int{h.draining.load()} << "\n";
  family("solar_active_workers", "gauge", "TCP worker slots that new connections are assigned to.");
  o << "solar_active_workers " << h.active_workers.load() << "\n";
  const std::pair<const char*, const std::atomic<uint64_t>*> master_counters[] = {
      {"solar_reloads_total", &h.reloads},     {"solar_reload_failures_total", &h.reload_failures},
      {"solar_respawns_total", &h.respawns},   {"solar_request_timeouts_total", &h.timeouts},
      {"solar_recycles_total", &h.recycles}};
  const char* master_help[] = {"Rolling reloads completed.", "Rolling reloads stopped by a failed replacement.",
                               "Children replaced after an unplanned exit.",
                               "Workers killed for exceeding request_timeout_ms.",
                               "Workers replaced for max_requests or max_rss_mb."};
  for (size_t i = 0; i < 5; ++i) {
    family(master_counters[i].first, "counter", master_help[i]);
    o << master_counters[i].first << " " << master_counters[i].second->load() << "\n";
  }
  family("solar_process_start_time_seconds", "gauge", "When each child started, in seconds since the epoch.");
  for (const Live& l : live) o << "solar_process_start_time_seconds" << Labels(l) << " " << l.started_ms / 1000 << "\n";
  family("solar_process_busy", "gauge", "1 while a worker is inside process().");
  for (const Live& l : live) o << "solar_process_busy" << Labels(l) << " " << (l.request_start_ms != 0 ? 1 : 0) << "\n";
  for (int c = 0; c < kCounterCount; ++c) {
    const std::string name = std::string("solar_") + CounterName(c) + (IsGauge(c) ? "" : "_total");
    family(name, IsGauge(c) ? "gauge" : "counter", CounterHelp(c));
    for (const Live& l : live) o << name << Labels(l) << " " << l.counters[c] << "\n";
  }
  return o.str();
}

std::string RenderStatus(const Scoreboard& board) {
  const ScoreboardHeader& h = board.header();
  const int64_t now = NowRealtimeMs(), mono = NowMonotonicMs();
  std::ostringstream o;
  o << "{\"master\":{\"pid\":" << h.master_pid.load() << ",\"state\":\""
    << ServerStateName(static_cast<ServerState>(h.state.load())) << "\",\"draining\":"
    << (h.draining.load() ? "true" : "false") << ",\"uptime_s\":"
    << (now - h.started_ms.load()) / 1000 << ",\"active_workers\":" << h.active_workers.load()
    << ",\"reloads\":" << h.reloads.load() << ",\"reload_failures\":" << h.reload_failures.load()
    << ",\"respawns\":" << h.respawns.load() << ",\"request_timeouts\":" << h.timeouts.load()
    << ",\"recycles\":" << h.recycles.load() << "},\"processes\":[";
  bool first = true;
  for (const Live& l : Snapshot(board)) {
    o << (first ? "" : ",") << "{\"role\":\"" << RoleName(l.role) << "\",\"slot\":" << l.slot << ",\"pid\":" << l.pid
      << ",\"state\":\"" << SlotStateName(l.state) << "\",\"uptime_s\":" << (now - l.started_ms) / 1000;
    if (l.request_start_ms != 0) o << ",\"request_ms\":" << mono - l.request_start_ms;
    o << ",\"counters\":{";
    for (int c = 0; c < kCounterCount; ++c) o << (c ? "," : "") << "\"" << CounterName(c) << "\":" << l.counters[c];
    o << "}}";
    first = false;
  }
  o << "]}\n";
  return o.str();
}

AdminReply AnswerAdminRequest(bool is_get, const char* uri, const Scoreboard& board) {
  if (!is_get) return {405, "Method Not Allowed", "text/plain", "only GET\n"};
  evhttp_uri* parsed = uri != nullptr ? evhttp_uri_parse(uri) : nullptr;
  std::string path = parsed && evhttp_uri_get_path(parsed) ? evhttp_uri_get_path(parsed) : "";
  if (parsed) evhttp_uri_free(parsed);
  if (path == "/metrics") return {200, "OK", "text/plain; version=0.0.4; charset=utf-8", RenderMetrics(board)};
  if (path == "/status") return {200, "OK", "application/json", RenderStatus(board)};
  if (path == "/health") {
    // For a load balancer's health check (HAProxy `option httpchk GET /health`):
    // 200 while the server takes new connections; 503 while it starts, drains
    // or stops, so the balancer moves new connections away before any closes.
    const auto state = static_cast<ServerState>(board.header().state.load());
    const bool serving = (state == ServerState::kRunning || state == ServerState::kReloading) &&
                         board.header().draining.load() == 0;
    if (serving) return {200, "OK", "text/plain", "serving\n"};
    const char* why = board.header().draining.load() != 0 && state != ServerState::kStopping
                          ? "draining\n"
                          : (state == ServerState::kStopping ? "stopping\n" : "starting\n");
    return {503, "Service Unavailable", "text/plain", why};
  }
  return {404, "Not Found", "text/plain", "try /metrics, /status or /health\n"};
}

namespace {

struct AdminState {
  const Scoreboard* board;
};

void Reply(evhttp_request* req, int code, const char* reason, const char* type, const std::string& body) {
  evkeyvalq* headers = evhttp_request_get_output_headers(req);
  evhttp_add_header(headers, "Content-Type", type);
  evhttp_add_header(headers, "Cache-Control", "no-store");
  evbuffer* buf = evbuffer_new();
  evbuffer_add(buf, body.data(), body.size());
  evhttp_send_reply(req, code, reason, buf);
  evbuffer_free(buf);
}

void OnRequest(evhttp_request* req, void* arg) {
  auto* st = static_cast<AdminState*>(arg);
  AdminReply r = AnswerAdminRequest(evhttp_request_get_command(req) == EVHTTP_REQ_GET, evhttp_request_get_uri(req),
                                    *st->board);
  Reply(req, r.code, r.reason, r.content_type, r.body);
}

void OnStop(evutil_socket_t, short, void* loop) { static_cast<EventLoop*>(loop)->breakNow(); }

struct EvhttpDeleter {
  void operator()(evhttp* h) const { evhttp_free(h); }
};

}  // namespace

int RunAdmin(const ChildContext& ctx) {
  EventLoop loop;
  if (!loop.init()) {
    LOG(ERROR) << "admin: event_base_new failed";
    return kExitRespawn;
  }
  std::unique_ptr<evhttp, EvhttpDeleter> http(evhttp_new(loop.base()));  // freed before the loop
  if (!http) {
    LOG(ERROR) << "admin: evhttp_new failed";
    return kExitRespawn;
  }
  AdminState st{ctx.board};
  evhttp_set_gencb(http.get(), OnRequest, &st);
  evhttp_set_timeout(http.get(), 10);
  evhttp_set_max_headers_size(http.get(), 8192);
  evhttp_set_max_body_size(http.get(), 4096);
  if (evhttp_accept_socket(http.get(), ctx.listen_fd) != 0) {
    LOG(ERROR) << "admin: evhttp_accept_socket failed";
    return kExitRespawn;
  }
  if (!loop.onSignal(SIGTERM, OnStop, &loop)) {
    LOG(ERROR) << "admin: cannot set up its signal event";
    return kExitRespawn;
  }
  // No state to publish: this process maps the whole scoreboard read-only
  // (it parses HTTP from the network), so the master marks its slot idle at
  // fork; the socket it serves was listening before, connections wait there.
  loop.run();
  return kExitOk;
}

}  // namespace solar
