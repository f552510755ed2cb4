// The scoreboard's shared slots and a worker's held list (src/scoreboard/scoreboard.h).
#include "scoreboard/scoreboard.h"

#include <memory>

#include <gtest/gtest.h>

namespace solar {
namespace {

TEST(Scoreboard, CreatedSlotsAreZeroed) {
  auto board = Scoreboard::create(3);
  ASSERT_NE(board, nullptr);
  ASSERT_EQ(board->size(), 3u);
  for (size_t i = 0; i < board->size(); ++i) {
    ProcessSlot& s = board->slot(i);
    EXPECT_EQ(s.pid.load(), 0);
    EXPECT_EQ(s.role.load(), static_cast<uint8_t>(Role::kNone));
    EXPECT_EQ(s.state.load(), static_cast<uint8_t>(SlotState::kEmpty));
    EXPECT_EQ(s.started_ms.load(), 0);
    for (int c = 0; c < kCounterCount; ++c) EXPECT_EQ(s.counters[c].load(), 0u) << CounterName(c);
    EXPECT_EQ(s.held_high, 0u);
    EXPECT_EQ(s.held_overflow, 0u);
    for (const HeldEntry& e : s.held) EXPECT_EQ(e.used, 0);
  }
}

TEST(Scoreboard, SlotsAreCacheLineAlignedAndDoNotOverlap) {
  auto board = Scoreboard::create(2);
  ASSERT_NE(board, nullptr);
  auto a = reinterpret_cast<uintptr_t>(&board->slot(0));
  auto b = reinterpret_cast<uintptr_t>(&board->slot(1));
  EXPECT_EQ(a % 64, 0u);
  EXPECT_EQ(b - a, sizeof(ProcessSlot));
  Add(&board->slot(0), kRequests, 5);
  EXPECT_EQ(board->slot(1).counters[kRequests].load(), 0u);
}

TEST(Scoreboard, ResetClearsCountersAndHeldListAndSetsRole) {
  auto board = Scoreboard::create(1);
  ASSERT_NE(board, nullptr);
  ProcessSlot& s = board->slot(0);
  s.pid.store(99);
  Add(&s, kRequests, 7);
  Add(&s, kConnections, 3);
  Sub(&s, kConnections);
  EXPECT_EQ(s.counters[kConnections].load(), 2u);
  HeldList held(&s);
  held.insert(0, 1, 1, 1);
  s.held_overflow = 1;

  int64_t before = NowRealtimeMs();
  board->reset(0, Role::kWorker, 0);
  EXPECT_EQ(s.pid.load(), 0);
  EXPECT_EQ(s.role.load(), static_cast<uint8_t>(Role::kWorker));
  EXPECT_EQ(s.state.load(), static_cast<uint8_t>(SlotState::kStarting));
  EXPECT_GE(s.started_ms.load(), before);
  EXPECT_EQ(s.counters[kRequests].load(), 0u);
  EXPECT_EQ(s.counters[kConnections].load(), 0u);
  EXPECT_EQ(s.held_high, 0u);
  EXPECT_EQ(s.held_overflow, 0u);
  EXPECT_EQ(s.held[0].used, 0);
}

TEST(Scoreboard, EveryCounterRoleAndStateHasAName) {
  for (int c = 0; c < kCounterCount; ++c) EXPECT_STRNE(CounterName(c), "unknown") << c;
  EXPECT_STREQ(CounterName(kCounterCount), "unknown");
  EXPECT_STREQ(RoleName(Role::kUdpWorker), "udp_worker");
  EXPECT_STREQ(SlotStateName(SlotState::kBusy), "busy");
}

// One freshly reset worker slot.
struct WorkerSlot {
  WorkerSlot() : board(Scoreboard::create(1)) {
    EXPECT_NE(board, nullptr);
    board->reset(0, Role::kWorker, 0);
  }
  ProcessSlot& slot() { return board->slot(0); }
  std::unique_ptr<Scoreboard> board;
};

TEST(HeldList, InsertRecordsTheEntryAndRaisesHeldHigh) {
  WorkerSlot w;
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
  WorkerSlot w;
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
  WorkerSlot w;
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
  WorkerSlot w;
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
  WorkerSlot w;
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
