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

std::string DescribeWorker(const WorkerConfig& config) {
  if (config.module().empty()) return config.name();
  return "module " + config.module() + (config.name().empty() ? "" : " (" + config.name() + ")");
}

bool CheckWorkerLoadsInChild(const Config& config, const std::string& config_path, uint32_t timeout_ms,
                             std::string* error) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    *error = std::string("pipe() failed: ") + std::strerror(errno);
    return false;
  }
  sigset_t old_mask;
  BlockAllSignals(&old_mask);  // until the child has reset the master's handlers
  pid_t pid = fork();
  if (pid == 0) {
    // The master's handlers write into its self-pipe: not from here.
    ResetSignalsInChild();
    UnblockAllSignals();
    close(fds[0]);
    auto fail = [&](const std::string& why) {
      [[maybe_unused]] ssize_t n = write(fds[1], why.data(), why.size());
      _exit(1);
    };
    std::string resolved, why;
    if (geteuid() == 0) {
      UserIds ids;
      if (!LookupUser(config.user(), &ids, &why)) fail("cannot run the check as the worker user: " + why);
      if (DropPrivileges(ids, &why) != DropResult::kDropped) fail("dropping privileges for the check failed: " + why);
    }
    auto worker = LoadWorker(config.worker(), &resolved, &why);
    if (!worker) fail(why);
    WorkerInfo info;
    info.name = resolved;
    info.config_path = config_path;
    info.config_text = ConfigToText(config);
    info.state_dir = config.state_dir();
    info.settings.insert(config.worker().settings().begin(), config.worker().settings().end());
  info.settings.insert(config.worker().settings().begin(), config.worker().settings().end());
    try {
      worker->onCheck(info);
    } catch (const std::exception& e) {
      fail(resolved + " refuses the configuration: " + e.what());
    }
    _exit(0);
  }
  RestoreSignalMask(old_mask);
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    *error = std::string("fork() failed: ") + std::strerror(errno);
    return false;
  }
  std::string why;
  char buf[512];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the child has exited (or closed its end)
    why.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    *error = "loading the worker took longer than " + std::to_string(timeout_ms) + " ms; killed";
    return false;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  *error = why.empty() ? "the worker failed to load (" + std::to_string(status) + ")" : why;
  return false;
}

}  // namespace solar
