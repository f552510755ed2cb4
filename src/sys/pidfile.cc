#include "sys/pidfile.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace solar {
PidFile::~PidFile() = default;

bool PidFile::acquire(const std::string& path, std::string* error, pid_t* holder) {
  *holder = -1;
  // The directory is not created: as root that would make directories
  // wherever a typo points (nginx refuses the same way).
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) {
    *error = errno == ENOENT ? "pid_file " + path + ": its directory does not exist (create it, or set pid_file)"
                             : "open(\"" + path + "\") failed: " + std::strerror(errno);
    return false;
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    *holder = ReadPidFile(path);
    *error = err == EWOULDBLOCK ? "another solar (pid " + std::to_string(*holder) + ") holds " + path
                                : "flock(\"" + path + "\") failed: " + std::strerror(err);
    return false;
  }
  path_ = path;
  fd_ = std::move(fd);
  return true;
}

bool PidFile::writePid(std::string* error) {
  std::string pid = std::to_string(getpid()) + "\n";
  if (::ftruncate(fd_.get(), 0) != 0 || ::pwrite(fd_.get(), pid.data(), pid.size(), 0) != (ssize_t)pid.size()) {
    *error = "writing \"" + path_ + "\" failed: " + std::strerror(errno);
    return false;
  }
  return true;
}

void PidFile::remove() {
  if (!fd_) return;
  ::unlink(path_.c_str());
  fd_.reset();
}

pid_t ReadPidFile(const std::string& path) {
  std::ifstream in(path);
  long pid = -1;
  if (!(in >> pid) || pid <= 0) return -1;
  return static_cast<pid_t>(pid);
}

}  // namespace solar
