// The scoreboard: one shared-memory block, created by the master before it
// forks, with a fixed-size slot per child (PHP-FPM fpm_scoreboard), split by
// writer: the header is the master's, each slot its process's (a role-specific
// part beside the common one), and a child can write only its own slot (the
// mapping enforces it, see Scoreboard). Counters are relaxed atomics on the child's own
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
#include <string>
#include <vector>

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

// What a worker is serving now (published before process(), read by the
// master when the request outlives request_timeout: the worker is stuck in
// it then).
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

// CurrentRequest under a seqlock (the kernel's vDSO data, Boehm's
// "Can seqlocks get along with programming language memory models?"): one
// writer, the worker; a reader that overlaps a write retries, so it never
// copies half of one request and half of the next. The words are relaxed
// atomics, so a read racing a write is defined behaviour, not a data race.
class CurrentRequestCell {
 public:
  void publish(const CurrentRequest& r);  // the worker only
  // False if no stable copy came in kReadTries (the writer kept writing).
  bool read(CurrentRequest* out) const;
  static constexpr int kReadTries = 64;

 private:
  static constexpr size_t kWords = (sizeof(CurrentRequest) + 7) / 8;
  std::atomic<uint32_t> seq_;  // odd while a write is under way
  std::atomic<uint64_t> words_[kWords];
};

// Every role's slot: written by its process only (pid and state at start and
// death by the master), read by the master and the admin endpoint.
struct alignas(64) ProcessSlot {
  std::atomic<int32_t> pid;
  std::atomic<uint8_t> role;
  std::atomic<uint8_t> state;
  std::atomic<int32_t> index;       // listener/worker number
  std::atomic<int64_t> started_ms;  // CLOCK_REALTIME ms
  std::atomic<uint64_t> counters[kCounterCount];
};

// The worker roles' part (TCP and UDP), beside their ProcessSlot.
struct alignas(64) WorkerSlot {
  std::atomic<int64_t> request_start_ms;  // CLOCK_MONOTONIC ms of the request in process(); 0 when idle
  std::atomic<uint8_t> recycle;           // max_requests reached: asks for a replacement
  CurrentRequestCell current;
  // Written by the worker without atomics: the master reads it only after
  // waitpid() has reported the writer dead.
  uint32_t held_high;      // entries [0, held_high) may be in use
  uint32_t held_overflow;  // more than kMaxHeld were held: assume all outstanding
  HeldEntry held[kMaxHeld];
};

// The listener's part, beside its ProcessSlot.
struct alignas(64) ListenerSlot {
  // Its open connections per worker slot (scale-down waits for 0).
  std::atomic<uint32_t> conns_per_worker[kMaxWorkerSlots];
  // PER_REQUEST: its requests sent to each worker slot and not yet answered.
  // Every listener picks the least busy worker from the sum over all
  // listeners; scale-down waits for 0.
  std::atomic<uint32_t> requests_per_worker[kMaxWorkerSlots];
};

enum class ServerState : uint8_t { kStarting = 0, kRunning, kReloading, kStopping };
const char* ServerStateName(ServerState s);

// Written by the master; read by every child, which maps it read-only.
// The live settings here change on HUP.
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

// The block layout, each part on its own pages so that a child's write
// access can stop at its own slot:
//
//   +--------+------------------------+-----------------------------+----
//   | header | slot 0: ProcessSlot    | slot 1: ProcessSlot         |
//   | (page) |   + ListenerSlot       |   + WorkerSlot              | ...
//   +--------+------------------------+-----------------------------+----
//
// The memory is a sealed memfd (F_SEAL_FUTURE_WRITE): the master's mapping,
// made before the seal, stays writable; a child replaces every page but its
// own slot's with a new read-only mapping (restrictTo), which no mprotect()
// can make writable again, then closes the memfd. Without memfd seals the
// child falls back to mprotect(PROT_READ), which stops bugs, not intent.
class Scoreboard : NonCopyable {
 public:
  // `layout[i]`: the role slot i is for (its part beside the ProcessSlot);
  // nullptr (logged) on failure.
  static std::unique_ptr<Scoreboard> create(const std::vector<Role>& layout);
  ~Scoreboard();

  size_t size() const { return layout_.size(); }
  ScoreboardHeader& header() { return *header_; }
  const ScoreboardHeader& header() const { return *header_; }
  ProcessSlot& slot(size_t i) { return *slots_[i]; }
  const ProcessSlot& slot(size_t i) const { return *slots_[i]; }
  // The role parts: nullptr where slot i is not for that role.
  WorkerSlot* worker(size_t i) { return workers_[i]; }
  const WorkerSlot* worker(size_t i) const { return workers_[i]; }
  ListenerSlot* listener(size_t i) { return listeners_[i]; }
  const ListenerSlot* listener(size_t i) const { return listeners_[i]; }
  // Clears a slot for a new process (master, before forking into it).
  void reset(size_t i, Role role, int index);
  // In a child, before it runs its role: every page read-only but slot
  // `own`'s (-1: all of them, as for the admin endpoint and HUP's check),
  // and the memfd closed. False with *error on failure.
  bool restrictTo(long own, std::string* error);
  bool sealed() const { return sealed_; }

 private:
  Scoreboard() = default;
  char* map_ = nullptr;
  size_t bytes_ = 0;
  int fd_ = -1;  // the memfd, -1 once a child restricted itself
  bool sealed_ = false;
  std::vector<Role> layout_;
  std::vector<size_t> offsets_;  // of each slot's block; offsets_[size()] == bytes_
  ScoreboardHeader* header_ = nullptr;
  std::vector<ProcessSlot*> slots_;
  std::vector<WorkerSlot*> workers_;
  std::vector<ListenerSlot*> listeners_;
};

// The held list of one worker slot. Insert on taking a request, erase once its
// reply is sent.
class HeldList {
 public:
  explicit HeldList(WorkerSlot* slot) : slot_(slot) {}
  void insert(uint16_t listener, uint32_t conn_id, uint32_t conn_gen, uint64_t seq);
  void erase(uint16_t listener, uint32_t conn_id, uint32_t conn_gen, uint64_t seq);
  size_t count() const { return count_; }

 private:
  WorkerSlot* slot_;
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
// CLOCK_MONOTONIC_COARSE: the same clock as NowMonotonicMs, read from the last
// timer tick (at most a tick, 1-10 ms, behind) without reading the TSC. For
// the per-request stamps that only deadlines read (idle, read and send
// timeouts, a request's start): those are checked on a tick of their own, far
// coarser than this. A deadline measured with it ends at most a tick early.
int64_t NowCoarseMs();

}  // namespace solar
