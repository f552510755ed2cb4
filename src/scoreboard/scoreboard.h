// The scoreboard: one shared-memory block, created by the master before it
// forks, with a fixed-size slot per child (PHP-FPM fpm_scoreboard). Each child
// writes only its own slot; counters are relaxed atomics on the child's own
// cache lines, so updates cost about as much as a local increment. Readers
// (the master, the admin endpoint) take snapshots. POD only, no pointers.
//
// A worker's slot also holds its "held list": the requests it has taken off
// its socketpair and not yet answered. When a worker dies, the master reads the
// list (the writer is dead, so no race) and tells each listener which
// connections lost a request, so no client waits forever (DESIGN.md "TCP path").
//
// Runs in: master (create, read), every child (its own slot).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/limits.h"
#include "base/noncopyable.h"

namespace solar {

enum class Role : uint8_t { kNone = 0, kListener, kWorker, kUdpListener, kUdpWorker, kAdmin };
// kStandby: a reload's replacement, initialised (module loaded, onStart done)
// and waiting for the master to hand it the slot. kRetiring: lets go of its
// slot, finishes what it holds, exits.
enum class SlotState : uint8_t { kEmpty = 0, kStarting, kIdle, kBusy, kStopping, kStandby, kRetiring };
const char* RoleName(Role r);
const char* SlotStateName(SlotState s);

enum Counter : int {
  // workers
  kRequests = 0,  // requests answered
  kBytesIn,       // request payload bytes
  kBytesOut,      // reply payload bytes
  kErrors,        // requests answered with an error (process() threw, Response::error, reply too large)
  kBadRecords,    // records refused by validation (all roles)
  kOrphanChunks,  // continuation chunks whose start went to a dead worker
  // listeners
  kAccepted,
  kRejected,       // over max_connections
  kConnections,    // open now (gauge)
  kOversized,      // frames over max_frame_bytes: connection closed
  kIdleClosed,     // closed by idle_timeout
  kReadTimeouts,   // closed by request_read_timeout_ms: part of a request held too long
  kSendTimeouts,   // closed by send_timeout_ms: the client stopped taking its replies
  kStaleReplies,   // replies for a connection that no longer exists, or behind one that closes it
  kLostClosed,     // closed because their worker died holding a request
  kUnavailableClosed,  // closed because their worker cannot start (a request nobody could take)
  kQueuedToWorker, // EAGAIN on a socketpair: bytes waiting (gauge)
  // UDP listener
  kUdpReceived,    // datagrams read
  kUdpQueued,      // datagrams put on the queue
  kQueueFull,      // dropped: the queue was full
  kTooBig,         // dropped: over max_datagram_bytes or the kernel's msgmax
  kUdpSendErrors,  // UDP worker: sendto() of a reply failed
  kCounterCount
};
const char* CounterName(int c);

struct HeldEntry {
  uint16_t listener;
  uint16_t used;
  uint32_t conn_id;
  uint32_t conn_gen;
  uint32_t reserved;
  uint64_t seq;
};

inline constexpr size_t kMaxHeld = 256;

// What a worker is serving now (written before process(), read by the master
// when the request outlives request_timeout: the worker is stuck in it then).
struct CurrentRequest {
  uint16_t listener;
  uint8_t transport;  // 0 TCP, 1 UDP
  uint8_t addr_family;
  uint16_t port;
  uint16_t reserved;
  uint32_t conn_id;
  uint32_t conn_gen;
  uint64_t seq;
  uint8_t addr[16];
};

struct alignas(64) ProcessSlot {
  std::atomic<int32_t> pid;
  std::atomic<uint8_t> role;
  std::atomic<uint8_t> state;
  std::atomic<uint8_t> recycle;     // worker: max_requests reached; asks for a replacement
  std::atomic<int32_t> index;       // listener/worker number
  std::atomic<int64_t> started_ms;  // CLOCK_REALTIME ms
  std::atomic<int64_t> request_start_ms;  // CLOCK_MONOTONIC ms of the request in process(); 0 when idle
  std::atomic<uint64_t> counters[kCounterCount];
  CurrentRequest current;
  // Listener only: its open connections per worker slot (scale-down waits for 0).
  std::atomic<uint32_t> conns_per_worker[kMaxWorkerSlots];
  // Listener only, PER_REQUEST: its requests sent to each worker slot and not
  // yet answered. Every listener picks the least busy worker from the sum over
  // all listeners; scale-down waits for 0.
  std::atomic<uint32_t> requests_per_worker[kMaxWorkerSlots];
  // Worker only. Written by the worker without atomics: the master reads it
  // only after waitpid() has reported the writer dead.
  uint32_t held_high;      // entries [0, held_high) may be in use
  uint32_t held_overflow;  // more than kMaxHeld were held: assume all outstanding
  HeldEntry held[kMaxHeld];
};

enum class ServerState : uint8_t { kStarting = 0, kRunning, kReloading, kStopping };
const char* ServerStateName(ServerState s);

// Written by the master; read by every child. Settings here change live (HUP).
struct alignas(64) ScoreboardHeader {
  std::atomic<int32_t> master_pid;
  std::atomic<uint8_t> state;          // ServerState
  std::atomic<uint8_t> draining;       // 1 from `solarctl drain` (WINCH) or a stop: /health answers 503
  std::atomic<int64_t> started_ms;     // CLOCK_REALTIME ms
  std::atomic<uint64_t> reloads;       // rolling reloads completed
  std::atomic<uint64_t> reload_failures;
  std::atomic<uint64_t> respawns;      // children replaced after an unplanned exit
  std::atomic<uint64_t> timeouts;      // workers killed by request_timeout
  std::atomic<uint64_t> recycles;      // workers replaced for max_requests / max_rss
  std::atomic<uint32_t> active_workers;   // listeners assign new connections to [0, this)
  std::atomic<uint32_t> max_connections;  // per listener
  std::atomic<uint32_t> idle_timeout_ms;
  std::atomic<uint32_t> request_read_timeout_ms;
  std::atomic<uint32_t> send_timeout_ms;
};

class Scoreboard : NonCopyable {
 public:
  // Maps an anonymous shared region with a header and `slots` slots; nullptr
  // with errno set.
  static std::unique_ptr<Scoreboard> create(size_t slots);
  ~Scoreboard();

