// The pid file, held with flock for the master's life: a stale file left by a
// crash never blocks a start (no lock is held on it), and a second instance is
// refused because the lock is.
// Runs in: master.
#pragma once

#include <sys/types.h>

#include <string>

#include "base/unique_fd.h"

namespace solar {

class PidFile {
 public:
  PidFile() = default;
  ~PidFile();
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;

  // Creates the parent directory if needed, opens and locks `path`. False with
  // *error set; if another live instance holds it, *holder is its pid.
  bool acquire(const std::string& path, std::string* error, pid_t* holder);
  // Writes this process's pid into the locked file.
  bool writePid(std::string* error);
  // Removes the file (while still holding the lock) and closes it.
  void remove();
  // In a child: closes the inherited fd without unlinking (the lock stays the master's).
  void closeInChild() { fd_.reset(); }

 private:
  std::string path_;
  UniqueFd fd_;
};

// Reads the pid in `path`; -1 if none.
pid_t ReadPidFile(const std::string& path);

}  // namespace solar
