// CPU affinity policy (src/sys/affinity.h).
#include "sys/affinity.h"

#include <sched.h>

#include <algorithm>
#include <vector>

#include <gtest/gtest.h>

namespace solar {
namespace {

TEST(CpuForSlot, MapsIndexModuloTheCpuList) {
  const std::vector<int> cpus = {0, 2, 5};
  EXPECT_EQ(CpuForSlot(0, cpus), 0);
  EXPECT_EQ(CpuForSlot(1, cpus), 2);
  EXPECT_EQ(CpuForSlot(2, cpus), 5);
  EXPECT_EQ(CpuForSlot(3, cpus), 0);
  EXPECT_EQ(CpuForSlot(4, cpus), 2);
  EXPECT_EQ(CpuForSlot(3000, cpus), 0);
}

TEST(CpuForSlot, EmptyCpuListGivesMinusOne) {
  EXPECT_EQ(CpuForSlot(0, {}), -1);
  EXPECT_EQ(CpuForSlot(7, {}), -1);
}

TEST(CpuForSlot, NegativeIndexGivesMinusOne) { EXPECT_EQ(CpuForSlot(-1, {0, 1}), -1); }

TEST(CpuForSlot, SingleCpuTakesEverySlot) {
  for (int i = 0; i < 5; ++i) EXPECT_EQ(CpuForSlot(i, {3}), 3);
}

TEST(AllowedCpus, IsNonEmptyAscendingAndHoldsTheCurrentCpu) {
  std::vector<int> cpus = AllowedCpus();
  ASSERT_FALSE(cpus.empty());
  EXPECT_TRUE(std::is_sorted(cpus.begin(), cpus.end()));
  EXPECT_EQ(std::adjacent_find(cpus.begin(), cpus.end()), cpus.end());
  int now = sched_getcpu();
  if (now >= 0) {
    EXPECT_NE(std::find(cpus.begin(), cpus.end(), now), cpus.end()) << "cpu " << now;
  }
}

}  // namespace
}  // namespace solar
