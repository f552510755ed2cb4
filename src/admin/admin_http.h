// The admin endpoint: GET /metrics (Prometheus text format 0.0.4) and
// GET /status (JSON), rendered from a snapshot of the shared-memory scoreboard
// (PHP-FPM's status page; DESIGN.md "Configuration and control").
//
// It runs in its own child, dropped to the worker user like the others, rather
// than in the master: parsing HTTP from the network is attack surface, and the
// master is the one process that stays root. The master binds the socket (so
// a privileged port works) and respawns this child like any other.
// Runs in: the admin process. Entry point: RunAdmin.
#pragma once

#include <string>

#include "app/child_context.h"

namespace solar {

int RunAdmin(const ChildContext& ctx);

// Renderers, pure over a scoreboard (tested without HTTP).
std::string RenderMetrics(const Scoreboard& board);
std::string RenderStatus(const Scoreboard& board);

// The answer to one request, from its method and request target (the URI as
// received) alone: the part of request handling that is ours, kept apart from
// libevent's callback so it can be fuzzed (test/fuzz/admin_request_fuzz.cc).
struct AdminReply {
  int code;
  const char* reason;
  const char* content_type;
  std::string body;
};
AdminReply AnswerAdminRequest(bool is_get, const char* uri, const Scoreboard& board);

}  // namespace solar
