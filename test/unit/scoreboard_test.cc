// The scoreboard's shared slots and a worker's held list (src/scoreboard/scoreboard.h).
#include "scoreboard/scoreboard.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace solar {
namespace {

const std::vector<Role> kLayout = {Role::kListener, Role::kWorker, Role::kWorker, Role::kAdmin};

TEST(Scoreboard, CreatedSlotsAreZeroedWithEachRolesPart) {
  auto board = Scoreboard::create(kLayout);
  ASSERT_NE(board, nullptr);
  ASSERT_EQ(board->size(), 4u);
  for (size_t i = 0; i < board->size(); ++i) {
    ProcessSlot& s = board->slot(i);
    EXPECT_EQ(s.pid.load(), 0);
    EXPECT_EQ(s.role.load(), static_cast<uint8_t>(Role::kNone));
    EXPECT_EQ(s.state.load(), static_cast<uint8_t>(SlotState::kEmpty));
    EXPECT_EQ(s.started_ms.load(), 0);
    for (int c = 0; c < kCounterCount; ++c) EXPECT_EQ(s.counters[c].load(), 0u) << CounterName(c);
    EXPECT_EQ(board->worker(i) != nullptr, kLayout[i] == Role::kWorker) << i;
    EXPECT_EQ(board->listener(i) != nullptr, kLayout[i] == Role::kListener) << i;
  }
  const WorkerSlot* w = board->worker(1);
  EXPECT_EQ(w->held_high, 0u);
  EXPECT_EQ(w->held_overflow, 0u);
  for (const HeldEntry& e : w->held) EXPECT_EQ(e.used, 0);
  for (const auto& n : board->listener(0)->conns_per_worker) EXPECT_EQ(n.load(), 0u);
}

TEST(Scoreboard, EachSlotStartsOnItsOwnPageAfterTheHeadersAndHoldsItsPart) {
  auto board = Scoreboard::create(kLayout);
  ASSERT_NE(board, nullptr);
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  auto at = [](const void* p) { return reinterpret_cast<uintptr_t>(p); };
  uintptr_t last_end = at(&board->header()) + sizeof(ScoreboardHeader);
  for (size_t i = 0; i < board->size(); ++i) {
    const uintptr_t begin = at(&board->slot(i));
    EXPECT_EQ(begin % page, 0u) << i;
    EXPECT_GE(begin, last_end) << i;
    last_end = begin + sizeof(ProcessSlot);
    if (const WorkerSlot* w = board->worker(i)) {
      EXPECT_GE(at(w), last_end);
      last_end = at(w) + sizeof(WorkerSlot);
    }
    if (const ListenerSlot* l = board->listener(i)) {
      EXPECT_GE(at(l), last_end);
      last_end = at(l) + sizeof(ListenerSlot);
    }
  }
  Add(&board->slot(1), kRequests, 5);
  EXPECT_EQ(board->slot(2).counters[kRequests].load(), 0u);
}

TEST(Scoreboard, ResetClearsCountersHeldListAndGaugesAndSetsRole) {
  auto board = Scoreboard::create(kLayout);
  ASSERT_NE(board, nullptr);
  ProcessSlot& s = board->slot(1);
  WorkerSlot& w = *board->worker(1);
  s.pid.store(99);
  Add(&s, kRequests, 7);
  Add(&s, kConnections, 3);
  Sub(&s, kConnections);
  EXPECT_EQ(s.counters[kConnections].load(), 2u);
  HeldList held(&w);
  held.insert(0, 1, 1, 1);
  w.held_overflow = 1;
  w.recycle.store(1);
  w.request_start_ms.store(5);
  board->listener(0)->conns_per_worker[1].store(4);

  int64_t before = NowRealtimeMs();
  board->reset(1, Role::kWorker, 0);
  board->reset(0, Role::kListener, 0);
  EXPECT_EQ(s.pid.load(), 0);
  EXPECT_EQ(s.role.load(), static_cast<uint8_t>(Role::kWorker));
  EXPECT_EQ(s.state.load(), static_cast<uint8_t>(SlotState::kStarting));
  EXPECT_GE(s.started_ms.load(), before);
  EXPECT_EQ(s.counters[kRequests].load(), 0u);
  EXPECT_EQ(s.counters[kConnections].load(), 0u);
  EXPECT_EQ(w.held_high, 0u);
  EXPECT_EQ(w.held_overflow, 0u);
  EXPECT_EQ(w.held[0].used, 0);
  EXPECT_EQ(w.recycle.load(), 0);
  EXPECT_EQ(w.request_start_ms.load(), 0);
  EXPECT_EQ(board->listener(0)->conns_per_worker[1].load(), 0u);
}

// Runs `body` in a forked child restricted to slot `own`; returns its wait status.
int InRestrictedChild(Scoreboard* board, long own, const std::function<int()>& body) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::string error;
    if (!board->restrictTo(own, &error)) _exit(90);
    _exit(body());
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

TEST(ScoreboardSplit, AChildWritesItsOwnSlotAndTheMasterSeesIt) {
  auto board = Scoreboard::create(kLayout);
  ASSERT_NE(board, nullptr);
  const int status = InRestrictedChild(board.get(), 1, [&] {
    Add(&board->slot(1), kRequests, 3);
    board->worker(1)->recycle.store(1);
    return 0;
  });
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(board->slot(1).counters[kRequests].load(), 3u);
  EXPECT_EQ(board->worker(1)->recycle.load(), 1);
}

// Whether this process may write `addr`: the kernel copies a byte from
// /dev/zero there and says EFAULT for a read-only page, where a plain store
// would be a SIGSEGV (which the sanitizer build would report as a bug).
int WriteThroughKernel(void* addr) {
  const int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 3;
  const ssize_t n = read(fd, addr, 1);
  const int err = errno;
  close(fd);
  if (n == 1) return 0;       // written
  return err == EFAULT ? 1 : 2;  // refused as unwritable, or another error
}

TEST(ScoreboardSplit, AChildCannotWriteAnotherSlot) {
  auto board = Scoreboard::create(kLayout);
  ASSERT_NE(board, nullptr);
  Add(&board->slot(2), kRequests, 9);
  const int status = InRestrictedChild(board.get(), 1, [&] {
    if (WriteThroughKernel(&board->slot(1)) != 0) return 10;  // its own slot: writable
    return WriteThroughKernel(&board->slot(2));               // the other worker's
  });
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 1) << "0: written; 10: its own slot was not writable";
  EXPECT_EQ(board->slot(2).counters[kRequests].load(), 9u);
}

