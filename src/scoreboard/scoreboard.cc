#include "scoreboard/scoreboard.h"

#include <sys/mman.h>

#include <cstring>
#include <ctime>
#include <new>

namespace solar {

static_assert(std::atomic<uint64_t>::is_always_lock_free, "scoreboard counters must be lock-free in shm");
static_assert(std::atomic<int32_t>::is_always_lock_free);

const char* RoleName(Role r) {
  switch (r) {
    case Role::kNone: return "none";
    case Role::kListener: return "listener";
    case Role::kWorker: return "worker";
    case Role::kUdpListener: return "udp_listener";
    case Role::kUdpWorker: return "udp_worker";
    case Role::kAdmin: return "admin";
  }
  return "unknown";
}

const char* SlotStateName(SlotState s) {
  switch (s) {
    case SlotState::kEmpty: return "empty";
    case SlotState::kStarting: return "starting";
    case SlotState::kIdle: return "idle";
    case SlotState::kBusy: return "busy";
    case SlotState::kStopping: return "stopping";
    case SlotState::kStandby: return "standby";
    case SlotState::kRetiring: return "retiring";
  }
  return "unknown";
}

const char* ServerStateName(ServerState s) {
  switch (s) {
    case ServerState::kStarting: return "starting";
    case ServerState::kRunning: return "running";
    case ServerState::kReloading: return "reloading";
    case ServerState::kStopping: return "stopping";
  }
  return "unknown";
}

const char* CounterName(int c) {
  static const char* const kNames[kCounterCount] = {
      "requests",     "bytes_in",    "bytes_out",     "errors",        "bad_records",
      "orphan_chunks", "accepted",   "rejected",      "connections",   "oversized",
      "idle_closed",  "read_timeouts", "send_timeouts", "stale_replies", "lost_closed", "unavailable_closed", "queued_to_worker_bytes", "udp_received",
      "udp_queued",   "queue_full",  "too_big",       "udp_send_errors"};
  return c >= 0 && c < kCounterCount ? kNames[c] : "unknown";
}

std::unique_ptr<Scoreboard> Scoreboard::create(size_t slots) {
  size_t bytes = sizeof(ScoreboardHeader) + sizeof(ProcessSlot) * slots;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  return std::unique_ptr<Scoreboard>(new Scoreboard(p, bytes, slots));
}

Scoreboard::Scoreboard(void* map, size_t bytes, size_t slots)
    : map_(map), bytes_(bytes), slots_(slots) {
  // mmap zeroes the region; placement-new gives the atomics their lifetime.
  header_ = new (map) ScoreboardHeader();
  base_ = reinterpret_cast<ProcessSlot*>(static_cast<char*>(map) + sizeof(ScoreboardHeader));
  for (size_t i = 0; i < slots; ++i) new (&base_[i]) ProcessSlot();
}

Scoreboard::~Scoreboard() { munmap(map_, bytes_); }

void Scoreboard::reset(size_t i, Role role, int index) {
  ProcessSlot& s = base_[i];
  s.pid.store(0);
  s.role.store(static_cast<uint8_t>(role));
  s.state.store(static_cast<uint8_t>(SlotState::kStarting));
  s.recycle.store(0);
  s.index.store(index);
  s.started_ms.store(NowRealtimeMs());
  s.request_start_ms.store(0);
  for (auto& c : s.counters) c.store(0);
  for (auto& c : s.conns_per_worker) c.store(0);
  for (auto& c : s.requests_per_worker) c.store(0);
  std::memset(&s.current, 0, sizeof(s.current));
  s.held_high = 0;
  s.held_overflow = 0;
  std::memset(s.held, 0, sizeof(s.held));
}

void HeldList::insert(uint16_t listener, uint32_t conn_id, uint32_t conn_gen, uint64_t seq) {
  ++count_;
  for (uint32_t i = 0; i < kMaxHeld; ++i) {
    HeldEntry& e = slot_->held[i];
    if (e.used) continue;
    e.listener = listener;
    e.conn_id = conn_id;
    e.conn_gen = conn_gen;
    e.seq = seq;
    e.used = 1;
    if (i >= slot_->held_high) slot_->held_high = i + 1;
    return;
  }
  slot_->held_overflow = 1;  // sticky: the master then assumes every outstanding request
}

void HeldList::erase(uint16_t listener, uint32_t conn_id, uint32_t conn_gen, uint64_t seq) {
  if (count_ > 0) --count_;
  if (count_ == 0) slot_->held_overflow = 0;  // nothing held: the overflow is over
  for (uint32_t i = 0; i < slot_->held_high; ++i) {
    HeldEntry& e = slot_->held[i];
    if (e.used && e.conn_id == conn_id && e.listener == listener && e.conn_gen == conn_gen && e.seq == seq) {
      e.used = 0;
      while (slot_->held_high > 0 && !slot_->held[slot_->held_high - 1].used) --slot_->held_high;
      return;
    }
  }
}

int64_t NowMonotonicMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

int64_t NowRealtimeMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace solar
