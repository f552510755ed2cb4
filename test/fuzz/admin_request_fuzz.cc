// The admin endpoint's request handling (src/admin/admin_http.h,
// AnswerAdminRequest): the method and request target of an HTTP request, as
// libevent hands them to the callback, over a scoreboard with a few live
// processes. libevent's own HTTP parsing is not ours and is not fuzzed here.
//
// Input: one byte whose low bit says GET, then the request target (up to a
// NUL: libevent hands over a C string).
// Beyond "no crash": only GET is answered; 200 for /metrics and /status
// and /health (whatever the query or fragment), with their bodies; 404 otherwise.
#include <unistd.h>

#include <string>

#include "admin/admin_http.h"
#include "fuzz_support.h"
#include "scoreboard/scoreboard.h"

namespace {

solar::Scoreboard* g_board = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  solar::fuzz::QuietLogs();
  static std::unique_ptr<solar::Scoreboard> board = solar::Scoreboard::create(
      {solar::Role::kListener, solar::Role::kWorker, solar::Role::kWorker, solar::Role::kAdmin});
  FUZZ_CHECK(board != nullptr);
  const solar::Role roles[] = {solar::Role::kListener, solar::Role::kWorker, solar::Role::kWorker};
  for (size_t i = 0; i < 3; ++i) {
    board->reset(i, roles[i], static_cast<int>(i));
    board->slot(i).pid.store(getpid() + static_cast<int>(i));
    solar::Add(&board->slot(i), solar::kRequests, 7 * i);
  }
  g_board = board.get();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool is_get = data[0] & 1;
  const std::string uri(reinterpret_cast<const char*>(data + 1), size - 1);  // c_str() stops at a NUL
  const solar::AdminReply r = solar::AnswerAdminRequest(is_get, uri.c_str(), *g_board);
  FUZZ_CHECK(r.reason != nullptr && r.content_type != nullptr && !r.body.empty());
  if (!is_get) {
    FUZZ_CHECK(r.code == 405);
    return 0;
  }
  FUZZ_CHECK(r.code == 200 || r.code == 404 || r.code == 503);
  const std::string target = uri.c_str();
  // 503 only from /health (the fuzz scoreboard's master never reports "running").
  if (r.code == 503) FUZZ_CHECK(target.find("/health") != std::string::npos);
  if (target == "/metrics") FUZZ_CHECK(r.code == 200 && r.body.find("solar_up 1\n") != std::string::npos);
  if (target == "/status") FUZZ_CHECK(r.code == 200 && r.body.compare(0, 10, "{\"master\":") == 0);
  if (r.code == 200) {
    FUZZ_CHECK(target.find("/metrics") != std::string::npos || target.find("/status") != std::string::npos ||
               target.find("/health") != std::string::npos);
  }
  return 0;
}
