#include "app/module_loader.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <exception>

#include <glog/logging.h>

#include "app/registry.h"
#include "config/config.h"
#include "sys/privilege.h"
#include "sys/signals.h"

namespace solar {

std::unique_ptr<Worker> LoadWorker(const WorkerConfig& config, std::string* resolved, std::string* error) {
  std::string spec = config.name();
  if (!config.module().empty()) {
    const size_t before = RegistrationCount();
    // RTLD_NOW: a missing symbol fails here, in the replacement, while the old
    // worker still serves — not at the first request. The handle is never
    // closed: the code must stay for the life of the process.
    void* handle = dlopen(config.module().c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      *error = "cannot load module: " + std::string(dlerror());
      return nullptr;
    }
    std::vector<std::string> added = RegisteredSince(before);
    if (std::string refused = TakeRegistrationError(); !refused.empty()) {
      *error = "module " + config.module() + ": " + refused;
      return nullptr;
    }
    if (added.empty()) {
      *error = "module " + config.module() + " registered no worker (SOLAR_REGISTER_WORKER missing?)";
      return nullptr;
    }
    if (spec.empty()) {
      if (added.size() > 1) {
        *error = "module " + config.module() + " registers several workers; name one in worker.name";
        return nullptr;
      }
      spec = added.front();
    } else if (spec.rfind("builtin:", 0) != 0) {
      spec = "builtin:" + spec;
    }
  }
  auto worker = CreateWorker(spec, error);
  if (worker) *resolved = spec;
  return worker;
}

WorkerInfo MakeWorkerInfo(const Config& config, const std::string& config_path, const std::string& resolved_name) {
  WorkerInfo info;
  info.name = resolved_name;
  info.config_path = config_path;
  info.config_text = ConfigToText(config);
  info.state_dir = config.state_dir();
  info.settings.insert(config.worker().settings().begin(), config.worker().settings().end());
  info.max_frame_bytes = config.max_frame_bytes();
  return info;
}

std::string DescribeWorker(const WorkerConfig& config) {
  if (config.module().empty()) return config.name();
  return "module " + config.module() + (config.name().empty() ? "" : " (" + config.name() + ")");
}

namespace {

// The check's child: loads the worker as it will run (dropped to `user`),
// calls onCheck, and writes its reason for refusing to fds[1]; exits 0 if
// it passed.
[[noreturn]] void RunWorkerCheck(const Config& config, const std::string& config_path, int fds[2],
                                 const std::function<void()>& in_child) {
  // The master's handlers write into its self-pipe: not from here.
  ResetSignalsInChild();
  UnblockAllSignals();
  close(fds[0]);
  if (in_child) in_child();
  // Only the report pipe stays open, as fd 3 (the standard streams too).
  if (fds[1] != 3 && (dup2(fds[1], 3) != 3 || close(fds[1]) != 0)) _exit(1);
  const int report = 3;
  auto fail = [&](const std::string& why) {
    [[maybe_unused]] ssize_t n = write(report, why.data(), why.size());
    _exit(1);
  };
  if (close_range(4, ~0U, 0) != 0) fail(std::string("close_range() in the check failed: ") + std::strerror(errno));
  std::string resolved, why;
  if (geteuid() == 0) {
    UserIds ids;
    if (!LookupUser(config.user(), &ids, &why)) fail("cannot run the check as the worker user: " + why);
    if (DropPrivileges(ids, &why) != DropResult::kDropped) fail("dropping privileges for the check failed: " + why);
  }
  auto worker = LoadWorker(config.worker(), &resolved, &why);
  if (!worker) fail(why);
  const WorkerInfo info = MakeWorkerInfo(config, config_path, resolved);
  try {
    worker->onCheck(info);
  } catch (const std::exception& e) {
    fail(resolved + " refuses the configuration: " + e.what());
  }
  _exit(0);
}

}  // namespace

bool StartWorkerCheck(const Config& config, const std::string& config_path, WorkerCheck* check,
                      std::string* error, const std::function<void()>& in_child) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    *error = std::string("pipe() failed: ") + std::strerror(errno);
    return false;
  }
  sigset_t old_mask;
  BlockAllSignals(&old_mask);  // until the child has reset the master's handlers
  pid_t pid = fork();
  if (pid == 0) RunWorkerCheck(config, config_path, fds, in_child);
  RestoreSignalMask(old_mask);
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    *error = std::string("fork() failed: ") + std::strerror(errno);
    return false;
  }
  check->pid = pid;
  check->output.reset(fds[0]);
  check->why.clear();
  check->timed_out = false;
  // The master reads it between other work, never waiting on it.
  if (fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0) PLOG(WARNING) << "fcntl(O_NONBLOCK) on the worker check's pipe";
  return true;
}

bool ReadWorkerCheck(WorkerCheck* check) {
  char buf[512];
  while (check->output) {
    const ssize_t n = read(check->output.get(), buf, sizeof(buf));
    if (n > 0) {
      // A reason, not a log: a module printing megabytes is cut.
      if (check->why.size() < 64 * 1024) check->why.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    check->output.reset();  // EOF (or an error): the child is gone or closed it
  }
  return false;
}

bool WorkerCheckPassed(WorkerCheck* check, int status, uint32_t timeout_ms, std::string* error) {
  // The child has exited: what it wrote is all in the pipe. Read to EOF.
  if (check->output && fcntl(check->output.get(), F_SETFL, 0) != 0) {
    PLOG(WARNING) << "fcntl() on the worker check's pipe";
  }
  while (ReadWorkerCheck(check)) {
  }
  check->pid = -1;
  if (check->timed_out) {
    *error = "loading the worker took longer than " + std::to_string(timeout_ms) + " ms; killed";
    return false;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  *error = check->why.empty() ? "the worker failed to load (" + std::to_string(status) + ")" : check->why;
  return false;
}

bool CheckWorkerLoadsInChild(const Config& config, const std::string& config_path, uint32_t timeout_ms,
                             std::string* error) {
  WorkerCheck check;
  if (!StartWorkerCheck(config, config_path, &check, error)) return false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (check.output) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      check.timed_out = true;
      if (kill(check.pid, SIGKILL) != 0) PLOG(WARNING) << "kill(" << check.pid << ", SIGKILL) of the worker check";
      break;
    }
    pollfd p{check.output.get(), POLLIN, 0};
    const int r = poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno != EINTR) PLOG(WARNING) << "poll() on the worker check's pipe";
    if (r > 0) ReadWorkerCheck(&check);
  }
  int status = 0;
  while (waitpid(check.pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WorkerCheckPassed(&check, status, timeout_ms, error);
}

}  // namespace solar
