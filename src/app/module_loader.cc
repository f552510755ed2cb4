#include "app/module_loader.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <exception>

#include "app/registry.h"
#include "config/config.h"
#include "sys/privilege.h"

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

bool CheckWorkerLoadsInChild(const Config& config, const std::string& config_path, std::string* error) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    *error = std::string("pipe() failed: ") + std::strerror(errno);
    return false;
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    std::string resolved, why;
    UserIds ids;
    if (geteuid() == 0 && LookupUser(config.user(), &ids, &why) && DropPrivileges(ids, &why) != DropResult::kDropped) {
      why = "dropping privileges for the check failed: " + why;
      [[maybe_unused]] ssize_t n = write(fds[1], why.data(), why.size());
      _exit(1);
    }
    auto worker = LoadWorker(config.worker(), &resolved, &why);
    if (!worker) {
      [[maybe_unused]] ssize_t n = write(fds[1], why.data(), why.size());
      _exit(1);
    }
    WorkerInfo info;
    info.name = resolved;
    info.config_path = config_path;
    info.config_text = ConfigToText(config);
    try {
      worker->onCheck(info);
    } catch (const std::exception& e) {
      why = resolved + " refuses the configuration: " + e.what();
      [[maybe_unused]] ssize_t n = write(fds[1], why.data(), why.size());
      _exit(1);
    }
    _exit(0);
  }
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    *error = std::string("fork() failed: ") + std::strerror(errno);
    return false;
  }
  std::string why;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof(buf))) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    why.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  *error = why.empty() ? "the worker failed to load (" + std::to_string(status) + ")" : why;
  return false;
}

}  // namespace solar
