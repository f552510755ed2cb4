// Runs in: solar-chaos. What a run of the server may leave behind, read from
// /proc: SysV message queues and shared-memory segments (system-wide, so the
// driver tells its own from other users' by key and pid), open fds of a
// process, and whether a process seen earlier is still the same process.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace solar::chaos {

struct MsgQueueRow {
  long key = 0;
  int id = 0;
  pid_t last_send_pid = 0;     // lspid
  pid_t last_receive_pid = 0;  // lrpid
};

struct ShmRow {
  long key = 0;
  int id = 0;
  pid_t creator_pid = 0;  // cpid
  pid_t last_pid = 0;     // lpid
};

std::vector<MsgQueueRow> ReadMsgQueues();  // /proc/sysvipc/msg
std::vector<ShmRow> ReadShmSegments();     // /proc/sysvipc/shm

// Open fds of `pid` (/proc/PID/fd), -1 if it cannot be read.
int CountFds(pid_t pid);
// fd -> what it points to ("socket:[123]", "pipe:[4]", a path).
std::map<int, std::string> ListFds(pid_t pid);

// A pid plus its start time (field 22 of /proc/PID/stat): a recycled pid is
// not mistaken for the process that was seen.
struct ProcessIdentity {
  pid_t pid = 0;
  uint64_t start_ticks = 0;
  std::string title;  // its cmdline when seen, e.g. "solar: worker 1"
};
ProcessIdentity IdentifyProcess(pid_t pid);  // start_ticks 0 if it is gone
// True while the same process exists and is not a zombie.
bool StillRunning(const ProcessIdentity& p);

}  // namespace solar::chaos
