#include "sys/state_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/unique_fd.h"

namespace solar {
namespace {

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// Creates the missing directories of `dir`; *created_last: the last one was
// made here (so this process may give it away).
bool MakeDirs(const std::string& dir, bool* created_last, std::string* error) {
  *created_last = false;
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    const std::string part = dir.substr(0, pos);
    const mode_t mode = pos == dir.size() ? 0750 : 0755;
    if (::mkdir(part.c_str(), mode) == 0) {
      if (pos == dir.size()) *created_last = true;
    } else if (errno != EEXIST) {
      *error = Errno("state_dir: mkdir(" + part + ")");
      return false;
    }
  }
  return true;
}

// In a child that has dropped to `owner`: can it write `dir`? If not, the
// first ancestor it cannot search, or the directory itself. "" when it can.
std::string CheckReachableAs(const std::string& dir, const UserIds& owner) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Errno("pipe()");
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return Errno("fork()");
  }
  if (pid == 0) {
    close(fds[0]);
    std::string why;
    if (DropPrivileges(owner, &why) != DropResult::kDropped) {
      why = "dropping privileges failed: " + why;
    } else if (access(dir.c_str(), W_OK | X_OK) != 0) {
      const int err = errno;
      std::string blocker = dir;
      for (size_t pos = 1; pos < dir.size(); ++pos) {
        if (dir[pos] != '/') continue;
        const std::string part = dir.substr(0, pos);
        if (access(part.c_str(), X_OK) != 0) {
          blocker = part + " (a parent directory it cannot enter)";
          break;
        }
      }
      why = std::string(std::strerror(err)) + " at " + blocker;
    }
    [[maybe_unused]] ssize_t n = write(fds[1], why.data(), why.size());
    _exit(why.empty() ? 0 : 1);
  }
  close(fds[1]);
  std::string why;
  char buf[512];
  for (;;) {
    ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    why.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (why.empty() && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) why = "the check failed";
  return why;
}

}  // namespace

bool PrepareStateDir(const std::string& dir, const UserIds* owner, std::string* error) {
  if (dir.empty() || dir[0] != '/' || dir.find_first_not_of('/') == std::string::npos) {
    *error = "state_dir: \"" + dir + "\" is not an absolute path below /";
    return false;
  }
  bool created = false;
  if (!MakeDirs(dir, &created, error)) return false;
  // O_NOFOLLOW: a symlink planted at the last component is refused, not
  // followed to whatever it names.
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    *error = Errno("state_dir: open(" + dir + ")") + (errno == ELOOP ? " (a symlink: name the directory itself)" : "");
    return false;
  }
  if (owner == nullptr) return true;
  // Only a directory made here is given to the worker user: one that existed
  // belongs to whoever made it, and the check below says if it will not do.
  if (created && ::fchown(fd.get(), owner->uid, owner->gid) != 0) {
    *error = Errno("state_dir: chown(" + dir + ")");
    return false;
  }
  std::string why = CheckReachableAs(dir, *owner);
  if (!why.empty()) {
    *error = "state_dir " + dir + ": the worker user (uid " + std::to_string(owner->uid) +
             ") cannot write it: " + why + ". Leave state_dir empty (as root: " + "/var/lib/solar" +
             ") or name a directory that user can reach";
    return false;
  }
  return true;
}

}  // namespace solar
