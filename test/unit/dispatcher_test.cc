// Dispatcher (src/listener/dispatcher.h): which worker gets a new connection.
#include "listener/dispatcher.h"

#include <vector>

#include <gtest/gtest.h>

namespace solar {
namespace {

std::vector<size_t> Assign(Dispatcher* d, int n) {
  std::vector<size_t> picks;
  for (int i = 0; i < n; ++i) picks.push_back(d->assign(0));
  return picks;
}

TEST(Dispatcher, RoundRobinCyclesThroughWorkersFromTheStart) {
  Dispatcher d(ROUND_ROBIN, 3, 1);
  EXPECT_EQ(Assign(&d, 7), (std::vector<size_t>{1, 2, 0, 1, 2, 0, 1}));
}

TEST(Dispatcher, RoundRobinStartIsTakenModuloWorkerCount) {
  Dispatcher d(ROUND_ROBIN, 3, 5);  // listener 5 of many starts at worker 2
  EXPECT_EQ(Assign(&d, 4), (std::vector<size_t>{2, 0, 1, 2}));
}

TEST(Dispatcher, RoundRobinIgnoresLoad) {
  Dispatcher d(ROUND_ROBIN, 2, 0);
  EXPECT_EQ(Assign(&d, 2), (std::vector<size_t>{0, 1}));
  d.release(1);  // worker 1 is now idle, yet the turn is worker 0's
  EXPECT_EQ(d.assign(0), 0u);
}

TEST(Dispatcher, RoundRobinCountsConnectionsPerWorker) {
  Dispatcher d(ROUND_ROBIN, 2, 0);
  Assign(&d, 5);
  EXPECT_EQ(d.connections(0), 3u);
  EXPECT_EQ(d.connections(1), 2u);
}

TEST(Dispatcher, SingleWorkerGetsEverything) {
  Dispatcher d(LEAST_CONNECTIONS, 1, 7);
  EXPECT_EQ(Assign(&d, 3), (std::vector<size_t>{0, 0, 0}));
  EXPECT_EQ(d.connections(0), 3u);
}

TEST(Dispatcher, LeastConnectionsPicksTheLeastLoaded) {
  Dispatcher d(LEAST_CONNECTIONS, 3, 0);
  EXPECT_EQ(Assign(&d, 3), (std::vector<size_t>{0, 1, 2}));
  d.release(1);
  d.release(1);  // a second release of an idle worker does not go below zero
  EXPECT_EQ(d.connections(1), 0u);
  EXPECT_EQ(d.assign(0), 1u);
  d.release(0);
  d.release(2);
  // loads {0, 1, 0}: the least loaded, never worker 1
  size_t a = d.assign(0);
  size_t b = d.assign(0);
  EXPECT_NE(a, 1u);
  EXPECT_NE(b, 1u);
  EXPECT_NE(a, b);
  EXPECT_EQ(d.connections(0), 1u);
  EXPECT_EQ(d.connections(1), 1u);
  EXPECT_EQ(d.connections(2), 1u);
}

TEST(Dispatcher, LeastConnectionsRotatesTiesFromTheStart) {
  Dispatcher d(LEAST_CONNECTIONS, 4, 2);
  // all equal: round-robin order from worker 2
  EXPECT_EQ(Assign(&d, 8), (std::vector<size_t>{2, 3, 0, 1, 2, 3, 0, 1}));
}

TEST(Dispatcher, LeastConnectionsSkipsABusyWorkerWhenItsTurnComes) {
  Dispatcher d(LEAST_CONNECTIONS, 3, 0);
  EXPECT_EQ(Assign(&d, 3), (std::vector<size_t>{0, 1, 2}));
  // loads {1,1,1}; worker 0 finishes twice as fast
  d.release(0);
  EXPECT_EQ(d.assign(0), 0u);
  d.release(0);
  d.release(2);
  // loads {0,1,0}: tie between 0 and 2, rotation resumes after the last pick (0)
  EXPECT_EQ(d.assign(0), 2u);
  EXPECT_EQ(d.assign(0), 0u);
}

TEST(Dispatcher, ReleaseLowersTheCount) {
  Dispatcher d(ROUND_ROBIN, 2, 0);
  Assign(&d, 4);
  ASSERT_EQ(d.connections(0), 2u);
  d.release(0);
  EXPECT_EQ(d.connections(0), 1u);
  EXPECT_EQ(d.connections(1), 2u);
}

TEST(Dispatcher, ReleaseOfUnknownWorkerIsIgnored) {
  Dispatcher d(LEAST_CONNECTIONS, 2, 0);
  Assign(&d, 2);
  d.release(2);
  d.release(1000);
  EXPECT_EQ(d.connections(0), 1u);
  EXPECT_EQ(d.connections(1), 1u);
}

}  // namespace
}  // namespace solar

