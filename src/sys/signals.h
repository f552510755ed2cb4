// Signals as events: the handler writes the signal number as one byte to a
// self-pipe and restores errno; the master's loop reads the pipe and does the
// work (PHP-FPM fpm_signals, nginx). Signals are blocked across fork, and the
// child resets every handler before unblocking (STYLE rules 6, 7).
// Runs in: master (SelfPipe); children (ResetSignalsInChild).
#pragma once

#include <signal.h>

#include <initializer_list>

#include "base/unique_fd.h"

namespace solar {

class SelfPipe {
 public:
  // Creates the pipe (non-blocking, CLOEXEC) and installs the handler for each
  // of `signals`. Only one SelfPipe may exist per process.
  bool install(std::initializer_list<int> signals);
  int readFd() const { return read_.get(); }
  // Reads one pending signal number; 0 when none is pending.
  int next();
  // Closes both ends (in a child, which must not share the master's pipe).
  void close();

 private:
  UniqueFd read_;
  UniqueFd write_;
};

// Blocks all signals; returns the previous mask in *old.
void BlockAllSignals(sigset_t* old);
void RestoreSignalMask(const sigset_t& mask);
// In a fresh child, while signals are still blocked: default dispositions for
// everything the master handled;
// SIGPIPE ignored, and SIGINT, SIGQUIT, SIGHUP too (the terminal sends them to
// the whole group; the master alone acts, and tells children with TERM).
// The mask is left as it is: the child unblocks (UnblockAllSignals) once it
// has closed what it does not use.
void ResetSignalsInChild();
void UnblockAllSignals();

// kill(pid, sig) for a child the caller started: false when it failed; any
// error but ESRCH (already gone) is logged. Refuses pid <= 0, which kill()
// would take as a process group or every process.
bool SignalProcess(pid_t pid, int sig);

}  // namespace solar
