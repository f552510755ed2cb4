// The master's respawn back-off (src/master/respawn_policy.h).
#include "master/respawn_policy.h"

#include <vector>

#include <gtest/gtest.h>

namespace solar {
namespace {

constexpr int64_t kMinLife = 1000;
constexpr int64_t kMax = 10000;

TEST(RespawnPolicy, LongLivedChildRespawnsAtOnceAndResetsFailures) {
  RespawnPolicy policy(kMinLife, kMax);
  int64_t started = 0;
  int failures = 0;
  started = 5000;
  failures = 4;
  EXPECT_EQ(policy.onExit(started, 5000 + kMinLife, &failures), 0);  // exactly the minimum counts as long
  EXPECT_EQ(failures, 0);
  failures = 2;
  EXPECT_EQ(policy.onExit(started, 5000 + 3600 * 1000, &failures), 0);
  EXPECT_EQ(failures, 0);
}

TEST(RespawnPolicy, ConsecutiveFastFailuresDoubleFrom100UpToTheMax) {
  RespawnPolicy policy(kMinLife, kMax);
  int64_t started = 0;
  int failures = 0;
  std::vector<int64_t> delays;
  int64_t now = 0;
  for (int i = 0; i < 10; ++i) {
    started = now;
    now += 10;  // died 10 ms after start
    delays.push_back(policy.onExit(started, now, &failures));
    now += delays.back();
  }
  EXPECT_EQ(delays, (std::vector<int64_t>{100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000, 10000}));
  EXPECT_EQ(failures, 10);
}

TEST(RespawnPolicy, ALongLifeAfterFailuresStartsTheBackOffAgain) {
  RespawnPolicy policy(kMinLife, kMax);
  int64_t started = 0;
  int failures = 0;
  started = 0;
  EXPECT_EQ(policy.onExit(started, 1, &failures), 100);
  EXPECT_EQ(policy.onExit(started, 1, &failures), 200);
  EXPECT_EQ(policy.onExit(started, 1, &failures), 400);
  EXPECT_EQ(policy.onExit(started, kMinLife + 5, &failures), 0);
  EXPECT_EQ(policy.onExit(started, 1, &failures), 100);
}

TEST(RespawnPolicy, DelayNeverOverflowsAfterManyFailures) {
  RespawnPolicy policy(kMinLife, int64_t{1} << 40);
  int64_t started = 0;
  int failures = 0;
  int64_t last = 0;
  for (int i = 0; i < 200; ++i) {
    int64_t d = policy.onExit(started, 1, &failures);
    EXPECT_GE(d, last) << "failure " << i;
    EXPECT_GT(d, 0);
    last = d;
  }
}

TEST(RespawnPolicy, MaxBelow100CapsTheFirstDelay) {
  RespawnPolicy policy(kMinLife, 50);
  int64_t started = 0;
  int failures = 0;
  EXPECT_EQ(policy.onExit(started, 1, &failures), 50);
}

}  // namespace
}  // namespace solar