namespace solar {
namespace {

TEST(Dispatcher, AssignsOnlyAmongActiveWorkersAfterAScaleDown) {
  Dispatcher d(ROUND_ROBIN, 8, 0);
  for (int i = 0; i < 12; ++i) EXPECT_LT(d.assign(3), 3u);
  // Growing again reaches the new slots.
  bool saw_high = false;
  for (int i = 0; i < 8; ++i) saw_high = saw_high || d.assign(8) >= 3;
  EXPECT_TRUE(saw_high);
}

TEST(Dispatcher, LeastConnectionsIgnoresSlotsAboveActive) {
  Dispatcher d(LEAST_CONNECTIONS, 4, 0);
  for (int i = 0; i < 6; ++i) EXPECT_LT(d.assign(2), 2u);
}

TEST(Dispatcher, AWorkerThatCannotStartGetsNoNewConnectionsWhileAnotherCan) {
  for (DispatchMode mode : {ROUND_ROBIN, LEAST_CONNECTIONS}) {
    Dispatcher d(mode, 3, 0);
    d.setAvailable(1, false);
    for (int i = 0; i < 9; ++i) EXPECT_NE(d.assign(3), 1u) << "mode " << mode;
    d.setAvailable(1, true);
    bool saw_1 = false;
    for (int i = 0; i < 6; ++i) saw_1 = saw_1 || d.assign(3) == 1u;
    EXPECT_TRUE(saw_1) << "mode " << mode << ": a worker that serves again takes connections again";
  }
}

TEST(Dispatcher, WithEveryWorkerDownAConnectionIsStillAssigned) {
  // Its requests are then refused at once by the listener; assign() must not loop or fail.
  Dispatcher d(ROUND_ROBIN, 2, 0);
  d.setAvailable(0, false);
  d.setAvailable(1, false);
  EXPECT_LT(d.assign(2), 2u);
  EXPECT_LT(d.assign(2), 2u);
}

// ---- PER_REQUEST: each request to the least busy worker ----

TEST(DispatcherPerRequest, PicksTheWorkerWithTheFewestOutstandingRequests) {
  Dispatcher d(PER_REQUEST, 4, 0);
  std::vector<uint64_t> busy{3, 1, 2, 5};
  EXPECT_EQ(d.pickLeastBusy(4, [&](size_t w) { return busy[w]; }), 1u);
  busy[1] = 9;
  EXPECT_EQ(d.pickLeastBusy(4, [&](size_t w) { return busy[w]; }), 2u);
}

TEST(DispatcherPerRequest, IdleWorkersTakeTurnsSoEqualLoadsSpread) {
  Dispatcher d(PER_REQUEST, 3, 0);
  std::vector<uint64_t> busy{0, 0, 0};
  std::vector<int> picked(3, 0);
  for (int i = 0; i < 9; ++i) ++picked[d.pickLeastBusy(3, [&](size_t w) { return busy[w]; })];
  EXPECT_EQ(picked, (std::vector<int>{3, 3, 3}));
}

TEST(DispatcherPerRequest, StopsLookingAtTheFirstIdleWorker) {
  Dispatcher d(PER_REQUEST, 8, 0);
  std::vector<uint64_t> busy{1, 0, 0, 0, 0, 0, 0, 0};
  size_t asked = 0;
  EXPECT_EQ(d.pickLeastBusy(8, [&](size_t w) { ++asked; return busy[w]; }), 1u);
  EXPECT_EQ(asked, 2u);
}

TEST(DispatcherPerRequest, SkipsWorkersThatCannotStartAndThoseAboveActive) {
  Dispatcher d(PER_REQUEST, 4, 0);
  std::vector<uint64_t> busy{5, 0, 4, 0};
  d.setAvailable(1, false);
  // Worker 3 is idle but above the active count (a scale-down).
  EXPECT_EQ(d.pickLeastBusy(3, [&](size_t w) { return busy[w]; }), 2u);
}

TEST(DispatcherPerRequest, NoneWhenEveryWorkerIsDown) {
  Dispatcher d(PER_REQUEST, 2, 0);
  d.setAvailable(0, false);
  d.setAvailable(1, false);
  EXPECT_EQ(d.pickLeastBusy(2, [](size_t) { return uint64_t{0}; }), Dispatcher::kNone);
}

}  // namespace
}  // namespace solar
