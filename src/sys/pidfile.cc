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
namespace {

void MakeParentDirs(const std::string& path) {
  for (size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1)) {
    ::mkdir(path.substr(0, pos).c_str(), 0755);  // EEXIST is the usual answer
  }
}

}  // namespace

PidFile::~PidFile() = default;

bool PidFile::acquire(const std::string& path, std::string* error, pid_t* holder) {
  *holder = -1;
  MakeParentDirs(path);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) {
    *error = "open(\"" + path + "\") failed: " + std::strerror(errno);
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
