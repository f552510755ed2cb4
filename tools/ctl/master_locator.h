// Finds the running master that a config describes, through its pid_file,
// resolved as the server resolved it.
//
// The server makes a relative pid_file absolute against the directory it was
// started in (config.cc AbsolutizePaths), which solarctl cannot know from the
// config alone. So:
//   1. an absolute pid_file is read as it is;
//   2. a relative one is tried against solarctl's own working directory (the
//      usual case: both run from the same checkout or service directory);
//   3. failing that, every process titled "solar: master" (/proc/PID/comm) is
//      asked for its working directory (/proc/PID/cwd: the master never
//      chdir()s, so it is still the start directory), the pid_file is
//      resolved against it, and a master counts when that file names it.
// A pid is only trusted when it runs and is titled "solar: master", so a pid
// reused after a crash is never signalled. Step 3 needs the right to read
// another process's cwd: the same user or root, as kill() does anyway.
// Runs in: solarctl.
#pragma once

#include <sys/types.h>

#include <string>

namespace solar::ctl {

struct MasterLocation {
  pid_t pid = -1;
  std::string pid_file;   // the file that named it, absolute
  std::string start_dir;  // the master's working directory; "" if it could not be read
};

// Finds the master for `pid_file` (as written in the config). False with
// *why a sentence for the user: "solar is not running (no pid file at ...)",
// "... names pid N, which is gone: a stale file from a crash", or two masters
// that both match.
bool LocateMaster(const std::string& pid_file, MasterLocation* out, std::string* why);

// True while `pid` runs (a zombie has exited; its parent just has not reaped it).
bool Alive(pid_t pid);

// The working directory of `pid` ("" when it cannot be read).
std::string WorkingDirOf(pid_t pid);

// `path` made absolute against `dir` (unchanged when already absolute or "").
std::string Resolve(const std::string& dir, const std::string& path);

}  // namespace solar::ctl
