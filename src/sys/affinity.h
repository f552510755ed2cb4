// CPU affinity for children (seed 003 §3.3: index mod CPU count), and the
// workers' scheduling policy.
// Runs in: every child, first thing after fork.
#pragma once

#include <vector>

namespace solar {

// The CPUs this process may run on (sched_getaffinity), ascending.
std::vector<int> AllowedCpus();

// Pure policy (Envoy workerCpuAssignment): the CPU for child `index` among
// `cpus`. Listeners and workers are numbered in one sequence by the master,
// so listener 0 and worker 0 do not share a CPU when there are enough.
int CpuForSlot(int index, const std::vector<int>& cpus);

// Pins the calling process to `cpu`. False with errno on failure.
bool PinToCpu(int cpu);

// Moves the calling process to SCHED_BATCH (nice unchanged): the kernel no
// longer lets it preempt the running process when it wakes. Any process may
// do this to itself. False with errno on failure.
bool UseBatchScheduling();

}  // namespace solar
