#include "reload.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "admin_client.h"
#include "server_log.h"

namespace solar::ctl {
namespace {

constexpr int kRequestTimeoutMs = 5000;  // one GET of /status
constexpr int kPollMs = 100;
constexpr size_t kMaxLogLines = 12;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string SolarBeside() {
  std::string self(4096, '\0');
  const ssize_t n = readlink("/proc/self/exe", self.data(), self.size());
  return (n > 0 ? self.substr(0, self.rfind('/', static_cast<size_t>(n))) : std::string(".")) + "/solar";
}

std::string Absolute(const std::string& path) {
  char buf[4096];
  if (path.empty() || path[0] == '/' || getcwd(buf, sizeof(buf)) == nullptr) return path;
  return std::string(buf) + "/" + path;
}

// The /status of the master, retried while the endpoint is briefly away (the
// admin process respawning) until `deadline_ms`.
bool PollStatus(AdminClient& admin, int64_t deadline_ms, MasterStatus* out, std::string* why) {
  for (;;) {
    std::string body;
    if (admin.get("/status", &body, why)) return ParseMasterStatus(body, out, why);
    if (NowMs() + kPollMs >= deadline_ms) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
  }
}

void PrintLog(const ServerLog& log, FILE* out) {
  const std::vector<std::string> lines = log.lines(kMaxLogLines);
  if (lines.empty()) return;
  std::fprintf(out, "solarctl: %s says:\n", log.describe().c_str());
  for (const std::string& l : lines) std::fprintf(out, "  %s\n", l.c_str());
}

}  // namespace

int RunSolarCheck(const std::string& config_path, const std::string& dir, std::string* output) {
  const std::string solar = SolarBeside();
  const std::string config = Absolute(config_path);  // before the child's chdir
  int fds[2] = {-1, -1};
  if (output != nullptr && pipe2(fds, O_CLOEXEC) != 0) return 1;
  const pid_t pid = fork();
  if (pid < 0) return 1;
  if (pid == 0) {
    signal(SIGPIPE, SIG_DFL);  // solarctl ignores it; an exec would inherit that
    if (output != nullptr) {
      dup2(fds[1], 1);
      dup2(fds[1], 2);
    }
    if (!dir.empty() && chdir(dir.c_str()) != 0) {
      std::fprintf(stderr, "solarctl: cannot enter %s: %s\n", dir.c_str(), std::strerror(errno));
      _exit(1);
    }
    if (config.empty()) execl(solar.c_str(), solar.c_str(), "-t", static_cast<char*>(nullptr));
    else execl(solar.c_str(), solar.c_str(), "-t", "-c", config.c_str(), static_cast<char*>(nullptr));
    std::fprintf(stderr, "solarctl: cannot run %s: %s\n", solar.c_str(), std::strerror(errno));
    _exit(1);
  }
  if (output != nullptr) {
    close(fds[1]);
    char buf[4096];
    for (ssize_t n; (n = read(fds[0], buf, sizeof(buf))) != 0;) {
      if (n > 0) output->append(buf, static_cast<size_t>(n));
      else if (errno != EINTR) break;
    }
    close(fds[0]);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int RunReload(const ReloadCommand& command, const Config& config, const MasterLocation& master) {
  const bool hup = command.signal == SIGHUP;
  const char* what = hup ? "reconfigure and reload" : "rolling reload";
  const std::string sig = hup ? "HUP" : "USR1";
  if (hup) {
    // The master's own check, run where the master runs, so that relative
    // paths in the file resolve as they will for it.
    std::string output;
    if (RunSolarCheck(command.config_path, master.start_dir, &output) != 0) {
      std::fputs(output.c_str(), stderr);
      std::fprintf(stderr, "solarctl: the configuration is refused; pid %d was not signalled\n", master.pid);
      return 1;
    }
  }

  // Where to watch the outcome.
  std::string address_text = command.admin.empty() ? config.admin_listen() : command.admin, why;
  SocketAddress address;
  std::string cannot_wait;
  if (!command.wait) {
    cannot_wait = "--no-wait";
  } else if (address_text.empty()) {
    cannot_wait = "the admin endpoint is off (admin_listen is \"\"; pass --admin to watch)";
  } else if (!ParseSocketAddress(address_text, &address, &why)) {
    std::fprintf(stderr, "solarctl: admin address: %s\n", why.c_str());
    return 1;
  } else if (address.port() == 0) {
    cannot_wait = "admin_listen " + address_text + " has port 0, picked at start: pass --admin HOST:PORT to watch";
  }
  if (!cannot_wait.empty()) {
    if (kill(master.pid, command.signal) != 0) {
      std::fprintf(stderr, "solarctl: kill(%d, SIG%s) failed: %s\n", master.pid, sig.c_str(), std::strerror(errno));
      return 1;
    }
    std::printf("solarctl: %s requested (pid %d); not waiting for the outcome: %s\n", what, master.pid,
                cannot_wait.c_str());
    return 0;
  }

  AdminClient admin(address, kRequestTimeoutMs);
  const int64_t start = NowMs();
  MasterStatus before;
  if (!PollStatus(admin, start + 2000, &before, &why)) {
    std::fprintf(stderr, "solarctl: %s; pid %d was not signalled (--no-wait signals without watching)\n",
                 why.c_str(), master.pid);
    return 1;
  }
  if (before.pid != master.pid) {
    std::fprintf(stderr, "solarctl: the admin endpoint at %s belongs to pid %d, not to the master pid %d of %s\n",
                 address_text.c_str(), before.pid, master.pid, master.pid_file.c_str());
    return 1;
  }
  // Long enough for every worker to start (reload_start_timeout_ms) and
  // retire (graceful_timeout_ms) in turn: past that the master has decided.
  const int64_t workers =
      std::max<int64_t>(before.workers, config.workers() + (config.has_udp() ? config.udp().workers() : 0));
  const int64_t per_worker = int64_t{config.reload_start_timeout_ms()} + config.graceful_timeout_ms();
  const int64_t hup_check = hup ? config.reload_start_timeout_ms() : 0;  // the master loads the new worker first
  const int64_t deadline =
      start + (command.timeout_ms > 0 ? command.timeout_ms : (workers + 1) * per_worker + hup_check + 5000);

  // The master ignores a reload asked for during one: let that one finish.
  if (before.state == "reloading") {
    std::printf("solarctl: a reload is in progress; waiting for it to finish first\n");
    std::fflush(stdout);
    while (before.state == "reloading" && NowMs() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
      if (!PollStatus(admin, deadline, &before, &why)) break;
    }
  }

  ServerLog log(master.pid, Resolve(master.start_dir, config.log_dir()));
  log.mark();
  if (kill(master.pid, command.signal) != 0) {
    std::fprintf(stderr, "solarctl: kill(%d, SIG%s) failed: %s\n", master.pid, sig.c_str(), std::strerror(errno));
    return 1;
  }
  std::printf("solarctl: %s requested (pid %d); waiting for the outcome\n", what, master.pid);
  std::fflush(stdout);
  const int64_t signalled = NowMs();
  // A HUP the master refuses starts no reload; it decides within the time its
  // check of the new worker may take.
  const int64_t refused_after = signalled + config.reload_start_timeout_ms() + 2000;
  bool saw_reloading = false;
  MasterStatus now = before;
  std::string failure;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
    if (!Alive(master.pid)) {
      failure = "the master (pid " + std::to_string(master.pid) + ") exited";
      break;
    }
    if (!PollStatus(admin, deadline, &now, &why)) {
      failure = why;
      break;
    }
    saw_reloading = saw_reloading || now.state == "reloading";
    if (now.reload_failures > before.reload_failures) {
      failure = "the master stopped it: a replacement worker could not start (or was not ready within "
                "reload_start_timeout_ms); the old workers keep serving";
      if (!now.last_reload_error.empty()) failure += ": " + now.last_reload_error;
      break;
    }
    if (now.reloads > before.reloads) {
      std::printf("solarctl: %s done (pid %d, %.1f s)\n", what, master.pid, (NowMs() - signalled) / 1000.0);
      PrintLog(log, stdout);  // warnings, e.g. HUP's fields that need a restart
      return 0;
    }
    if (hup && !saw_reloading && NowMs() >= refused_after) {
      failure = "the master started no reload: it refused the new configuration and changed nothing";
      break;
    }
    if (NowMs() >= deadline) {
      failure = "no outcome within " + std::to_string((deadline - start) / 1000) + " s (state " + now.state +
                "); see solarctl status";
      break;
    }
  }
  std::fprintf(stderr, "solarctl: %s failed: %s\n", what, failure.c_str());
  if (log.lines(1).empty()) {
    std::fprintf(stderr, "solarctl: the reason is in %s (look for \"reload (%s) stopped\" or \"HUP:\")\n",
                 log.describe().c_str(), sig.c_str());
  } else {
    PrintLog(log, stderr);
  }
  return 1;
}

}  // namespace solar::ctl
