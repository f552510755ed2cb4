// The WorkerProcess class, shared by worker_process.cc (start, reading the
// socketpair, retire and stop) and worker_requests.cc (records, requests and
// their replies back to the listeners).
// Internal to src/worker.
// Runs in: worker processes.
#pragma once

#include <csignal>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "api/worker.h"
#include "app/child_context.h"
#include "base/event_loop.h"
#include "base/event_ptr.h"
#include "base/noncopyable.h"
#include "ipc/channel.h"
#include "ipc/out_link.h"
#include "ipc/record.h"

namespace solar {

using ipc::RecordHeader;
using ipc::RecordType;

class WorkerProcess : NonCopyable {
 public:
  explicit WorkerProcess(const ChildContext& ctx);
  // The loop is over and the stop has begun; the master repeats TERM every
  // 100 ms while it waits. Freeing the signal events puts TERM back to its
  // default, which would cut short what follows — the Worker's destructor
  // (closing its database), exit() — so TERM is ignored from here on; a
  // process that hangs still meets SIGKILL at graceful_timeout_ms.
  ~WorkerProcess() {
    loop_.clearSignals();
    std::signal(SIGTERM, SIG_IGN);
  }
  int init();
  int run();

 private:
  static void InputCb(evutil_socket_t, short, void* arg) { static_cast<WorkerProcess*>(arg)->onInput(); }
  static void StopCb(evutil_socket_t, short, void* arg) { static_cast<WorkerProcess*>(arg)->beginStop(); }
  static void RetireCb(evutil_socket_t, short, void* arg) { static_cast<WorkerProcess*>(arg)->beginRetire(); }
  static void ActivateCb(evutil_socket_t, short, void* arg) { static_cast<WorkerProcess*>(arg)->activate(); }
  static void OutProgress(void* self, size_t listener, bool drained) {
    if (drained) static_cast<WorkerProcess*>(self)->onOutDrained(listener);
  }
  static void StopTimeoutCb(evutil_socket_t, short, void* arg) { static_cast<WorkerProcess*>(arg)->loop_.exit(); }

  // worker_process.cc
  void onInput();
  // Parses the datagrams of the last receive into batch_ and batch_ends_, and
  // puts every request that starts in them on the held list.
  void collectBatch();
  void runBatch();
  void setInputEnabled(bool on);
  void beginStop();
  void maybeExitAfterStop();
  void beginRetire();
  void activate();

  // worker_requests.cc
  void handleRecord(const RecordHeader& h, std::string_view payload);
  void handleData(const RecordHeader& h, std::string_view chunk);
  void processRequest(const RecordHeader& h, std::string_view message);
  // Shows the request and when it began in the scoreboard slot: the master
  // kills a worker stuck in one (request_timeout_ms) and names its client.
  void publishBusy(const RecordHeader& h);
  // Runs process() into resp_; an exception or an oversized reply becomes an
  // error reply.
  void runProcess(Request& req, const ClientAddress& peer);
  // resp_ as the reply to `h`, queued to its listener.
  void queueReply(const RecordHeader& h);
  // Back to idle (or retiring) in the slot; asks for a replacement at max_requests.
  void publishIdle();
  void closeConn(uint64_t key);
  void flushOut();
  void onOutDrained(size_t listener);
  void repliesSent(size_t listener);
  bool anyPending() const;

  const ChildContext& ctx_;
  const Config& config_;
  std::unique_ptr<Worker> worker_;
  std::string name_;
  EventLoop loop_;  // before every event: freed after them
  ipc::InChannel in_;
  EventPtr input_ev_, stop_timeout_ev_;
  bool input_enabled_ = false;
  ipc::Limits limits_;
  ipc::Reassembler reassembler_;
  HeldList held_;
  struct ReceivedRecord {
    RecordHeader h;
    std::string_view payload;  // into in_'s buffer: valid until the next read
  };
  std::vector<ReceivedRecord> batch_;  // one receive's records, reused
  std::vector<size_t> batch_ends_;     // where each datagram's records end in batch_

  struct ListenerLink {
    std::unique_ptr<ipc::OutLink> out;
    std::vector<ipc::HeldEntry> replies_queued;  // held until their datagram is sent
  };
  std::vector<ListenerLink> listeners_;
  std::unordered_map<uint64_t, ConnectionInfo> conns_;
  Response resp_;
  bool stopping_ = false;
  bool retiring_ = false;
  bool standby_ = false;
  uint64_t served_ = 0;
  uint64_t recycle_after_ = 0;  // 0: never
};

}  // namespace solar
