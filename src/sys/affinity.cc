#include "sys/affinity.h"

#include <sched.h>

namespace solar {

std::vector<int> AllowedCpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int i = 0; i < CPU_SETSIZE; ++i) {
    if (CPU_ISSET(i, &set)) cpus.push_back(i);
  }
  return cpus;
}

int CpuForSlot(int index, const std::vector<int>& cpus) {
  if (cpus.empty() || index < 0) return -1;
  return cpus[static_cast<size_t>(index) % cpus.size()];
}

bool PinToCpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof(set), &set) == 0;
}

bool UseBatchScheduling() {
  sched_param param{};
  param.sched_priority = 0;
  return sched_setscheduler(0, SCHED_BATCH, &param) == 0;
}

}  // namespace solar
