// solar: command line, then hands off to the master.
//
//   solar [-c FILE]      run (no -c: the embedded defaults, etc/solar.conf)
//   solar -t [-c FILE]   check the configuration and exit 0 (ok) or 1
//   solar -T [-c FILE]   print the effective configuration and exit
#include <getopt.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include <glog/logging.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "app/module_loader.h"
#include "base/socket_address.h"
#include "base/version.h"
#include "config/config.h"
#include "master/master.h"
#include "sys/process_title.h"

namespace {

const char kUsage[] =
    "usage: solar [-c FILE] [-t | -T]\n"
    "       solar --version\n"
    "\n"
    "  -c, --config FILE  configuration file (protobuf text format; default: the embedded etc/solar.conf)\n"
    "  -t, --test         check the configuration and exit\n"
    "  -T, --print        print the effective configuration and exit\n"
    "  -h, --help         this help\n"
    "      --version      print the version and exit\n"
    "signals to the master: TERM/INT/QUIT graceful stop (a second one stops at once)\n";

// Bad usage: what is wrong, the synopsis (kUsage up to its blank line), exit 2.
int UsageError(const std::string& problem) {
  const std::string usage = kUsage;
  std::fprintf(stderr, "solar: %s\n%sTry 'solar --help'.\n", problem.c_str(),
               usage.substr(0, usage.find("\n\n") + 1).c_str());
  return 2;
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

// What can be known before a start beyond the config's own rules: paths, and
// for -t that every address is one this machine has (a start finds out by
// binding; -t must not, since a running instance may hold the ports).
bool CheckEnvironment(const solar::Config& config, bool test_only, std::string* error) {
  if (!solar::CheckPaths(config, error)) return false;
  if (!test_only) return true;
  struct Address {
    const char* field;
    const std::string& text;
    int type;
  };
  const Address addresses[] = {{"listen", config.listen(), SOCK_STREAM},
                               {"admin_listen", config.admin_listen(), SOCK_STREAM},
                               {"udp.listen", config.udp().listen(), SOCK_DGRAM}};
  for (const Address& a : addresses) {
    solar::SocketAddress addr;
    std::string why;
    if (a.text.empty() || !solar::ParseSocketAddress(a.text, &addr, &why)) continue;  // validated already
    if (!solar::CheckBindable(addr, a.type, &why)) {
      *error = std::string(a.field) + " cannot be bound: " + why;
      return false;
    }
  }
  return true;
}

// The command line's choices.
struct Flags {
  std::string config_path;  // empty: the embedded defaults
  bool test_only = false;   // -t
  bool print = false;       // -T
};

// Returns -1 to go on, or the exit code: 0 after --help or --version, 2 on bad usage.
int ParseFlags(int argc, char** argv, Flags* flags) {
  // getopt_long: -c FILE, -cFILE, --config=FILE, clustered flags (-tc FILE).
  // "+": stop at the first word that is not an option (solar takes none)
  // rather than reorder argv, which InitProcessTitle later overwrites.
  static const option kLongOptions[] = {{"config", required_argument, nullptr, 'c'},
                                        {"test", no_argument, nullptr, 't'},
                                        {"print", no_argument, nullptr, 'T'},
                                        {"help", no_argument, nullptr, 'h'},
                                        {"version", no_argument, nullptr, 'V'},
                                        {nullptr, 0, nullptr, 0}};
  opterr = 0;  // the messages below name the option as the other tools do
  for (int c; (c = getopt_long(argc, argv, "+:c:tTh", kLongOptions, nullptr)) != -1;) {
    const std::string arg = argv[optind - 1];  // the word getopt just finished (long forms)
    const bool long_form = arg.rfind("--", 0) == 0;
    switch (c) {
      case 'c': flags->config_path = optarg; break;
      case 't': flags->test_only = true; break;
      case 'T': flags->print = true; break;
      case 'h': std::fputs(kUsage, stdout); return 0;
      case 'V': std::printf("%s\n", solar::VersionLine("solar").c_str()); return 0;
      case ':':
        return UsageError("option '" + (long_form ? arg : "-" + std::string(1, char(optopt))) + "' needs a value");
      default:  // '?': an unknown option, or a value given to a flag (--test=x)
        if (optopt == 0) return UsageError("unknown option '" + arg + "'");
        if (long_form && (optopt == 'V' || std::strchr("tTh", optopt) != nullptr)) {
          return UsageError("option '" + arg + "' takes no value");
        }
        return UsageError("unknown option '-" + std::string(1, char(optopt)) + "'");
    }
  }
  if (optind < argc) return UsageError("unexpected argument '" + std::string(argv[optind]) + "'");
  return -1;
}

// A configuration that cannot be used: what is wrong, and -t's verdict. Returns false.
bool ConfigFailed(const Flags& flags, const std::string& message) {
  std::fprintf(stderr, "solar: %s\n", message.c_str());
  if (flags.test_only) std::fprintf(stderr, "solar: configuration test failed\n");
  return false;
}

// Loads the configuration and checks it as far as -t, -T or a start each
// need. False once the problem is reported.
bool LoadAndCheck(const Flags& flags, solar::Config* config) {
  // Relative paths in the config are taken from here, before anything chdirs.
  std::string error;
  if (!solar::LoadConfig(flags.config_path, config, &error)) return ConfigFailed(flags, error);
  // Relative paths are fixed now, so the check, -T and the server all see the
  // same files (and -T shows the state_dir that a start would use).
  solar::AbsolutizePaths(config);
  if (flags.test_only) {  // a start logs them from the master
    for (const std::string& w : solar::ConfigWarnings(*config, geteuid() == 0)) {
      std::fprintf(stderr, "solar: warning: %s\n", w.c_str());
    }
  }
  const std::string config_name = flags.config_path.empty() ? "<embedded defaults>" : flags.config_path;
  if (!flags.print && !CheckEnvironment(*config, flags.test_only, &error)) {
    return ConfigFailed(flags, config_name + ": " + error);
  }
  // The worker (built-in or module) must load — checked in a throwaway child,
  // because the master never runs user code.
  if (std::string why;
      !solar::CheckWorkerLoadsInChild(*config, flags.config_path, config->reload_start_timeout_ms(), &why)) {
    // A worker's refusal that names a setting ("settings.table: ...") points at its line.
    std::ifstream in(flags.config_path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return ConfigFailed(flags, solar::LocateFieldError(text, config_name, "worker: " + why));
  }
  return true;
}

// A start: daemon mode, logging, then the master.
int Serve(const solar::Config& config, const std::string& config_path, int argc, char** argv) {
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

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (const int code = ParseFlags(argc, argv, &flags); code >= 0) return code;
  solar::Config config;
  if (!LoadAndCheck(flags, &config)) return 1;
  if (flags.print) {
    std::fputs(solar::ConfigToTextAllFields(config).c_str(), stdout);
    return 0;
  }
  if (flags.test_only) {
    std::printf("solar: configuration %s is ok\n",
                flags.config_path.empty() ? "<embedded defaults>" : flags.config_path.c_str());
    return 0;
  }
  return Serve(config, flags.config_path, argc, argv);
}
