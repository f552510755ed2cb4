// The master's respawn back-off and slot table (src/master/process_table.h).
#include "master/process_table.h"

#include <vector>

#include <gtest/gtest.h>

namespace solar {
namespace {

constexpr int64_t kMinLife = 1000;
constexpr int64_t kMax = 10000;

TEST(RespawnPolicy, LongLivedChildRespawnsAtOnceAndResetsFailures) {
  RespawnPolicy policy(kMinLife, kMax);
  ChildSlot slot;
  slot.started_ms = 5000;
  slot.fast_failures = 4;
  EXPECT_EQ(policy.onExit(&slot, 5000 + kMinLife), 0);  // exactly the minimum counts as long
  EXPECT_EQ(slot.fast_failures, 0);
  slot.fast_failures = 2;
  EXPECT_EQ(policy.onExit(&slot, 5000 + 3600 * 1000), 0);
  EXPECT_EQ(slot.fast_failures, 0);
}

TEST(RespawnPolicy, ConsecutiveFastFailuresDoubleFrom100UpToTheMax) {
  RespawnPolicy policy(kMinLife, kMax);
  ChildSlot slot;
  std::vector<int64_t> delays;
  int64_t now = 0;
  for (int i = 0; i < 10; ++i) {
    slot.started_ms = now;
    now += 10;  // died 10 ms after start
    delays.push_back(policy.onExit(&slot, now));
    now += delays.back();
  }
  EXPECT_EQ(delays, (std::vector<int64_t>{100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000, 10000}));
  EXPECT_EQ(slot.fast_failures, 10);
}

TEST(RespawnPolicy, ALongLifeAfterFailuresStartsTheBackOffAgain) {
  RespawnPolicy policy(kMinLife, kMax);
  ChildSlot slot;
  slot.started_ms = 0;
  EXPECT_EQ(policy.onExit(&slot, 1), 100);
  EXPECT_EQ(policy.onExit(&slot, 1), 200);
  EXPECT_EQ(policy.onExit(&slot, 1), 400);
  EXPECT_EQ(policy.onExit(&slot, kMinLife + 5), 0);
  EXPECT_EQ(policy.onExit(&slot, 1), 100);
}

TEST(RespawnPolicy, DelayNeverOverflowsAfterManyFailures) {
  RespawnPolicy policy(kMinLife, int64_t{1} << 40);
  ChildSlot slot;
  int64_t last = 0;
  for (int i = 0; i < 200; ++i) {
    int64_t d = policy.onExit(&slot, 1);
    EXPECT_GE(d, last) << "failure " << i;
    EXPECT_GT(d, 0);
    last = d;
  }
}

TEST(RespawnPolicy, MaxBelow100CapsTheFirstDelay) {
  RespawnPolicy policy(kMinLife, 50);
  ChildSlot slot;
  EXPECT_EQ(policy.onExit(&slot, 1), 50);
}

TEST(ProcessTable, AddKeepsRoleIndexAndBoardWithNoProcess) {
  ProcessTable table;
  table.add(Role::kListener, 0, 0);
  ChildSlot& w = table.add(Role::kWorker, 3, 4);
  EXPECT_EQ(w.role, Role::kWorker);
  EXPECT_EQ(w.index, 3);
  EXPECT_EQ(w.board, 4u);
  EXPECT_EQ(w.pid, 0);
  EXPECT_EQ(w.respawn_at_ms, -1);
  EXPECT_EQ(table.slots().size(), 2u);
  EXPECT_EQ(table.running(), 0u);
}

TEST(ProcessTable, RunningCountsSlotsWithAPidByRole) {
  ProcessTable table;
  table.add(Role::kListener, 0, 0);
  table.add(Role::kWorker, 0, 1);
  table.add(Role::kWorker, 1, 2);
  table.slots()[0].pid = 100;
  table.slots()[2].pid = 102;
  EXPECT_EQ(table.running(), 2u);
  EXPECT_EQ(table.running(Role::kWorker), 1u);
  EXPECT_EQ(table.running(Role::kListener), 1u);
  EXPECT_EQ(table.running(Role::kUdpWorker), 0u);
}

TEST(ProcessTable, ByPidFindsTheSlotOrNothing) {
  ProcessTable table;
  table.add(Role::kWorker, 0, 0);
  table.add(Role::kWorker, 1, 1);
  table.slots()[1].pid = 4242;
  ChildSlot* s = table.byPid(4242);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->index, 1);
  EXPECT_EQ(table.byPid(4243), nullptr);
}

}  // namespace
}  // namespace solar
