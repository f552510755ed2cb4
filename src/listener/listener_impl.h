// The Listener class, shared by listener.cc (start, accept, timers, stop),
// client_io.cc (reading, framing, forwarding, writing, backpressure) and
// replies.cc (replies and notices from the workers' socketpair, flushing).
// Internal to src/listener.
// Runs in: listener processes.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "app/child_context.h"
#include "base/event_loop.h"
#include "base/event_ptr.h"
#include "base/noncopyable.h"
#include "base/unique_fd.h"
#include "ipc/channel.h"
#include "ipc/out_link.h"
#include "ipc/record.h"
#include "listener/connection.h"
#include "listener/dispatcher.h"
#include "listener/framer.h"

namespace solar {

using ipc::RecordHeader;
using ipc::RecordType;

inline constexpr size_t kReadChunk = 8192;  // seed 003: each readable event reads up to 8 KiB
inline constexpr int kReadsPerEvent = 8;    // fairness: at most 64 KiB per connection per pass
inline constexpr int kAcceptsPerEvent = 64;
inline constexpr int kReplyBatchesPerEvent = 32;  // of up to InChannel::kMaxBatch datagrams
// A worker's queue in this listener above this stops reading the connections
// that feed it; below the low mark they resume.
inline constexpr size_t kChannelHighWater = 8u << 20;
inline constexpr size_t kChannelLowWater = 1u << 20;
inline constexpr int kTickMs = 100;
// PER_REQUEST: input held back behind in-flight requests above this pauses reading.
inline constexpr size_t kHeldBackBytes = 1u << 20;
// PER_REQUEST: a worker with requests of ours that has answered none for this
// long is "stuck" for the pick (pickWorker): kStuckPenalty is added to its count.
inline constexpr int64_t kSlowRequestMs = 2;
inline constexpr uint64_t kStuckPenalty = uint64_t{1} << 32;
inline constexpr int kDrainReads = 512;  // stop: what a client sent before the stop (up to 4 MiB) is still read

class Listener : NonCopyable {
 public:
  explicit Listener(const ChildContext& ctx);
  bool init();
  int run();

 private:
  // libevent trampolines
  static void AcceptCb(evutil_socket_t, short, void* arg) { static_cast<Listener*>(arg)->onAccept(); }
  static void RepliesCb(evutil_socket_t, short, void* arg) { static_cast<Listener*>(arg)->onReplies(); }
  static void FlushCb(evutil_socket_t, short, void* arg) { static_cast<Listener*>(arg)->flushAll(); }
  static void ChannelProgress(void* self, size_t w, bool drained) {
    static_cast<Listener*>(self)->onChannelProgress(w, drained);
  }
  static void TickCb(evutil_socket_t, short, void* arg) { static_cast<Listener*>(arg)->onTick(); }
  static void StopCb(evutil_socket_t, short, void* arg) { static_cast<Listener*>(arg)->beginStop(); }
  static void ClientReadCb(evutil_socket_t, short, void* arg);
  static void ClientWriteCb(evutil_socket_t, short, void* arg);

  void onAccept();
  void acceptOne(UniqueFd fd, const sockaddr_storage& ss);
  void onClientRead(Connection* c);
  void onClientWrite(Connection* c);
  bool frameInput(Connection* c);
  // One whole frame of `c`'s input to its worker (PER_REQUEST: the least busy
  // one), taken off the input. False if `c` was closed instead.
  bool forwardFrame(Connection* c, const Framer::Frame& f);
  void forward(Connection* c, size_t worker, RecordType type, std::string_view payload, uint64_t seq);
  void onReplies();
  void handleReply(const RecordHeader& h, std::string_view chunk);
  // Writes one reply (in its turn) to the connection's output.
  void deliverReply(Connection* c, uint16_t flags, std::string_view message);
  // PER_REQUEST: a reply completed out of turn, or in turn (then every reply
  // it was holding up goes out too).
  void completeInFlight(Connection* c, const RecordHeader& h, std::string_view message);
  size_t pickWorker();
  uint64_t requestsOn(size_t w) const;
  bool workerRunning(size_t w) const;  // a process holds the slot (not dead, waiting to respawn)
  void refreshRunning();
  void countRequest(size_t w, int delta);
  // The reassembler's key for a reply: a PER_REQUEST connection may have
  // chunked replies from several workers arriving interleaved.
  uint64_t replyKey(uint32_t slot, uint64_t seq) const {
    return per_request_ ? (uint64_t{static_cast<uint32_t>(seq)} << 32) | slot : slot;
  }
  // The worker a request of `c` would wait on (pinned: its worker; PER_REQUEST:
  // the one its last request went to).
  size_t queueOf(const Connection* c) const {
    return per_request_ && !c->in_flight.empty() ? c->in_flight.back().worker : c->worker();
  }
  void handleWorkerLost(const RecordHeader& h, std::string_view payload);
  void handleWorkerState(const RecordHeader& h);
  void onChannelProgress(size_t w, bool drained);
  void scheduleFlush();
  void flushAll();
  bool writeOut(Connection* c);
  bool writeReplyNow(Connection* c, std::string_view message);
  void markDirty(Connection* c);
  void pauseRead(Connection* c);
  bool resumeRead(Connection* c);  // false if framing the buffered input closed it
  bool readInput(Connection* c, int max_reads);  // false if the connection was closed
  void waitForChannel(Connection* c);
  void resumePaused(size_t w);
  void publishQueued();
  void maybeFinish(Connection* c);
  void closeConnection(Connection* c);
  Connection* lookup(uint32_t slot, uint32_t gen);
  void onTick();
  void beginStop();

  const ChildContext& ctx_;
  const Config& config_;
  const uint16_t id_;
  EventLoop loop_;  // before every event: freed after them
  UniqueFd listen_fd_;
  UniqueFd idle_fd_;  // spare fd for EMFILE (muduo, after libev's docs)
  EventPtr accept_ev_, replies_ev_, tick_ev_;
  std::unique_ptr<Framer> framer_;
  Dispatcher dispatcher_;
  const bool per_request_;     // dispatch PER_REQUEST
  const size_t max_in_flight_;  // PER_REQUEST: per connection
  std::vector<uint32_t> requests_;  // PER_REQUEST: ours outstanding per worker (mirrored in the scoreboard)
  std::vector<int64_t> progress_ms_;  // PER_REQUEST: per worker, its last reply to us or when it became busy
  std::vector<bool> running_;          // PER_REQUEST: a process holds the worker slot (as of the last tick)
  int64_t replies_now_ms_ = 0;        // PER_REQUEST: the clock at the start of this pass over replies

  std::vector<std::unique_ptr<Connection>> conns_;  // index = connection slot
  std::vector<uint32_t> free_slots_;
  uint32_t next_gen_;
  size_t live_ = 0;

  struct WorkerLink {
    std::unique_ptr<ipc::OutLink> out;
    std::vector<std::pair<uint32_t, uint32_t>> paused;  // (slot, gen) waiting for this queue to drain
  };
  std::vector<WorkerLink> workers_;
  std::vector<bool> worker_down_;  // the master said: this worker slot cannot start
  ipc::InChannel from_workers_;
  ipc::Reassembler reassembler_;
  ipc::Limits limits_;
  std::vector<std::pair<uint32_t, uint32_t>> dirty_;
  bool stopping_ = false;
  int ticks_ = 0;
};

}  // namespace solar