  size_t size() const { return slots_; }
  ScoreboardHeader& header() { return *header_; }
  ProcessSlot& slot(size_t i) { return base_[i]; }
  // Clears a slot for a new process (master, before forking into it).
  void reset(size_t i, Role role, int index);

 private:
  Scoreboard(void* map, size_t bytes, size_t slots);
  void* map_;
  size_t bytes_;
  ScoreboardHeader* header_;
  ProcessSlot* base_;
  size_t slots_;
};

// The held list of one worker slot. Insert on taking a request, erase once its
// reply is sent.
class HeldList {
 public:
  explicit HeldList(ProcessSlot* slot) : slot_(slot) {}
  void insert(uint16_t listener, uint32_t conn_id, uint32_t conn_gen, uint64_t seq);
  void erase(uint16_t listener, uint32_t conn_id, uint32_t conn_gen, uint64_t seq);
  size_t count() const { return count_; }

 private:
  ProcessSlot* slot_;
  size_t count_ = 0;
};

inline void Add(ProcessSlot* s, Counter c, uint64_t n = 1) {
  s->counters[c].fetch_add(n, std::memory_order_relaxed);
}
inline void Sub(ProcessSlot* s, Counter c, uint64_t n = 1) {
  s->counters[c].fetch_sub(n, std::memory_order_relaxed);
}

int64_t NowRealtimeMs();
int64_t NowMonotonicMs();

}  // namespace solar
