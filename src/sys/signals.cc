#include "sys/signals.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include <glog/logging.h>

namespace solar {
namespace {

int g_signal_write_fd = -1;

void OnSignal(int signo) {
  int saved = errno;
  unsigned char b = static_cast<unsigned char>(signo);
  // A full pipe means the loop has plenty to wake for; losing a byte is fine
  // for the same signal, and the loop reaps SIGCHLD in a waitpid loop anyway.
  [[maybe_unused]] ssize_t n = ::write(g_signal_write_fd, &b, 1);
  errno = saved;
}

}  // namespace

bool SelfPipe::install(std::initializer_list<int> signals) {
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return false;
  read_.reset(fds[0]);
  write_.reset(fds[1]);
  g_signal_write_fd = write_.get();
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int s : signals) {
    if (sigaction(s, &sa, nullptr) != 0) return false;
  }
  return true;
}

int SelfPipe::next() {
  unsigned char b;
  for (;;) {
    ssize_t n = ::read(read_.get(), &b, 1);
    if (n == 1) return b;
    if (n < 0 && errno == EINTR) continue;
    return 0;
  }
}

void SelfPipe::close() {
  g_signal_write_fd = -1;
  read_.reset();
  write_.reset();
}

// sigprocmask fails only for an invalid `how` or set pointer: a bug, not a
// condition to handle. Said loudly rather than ignored.
static void SetMask(const sigset_t* mask, sigset_t* old) {
  PCHECK(sigprocmask(SIG_SETMASK, mask, old) == 0) << "sigprocmask";
}

void BlockAllSignals(sigset_t* old) {
  sigset_t all;
  sigfillset(&all);
  SetMask(&all, old);
}

void RestoreSignalMask(const sigset_t& mask) { SetMask(&mask, nullptr); }

void ResetSignalsInChild() {
  for (int s = 1; s < NSIG; ++s) {
    if (s == SIGKILL || s == SIGSTOP) continue;
    // Crash signals keep glog's failure handler, which logs a stack trace.
    if (s == SIGSEGV || s == SIGBUS || s == SIGFPE || s == SIGILL || s == SIGABRT) continue;
    signal(s, SIG_DFL);
  }
  signal(SIGPIPE, SIG_IGN);
  // Ctrl-C and a terminal hangup reach the whole process group; only the
  // master decides what they mean, and tells the children with TERM
  // (nginx workers ignore them the same way).
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
}

void UnblockAllSignals() {
  sigset_t none;
  sigemptyset(&none);
  SetMask(&none, nullptr);
}

bool SignalProcess(pid_t pid, int sig) {
  if (pid <= 0) return false;  // never a process group, never "every process"
  if (::kill(pid, sig) == 0) return true;
  // ESRCH: it exited and its exit is not reaped yet, or just was; expected.
  if (errno != ESRCH) PLOG(WARNING) << "kill(" << pid << ", " << strsignal(sig) << ") failed";
  return false;
}

}  // namespace solar
