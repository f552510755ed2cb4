#include "master_locator.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <vector>

#include "sys/pidfile.h"

namespace solar::ctl {
namespace {

// The title the master gives itself (master.cc SetProcessTitle), as the
// kernel keeps it in comm: set with PR_SET_NAME, so it survives whatever
// argv looked like.
constexpr char kMasterComm[] = "solar: master\n";

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// 1: `pid` is titled "solar: master"; 0: it is something else; -1: unknown
// (its /proc entry is hidden from this user).
int IsMaster(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  if (!in) return -1;
  std::string comm((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return comm == kMasterComm ? 1 : 0;
}

std::string CurrentDir() {
  char buf[4096];
  return getcwd(buf, sizeof(buf)) != nullptr ? std::string(buf) : std::string();
}

// Every process titled "solar: master" but this one.
std::vector<pid_t> RunningMasters() {
  std::vector<pid_t> out;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* e = readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0 || pid == getpid()) continue;
    if (IsMaster(static_cast<pid_t>(pid)) == 1) out.push_back(static_cast<pid_t>(pid));
  }
  closedir(proc);
  return out;
}

}  // namespace

bool Alive(pid_t pid) {
  // EPERM: it runs, as another user (kill() will say so when it matters).
  if (kill(pid, 0) != 0 && errno != EPERM) return false;
  const std::string s = ReadSmallFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t rp = s.rfind(')');
  return rp == std::string::npos || rp + 2 >= s.size() || s[rp + 2] != 'Z';
}

std::string WorkingDirOf(pid_t pid) {
  char buf[4096];
  const ssize_t n = readlink(("/proc/" + std::to_string(pid) + "/cwd").c_str(), buf, sizeof(buf));
  return n > 0 && static_cast<size_t>(n) < sizeof(buf) ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

std::string Resolve(const std::string& dir, const std::string& path) {
  if (path.empty() || path[0] == '/' || dir.empty()) return path;
  return dir + (dir.back() == '/' ? "" : "/") + path;
}

bool LocateMaster(const std::string& pid_file, MasterLocation* out, std::string* why) {
  // 1 and 2: the file as solarctl's own directory resolves it.
  const std::string here = Resolve(CurrentDir(), pid_file);
  const pid_t named = ReadPidFile(here);
  if (named > 0 && Alive(named) && IsMaster(named) != 0) {
    out->pid = named;
    out->pid_file = here;
    out->start_dir = WorkingDirOf(named);
    return true;
  }
  std::string reason;
  if (named <= 0) {
    reason = "no pid file at " + here;
  } else if (!Alive(named)) {
    reason = here + " names pid " + std::to_string(named) + ", which is gone: a stale file from a crash";
  } else {
    reason = here + " names pid " + std::to_string(named) + ", which is not a solar master: a stale file whose pid " +
             "was reused";
  }
  if (pid_file.empty() || pid_file[0] == '/') {
    *why = "solar is not running (" + reason + ")";
    return false;
  }
  // 3: a master started elsewhere, which resolved the relative path against
  // its own start directory.
  std::vector<MasterLocation> found;
  int unreadable = 0;
  for (pid_t pid : RunningMasters()) {
    const std::string dir = WorkingDirOf(pid);
    if (dir.empty()) {
      ++unreadable;
      continue;
    }
    const std::string path = Resolve(dir, pid_file);
    if (path != here && ReadPidFile(path) == pid) found.push_back({pid, path, dir});
  }
  if (found.size() == 1) {
    *out = found[0];
    return true;
  }
  if (found.size() > 1) {
    *why = "several running masters have the relative pid_file " + pid_file + ":";
    for (const MasterLocation& m : found) *why += " pid " + std::to_string(m.pid) + " (started in " + m.start_dir + ")";
    *why += "; run solarctl from the start directory of the one you mean";
    return false;
  }
  *why = "solar is not running (" + reason + "; pid_file " + pid_file +
         " is relative to the directory solar was started in, and no master started elsewhere has it" +
         (unreadable > 0 ? "; " + std::to_string(unreadable) +
                               " running master(s) could not be checked, their /proc/PID/cwd is not readable: run "
                               "solarctl as their user or root"
                         : std::string()) +
         ")";
  return false;
}

}  // namespace solar::ctl
