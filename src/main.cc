// solar: command line, then hands off to the master.
//
//   solar [-c FILE]      run (no -c: the embedded defaults, etc/solar.conf)
//   solar -t [-c FILE]   check the configuration and exit 0 (ok) or 1
//   solar -T [-c FILE]   print the effective configuration and exit
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include <glog/logging.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "app/module_loader.h"
#include "config/config.h"
#include "master/master.h"
#include "sys/process_title.h"

namespace {

void Usage(FILE* out) {
  std::fprintf(out,
               "usage: solar [-c FILE] [-t | -T]\n"
               "  -c FILE  configuration file (protobuf text format; default: the embedded etc/solar.conf)\n"
               "  -t       check the configuration and exit\n"
               "  -T       print the effective configuration and exit\n"
               "  -h       this help\n"
               "signals to the master: TERM/INT/QUIT graceful stop (a second one stops at once)\n");
}

// Detaches (nginx ngx_daemon): fork, the child calls setsid and points stdio
// at /dev/null; the parent stays until the child reports ready on a pipe, so
// `solar` in a script or ExecStart returns 0 only once the server serves, and
// 1 if it failed to start. Returns true in the child.
bool Daemonize(int* ready_fd, int timeout_ms) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    std::perror("solar: pipe");
    return false;
  }
  pid_t pid = fork();
  if (pid < 0) {
    std::perror("solar: fork");
    return false;
  }
  if (pid > 0) {
    // Wait for "ready", for the daemon to give up (EOF), or for the time a
    // worker may take to start: a worker that crash-loops must not hang the
    // script that started solar.
    close(fds[1]);
    pollfd p{fds[0], POLLIN, 0};
    int r;
    do {
      r = poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    char c = 0;
    if (r > 0 && read(fds[0], &c, 1) == 1) _exit(0);
    if (r == 0) {
      std::fprintf(stderr,
                   "solar: not ready after %d ms (reload_start_timeout_ms); see the log in log_dir. "
                   "It keeps trying in the background as pid %d\n",
                   timeout_ms, static_cast<int>(pid));
    } else {
      std::fprintf(stderr, "solar: failed to start; see the log in log_dir\n");
    }
    _exit(1);
  }
  close(fds[0]);
  setsid();
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2) close(null);
  }
  *ready_fd = fds[1];
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  bool test_only = false, print = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-c" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a == "-t") {
      test_only = true;
    } else if (a == "-T") {
      print = true;
    } else if (a == "-h" || a == "--help") {
      Usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "solar: unknown argument \"%s\"\n", a.c_str());
      Usage(stderr);
      return 2;
    }
  }
  // Relative paths in the config are taken from here, before anything chdirs.
  solar::Config config;
  std::string error;
  if (!solar::LoadConfig(config_path, &config, &error)) {
    std::fprintf(stderr, "solar: %s\n", error.c_str());
    if (test_only) std::fprintf(stderr, "solar: configuration test failed\n");
    return 1;
  }
  // Relative paths are fixed now, so the check, -T and the server all see the
  // same files (and -T shows the state_dir that a start would use).
  solar::AbsolutizePaths(&config);
  if (test_only) {  // a start logs them from the master
    for (const std::string& w : solar::ConfigWarnings(config, geteuid() == 0)) {
      std::fprintf(stderr, "solar: warning: %s\n", w.c_str());
    }
  }
  // The worker (built-in or module) must load — checked in a throwaway child,
  // because the master never runs user code.
  if (std::string why; !solar::CheckWorkerLoadsInChild(config, config_path, config.reload_start_timeout_ms(), &why)) {
    std::fprintf(stderr, "solar: %s: worker: %s\n", config_path.empty() ? "<embedded defaults>" : config_path.c_str(),
                 why.c_str());
    if (test_only) std::fprintf(stderr, "solar: configuration test failed\n");
    return 1;
  }
  if (print) {
    std::fputs(solar::ConfigToText(config).c_str(), stdout);
    return 0;
  }
  if (test_only) {
    std::printf("solar: configuration %s is ok\n", config_path.empty() ? "<embedded defaults>" : config_path.c_str());
    return 0;
  }
  int ready_fd = -1;
  if (config.daemonize() && !Daemonize(&ready_fd, static_cast<int>(config.reload_start_timeout_ms()))) return 1;

  solar::InitProcessTitle(argc, argv);
  FLAGS_logtostderr = config.log_dir().empty();
  if (!config.log_dir().empty()) {
    mkdir(config.log_dir().c_str(), 0755);
    FLAGS_log_dir = config.log_dir();
  }
  FLAGS_logbufsecs = 0;
  google::InitGoogleLogging("solar");
  // A crash in any process logs its stack trace (children keep this handler).
  google::InstallFailureSignalHandler();
  return solar::RunMaster(config, config_path, ready_fd);
}
