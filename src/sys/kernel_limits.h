// Start-up checks of the kernel limits that bound solar's IPC (DESIGN.md
// "Configuration and control"): each limit below what the configuration needs
// is raised when we are root and `raise` is set, or logged once with the sysctl
// that raises it.
// Runs in: master, before any socketpair is created (max_dgram_qlen is read
// when a socket is created).
#pragma once

#include <cstdint>
#include <string>

namespace solar {

struct KernelLimitNeeds {
  uint64_t unix_dgram_qlen = 512;  // datagrams queued per socketpair end
  uint64_t nofile = 65536;         // RLIMIT_NOFILE asked for (config rlimit_nofile)
  uint64_t nofile_required = 0;    // what one child needs at most (a listener full of connections)
  uint64_t msgmax = 0;             // kernel.msgmax for the UDP queue (0: no UDP)
  uint64_t msgmnb = 0;             // kernel.msgmnb: a new queue's byte limit (0: no UDP)
};

// Reads an integer sysctl from /proc/sys (path like "net/unix/max_dgram_qlen").
// Returns -1 when unreadable.
int64_t ReadSysctl(const std::string& name);
bool WriteSysctl(const std::string& name, int64_t value);

void CheckKernelLimits(const KernelLimitNeeds& needs, bool raise);

}  // namespace solar