TEST(ScoreboardSplit, AChildCannotWriteTheMastersHeader) {
  auto board = Scoreboard::create(kLayout);
  ASSERT_NE(board, nullptr);
  board->header().max_connections.store(10);
  const int status = InRestrictedChild(board.get(), 0, [&] {
    if (board->header().max_connections.load() != 10) return 10;  // reading is fine
    return WriteThroughKernel(&board->header());
  });
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_EQ(board->header().max_connections.load(), 10u);
}

TEST(ScoreboardSplit, TheAdminMapsEverySlotReadOnly) {
  auto board = Scoreboard::create(kLayout);
  ASSERT_NE(board, nullptr);
  Add(&board->slot(3), kRequests, 2);
  const int status = InRestrictedChild(board.get(), -1, [&] {
    if (board->slot(3).counters[kRequests].load() != 2) return 10;
    return WriteThroughKernel(&board->slot(3));  // even its own slot
  });
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 1);
}

TEST(ScoreboardSplit, AChildCannotMakeAnotherSlotWritableAgain) {
  auto board = Scoreboard::create(kLayout);
  ASSERT_NE(board, nullptr);
  if (!board->sealed()) GTEST_SKIP() << "memfd seals (F_SEAL_FUTURE_WRITE) not available on this kernel";
  const int status = InRestrictedChild(board.get(), 1, [&] {
    void* other = &board->slot(2);
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    if (mprotect(other, page, PROT_READ | PROT_WRITE) == 0) return 1;
    return errno == EACCES ? 0 : 2;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

CurrentRequest RequestNumber(uint64_t n) {
  CurrentRequest r{};
  r.listener = static_cast<uint16_t>(n % 7);
  r.transport = 0;
  r.addr_family = 2;
  r.port = static_cast<uint16_t>(n);
  r.conn_id = static_cast<uint32_t>(n * 3);
  r.conn_gen = static_cast<uint32_t>(n * 5);
  r.seq = n;
  std::memset(r.addr, static_cast<int>(n & 0xff), sizeof(r.addr));
  return r;
}

bool IsRequestNumber(const CurrentRequest& r) {
  const CurrentRequest want = RequestNumber(r.seq);
  return std::memcmp(&want, &r, sizeof(r)) == 0;
}

TEST(CurrentRequestCell, ReadGivesWhatWasPublished) {
  auto board = Scoreboard::create(kLayout);
  ASSERT_NE(board, nullptr);
  CurrentRequestCell& cell = board->worker(1)->current;
  cell.publish(RequestNumber(41));
  CurrentRequest r{};
  ASSERT_TRUE(cell.read(&r));
  EXPECT_EQ(r.seq, 41u);
  EXPECT_TRUE(IsRequestNumber(r));
}

TEST(CurrentRequestCell, AReaderNeverSeesHalfOfOneRequestAndHalfOfAnother) {
  auto board = Scoreboard::create(kLayout);
  ASSERT_NE(board, nullptr);
  CurrentRequestCell& cell = board->worker(1)->current;
  cell.publish(RequestNumber(1));
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (uint64_t n = 2; !stop.load(std::memory_order_relaxed); ++n) cell.publish(RequestNumber(n));
  });
  uint64_t reads = 0, torn = 0, last = 0;
  for (int i = 0; i < 200000; ++i) {
    CurrentRequest r{};
    if (!cell.read(&r)) continue;
    ++reads;
    if (!IsRequestNumber(r) || r.seq < last) ++torn;
    last = r.seq;
  }
  stop.store(true);
  writer.join();
  EXPECT_GT(reads, 0u);
  EXPECT_EQ(torn, 0u);
  EXPECT_GT(last, 1u) << "the writer never ran during the reads";
}

TEST(Scoreboard, EveryCounterRoleAndStateHasAName) {
  for (int c = 0; c < kCounterCount; ++c) EXPECT_STRNE(CounterName(c), "unknown") << c;
  EXPECT_STREQ(CounterName(kCounterCount), "unknown");
  EXPECT_STREQ(RoleName(Role::kUdpWorker), "udp_worker");
  EXPECT_STREQ(SlotStateName(SlotState::kBusy), "busy");
}

// One freshly reset worker slot.
struct OneWorker {
  OneWorker() : board(Scoreboard::create({Role::kWorker})) {
    EXPECT_NE(board, nullptr);
    board->reset(0, Role::kWorker, 0);
  }
  WorkerSlot& slot() { return *board->worker(0); }
  std::unique_ptr<Scoreboard> board;
};

TEST(HeldList, InsertRecordsTheEntryAndRaisesHeldHigh) {
  OneWorker w;
  HeldList held(&w.slot());
  held.insert(2, 10, 20, 30);
  EXPECT_EQ(held.count(), 1u);
  EXPECT_EQ(w.slot().held_high, 1u);
  const HeldEntry& e = w.slot().held[0];
  EXPECT_EQ(e.used, 1);
  EXPECT_EQ(e.listener, 2);
  EXPECT_EQ(e.conn_id, 10u);
  EXPECT_EQ(e.conn_gen, 20u);
  EXPECT_EQ(e.seq, 30u);
}

TEST(HeldList, EraseKeepsHeldHighTight) {
  OneWorker w;
  HeldList held(&w.slot());
  held.insert(0, 1, 1, 0);  // index 0
  held.insert(0, 2, 1, 0);  // index 1
  held.insert(0, 3, 1, 0);  // index 2
  ASSERT_EQ(w.slot().held_high, 3u);
  held.erase(0, 2, 1, 0);  // a hole below the top
  EXPECT_EQ(w.slot().held_high, 3u);
  EXPECT_EQ(w.slot().held[1].used, 0);
  held.erase(0, 3, 1, 0);  // the top goes, and the hole under it
  EXPECT_EQ(w.slot().held_high, 1u);
  held.insert(0, 4, 1, 0);  // reuses the lowest free entry
  EXPECT_EQ(w.slot().held[1].used, 1);
  EXPECT_EQ(w.slot().held[1].conn_id, 4u);
  EXPECT_EQ(w.slot().held_high, 2u);
  held.erase(0, 1, 1, 0);
  held.erase(0, 4, 1, 0);
  EXPECT_EQ(w.slot().held_high, 0u);
  EXPECT_EQ(held.count(), 0u);
}

TEST(HeldList, EraseMatchesEveryFieldOfTheEntry) {
  OneWorker w;
  HeldList held(&w.slot());
  held.insert(1, 7, 3, 5);
  held.erase(0, 7, 3, 5);  // other listener
  held.erase(1, 7, 4, 5);  // other generation
  held.erase(1, 7, 3, 6);  // other request
  EXPECT_EQ(w.slot().held[0].used, 1);
  EXPECT_EQ(w.slot().held_high, 1u);
  held.insert(1, 7, 3, 6);
  held.erase(1, 7, 3, 5);
  EXPECT_EQ(w.slot().held[0].used, 0);
  EXPECT_EQ(w.slot().held[1].used, 1);
}

TEST(HeldList, MoreThanMaxHeldSetsOverflowUntilEverythingIsErased) {
  OneWorker w;
  HeldList held(&w.slot());
  for (uint32_t i = 0; i < kMaxHeld; ++i) held.insert(0, i, 1, i);
  EXPECT_EQ(w.slot().held_overflow, 0u);
  EXPECT_EQ(w.slot().held_high, kMaxHeld);
  held.insert(0, 9999, 1, 0);  // no room: the master must assume everything held
  EXPECT_EQ(w.slot().held_overflow, 1u);
  EXPECT_EQ(held.count(), kMaxHeld + 1);

  for (uint32_t i = 0; i < kMaxHeld; ++i) {
    held.erase(0, i, 1, i);
    EXPECT_EQ(w.slot().held_overflow, 1u) << "cleared while the unrecorded request is still held, at " << i;
  }
  EXPECT_EQ(w.slot().held_high, 0u);
  held.erase(0, 9999, 1, 0);
  EXPECT_EQ(w.slot().held_overflow, 0u);
  EXPECT_EQ(held.count(), 0u);
}

TEST(HeldList, OverflowClearsWhenTheLastEntryGoesInAnyOrder) {
  OneWorker w;
  HeldList held(&w.slot());
  for (uint32_t i = 0; i <= kMaxHeld; ++i) held.insert(0, i, 1, 0);
  ASSERT_EQ(w.slot().held_overflow, 1u);
  held.erase(0, kMaxHeld, 1, 0);  // the one that did not fit goes first
  EXPECT_EQ(w.slot().held_overflow, 1u);
  for (uint32_t i = kMaxHeld; i-- > 0;) held.erase(0, i, 1, 0);
  EXPECT_EQ(w.slot().held_overflow, 0u);
  EXPECT_EQ(w.slot().held_high, 0u);
}

}  // namespace
}  // namespace solar
