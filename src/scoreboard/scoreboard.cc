#include "scoreboard/scoreboard.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <new>
#include <utility>

#include <glog/logging.h>

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

namespace {

size_t PageSize() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }
size_t RoundUp(size_t n, size_t to) { return (n + to - 1) / to * to; }
constexpr size_t kPartOffset = (sizeof(ProcessSlot) + 63) / 64 * 64;

size_t BlockBytes(Role role) {
  size_t n = kPartOffset;
  if (role == Role::kWorker || role == Role::kUdpWorker) n += sizeof(WorkerSlot);
  if (role == Role::kListener) n += sizeof(ListenerSlot);
  return RoundUp(n, PageSize());
}

}  // namespace

std::unique_ptr<Scoreboard> Scoreboard::create(const std::vector<Role>& layout) {
  std::unique_ptr<Scoreboard> board(new Scoreboard());
  board->layout_ = layout;
  size_t bytes = RoundUp(sizeof(ScoreboardHeader), PageSize());
  for (Role r : layout) {
    board->offsets_.push_back(bytes);
    bytes += BlockBytes(r);
  }
  board->offsets_.push_back(bytes);
  board->bytes_ = bytes;
  board->fd_ = memfd_create("solar-scoreboard", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (board->fd_ < 0) {
    PLOG(ERROR) << "memfd_create() for the scoreboard failed";
    return nullptr;
  }
  if (ftruncate(board->fd_, static_cast<off_t>(bytes)) != 0) {
    PLOG(ERROR) << "ftruncate(" << bytes << ") of the scoreboard's memfd failed";
    return nullptr;
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, board->fd_, 0);
  if (p == MAP_FAILED) {
    PLOG(ERROR) << "mmap() of the scoreboard (" << bytes << " bytes) failed";
    return nullptr;
  }
  board->map_ = static_cast<char*>(p);
  // After the writable mapping: new mappings of it can never be writable.
  board->sealed_ = fcntl(board->fd_, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE) == 0;
  if (!board->sealed_) {
    PLOG(WARNING) << "sealing the scoreboard's memfd failed (F_SEAL_FUTURE_WRITE needs Linux 5.1); children "
                     "protect the other slots with mprotect() only";
  }
  // The memfd starts zeroed; placement-new gives the atomics their lifetime.
  board->header_ = new (board->map_) ScoreboardHeader();
  for (size_t i = 0; i < layout.size(); ++i) {
    char* block = board->map_ + board->offsets_[i];
    board->slots_.push_back(new (block) ProcessSlot());
    const bool worker = layout[i] == Role::kWorker || layout[i] == Role::kUdpWorker;
    board->workers_.push_back(worker ? new (block + kPartOffset) WorkerSlot() : nullptr);
    board->listeners_.push_back(layout[i] == Role::kListener ? new (block + kPartOffset) ListenerSlot() : nullptr);
  }
  return board;
}

Scoreboard::~Scoreboard() {
  if (map_ != nullptr) munmap(map_, bytes_);
  if (fd_ >= 0) close(fd_);
}

bool Scoreboard::restrictTo(long own, std::string* error) {
  const size_t from = own >= 0 ? offsets_[own] : bytes_;
  const size_t to = own >= 0 ? offsets_[own + 1] : bytes_;
  for (auto [begin, end] : {std::pair<size_t, size_t>{0, from}, std::pair<size_t, size_t>{to, bytes_}}) {
    if (begin >= end) continue;
    char* at = map_ + begin;
    const bool ok = sealed_ ? mmap(at, end - begin, PROT_READ, MAP_SHARED | MAP_FIXED, fd_, static_cast<off_t>(begin)) == at
                            : mprotect(at, end - begin, PROT_READ) == 0;
    if (!ok) {
      *error = std::string(sealed_ ? "mmap(MAP_FIXED, PROT_READ)" : "mprotect(PROT_READ)") +
               " of the scoreboard failed: " + std::strerror(errno);
      return false;
    }
  }
  close(fd_);
  fd_ = -1;
  return true;
}

void Scoreboard::reset(size_t i, Role role, int index) {
  ProcessSlot& s = *slots_[i];
  s.pid.store(0);
  s.role.store(static_cast<uint8_t>(role));
  s.state.store(static_cast<uint8_t>(SlotState::kStarting));
  s.index.store(index);
  s.started_ms.store(NowRealtimeMs());
  for (auto& c : s.counters) c.store(0);
  if (WorkerSlot* w = workers_[i]) {
    w->request_start_ms.store(0);
    w->recycle.store(0);
    w->current.publish(CurrentRequest{});
    w->held_high = 0;
    w->held_overflow = 0;
    std::memset(w->held, 0, sizeof(w->held));
  }
  if (ListenerSlot* l = listeners_[i]) {
    for (auto& c : l->conns_per_worker) c.store(0);
    for (auto& c : l->requests_per_worker) c.store(0);
  }
}

void CurrentRequestCell::publish(const CurrentRequest& r) {
  uint64_t words[kWords] = {};
  std::memcpy(words, &r, sizeof(r));
  const uint32_t s = seq_.load(std::memory_order_relaxed);
  seq_.store(s + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);  // the odd seq is seen before any new word
  for (size_t i = 0; i < kWords; ++i) words_[i].store(words[i], std::memory_order_relaxed);
  seq_.store(s + 2, std::memory_order_release);  // every word is seen before the even seq
}

bool CurrentRequestCell::read(CurrentRequest* out) const {
  for (int attempt = 0; attempt < kReadTries; ++attempt) {
    const uint32_t before = seq_.load(std::memory_order_acquire);
    if (before & 1) continue;  // a write is under way
    uint64_t words[kWords];
    for (size_t i = 0; i < kWords; ++i) words[i] = words_[i].load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);  // the words are read before seq is read again
    if (seq_.load(std::memory_order_relaxed) == before) {
      std::memcpy(out, words, sizeof(*out));
      return true;
    }
  }
  return false;
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

int64_t NowCoarseMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

int64_t NowRealtimeMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace solar
