// solarctl: control a running solar from the shell.
//
//   solarctl [-c CONFIG] [--admin HOST:PORT] [--timeout S | --no-wait] status|reload|reconfigure|drain|stop|check
//
// The master is found through the pid file named in the config (the embedded
// defaults without -c), resolved as the server resolved it (master_locator.h);
// the admin endpoint through admin_listen or --admin. reload and reconfigure
// wait for the outcome (reload.h), stop until the master has exited.
// Exit status: 0 done, 1 failed (not running, refused, reload failed, timed
// out), 2 usage.
#include <getopt.h>
#include <signal.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "admin_client.h"
#include "base/socket_address.h"
#include "base/version.h"
#include "config/config.h"
#include "master_locator.h"
#include "reload.h"

namespace {

using solar::ctl::MasterLocation;

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

const char kUsage[] =
    "usage: solarctl [-c CONFIG] [--admin HOST:PORT] [--timeout S | --no-wait] COMMAND\n"
    "       solarctl --version\n"
    "\n"
    "  status       the processes and their counters (from the admin endpoint)\n"
    "  reload       rolling reload of the workers (USR1): new module code, no failed request;\n"
    "               waits until it is done, and fails with the reason if the master stopped it\n"
    "  reconfigure  check the config (solar -t), then re-read it and reload (HUP); waits likewise\n"
    "  drain        /health answers 503 from now on (WINCH), so that a load balancer moves new\n"
    "               connections away; the server keeps serving until it is stopped\n"
    "  stop         graceful stop (TERM); waits until the master has exited\n"
    "  check        check the config and that the worker loads (solar -t)\n"
    "\n"
    "  -c, --config FILE      the server's configuration [the embedded defaults]\n"
    "  -a, --admin HOST:PORT  the admin endpoint [the config's admin_listen]\n"
    "  -w, --timeout S        how long reload, reconfigure and stop wait, in seconds\n"
    "                         [long enough for every worker to be replaced; stop: graceful_timeout_ms + 5 s]\n"
    "      --no-wait          reload, reconfigure: send the signal and return\n"
    "  -h, --help             this help\n"
    "      --version          print the version and exit\n"
    "\n"
    "Exit status: 0 done, 1 failed (not running, refused, reload failed, timed out), 2 usage error.\n";

int UsageError(const std::string& problem) {
  const std::string usage = kUsage;
  std::fprintf(stderr, "solarctl: %s\n%sTry 'solarctl --help'.\n", problem.c_str(),
               usage.substr(0, usage.find("\n\n") + 1).c_str());
  return kExitUsage;
}

struct Args {
  std::string config_path;
  std::string admin;
  std::string command;
  int64_t timeout_ms = 0;  // 0: each command's default
  bool wait = true;
};

// Parses argv with getopt_long into *args. Returns -1 to go on, or the exit
// code (0 after --help or --version, 2 on a usage error).
int ParseArgs(int argc, char** argv, Args* args) {
  enum { kNoWait = 256, kVersion };
  static const option kLong[] = {{"config", required_argument, nullptr, 'c'},
                                 {"admin", required_argument, nullptr, 'a'},
                                 {"timeout", required_argument, nullptr, 'w'},
                                 {"no-wait", no_argument, nullptr, kNoWait},
                                 {"help", no_argument, nullptr, 'h'},
                                 {"version", no_argument, nullptr, kVersion},
                                 {nullptr, 0, nullptr, 0}};
  opterr = 0;  // the messages below say it the way every solar tool does
  // "-": the command word comes back in order (as 1), wherever it stands.
  for (int c; (c = getopt_long(argc, argv, "-:c:a:w:h", kLong, nullptr)) != -1;) {
    const std::string arg = argv[optind - 1];  // a long option's whole word
    const bool long_form = arg.rfind("--", 0) == 0;
    switch (c) {
      case 1:
        if (!args->command.empty()) return UsageError("unexpected argument '" + std::string(optarg) + "'");
        args->command = optarg;
        break;
      case 'c': args->config_path = optarg; break;
      case 'a': args->admin = optarg; break;
      case 'w': {
        char* end = nullptr;
        const double s = std::strtod(optarg, &end);
        if (*optarg == '\0' || *end != '\0' || !std::isfinite(s) || s <= 0 || s > 86400) {
          return UsageError("invalid timeout '" + std::string(optarg) + "': seconds, more than 0");
        }
        args->timeout_ms = static_cast<int64_t>(std::ceil(s * 1000));
        break;
      }
      case kNoWait: args->wait = false; break;
      case 'h': std::fputs(kUsage, stdout); return 0;
      case kVersion: std::printf("%s\n", solar::VersionLine("solarctl").c_str()); return 0;
      case ':':
        return UsageError("option '" + (long_form ? arg : std::string("-") + static_cast<char>(optopt)) +
                          "' needs a value");
      default:  // '?': optopt 0 is an unknown long option, a flag's id a value given to it
        if (optopt == 0) return UsageError("unknown option '" + arg + "'");
        if (long_form && (optopt == 'h' || optopt == kNoWait || optopt == kVersion)) {
          return UsageError("option '" + arg + "' takes no value");
        }
        return UsageError("unknown option '-" + std::string(1, static_cast<char>(optopt)) + "'");
    }
  }
  for (int i = optind; i < argc; ++i) {  // after "--"
    if (!args->command.empty()) return UsageError("unexpected argument '" + std::string(argv[i]) + "'");
    args->command = argv[i];
  }
  if (args->command.empty()) return UsageError("missing command: status, reload, reconfigure, stop or check");
  return -1;
}

std::string Field(const google::protobuf::Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  if (it == s.fields().end()) return "-";
  const auto& v = it->second;
  if (v.has_string_value()) return v.string_value();
  if (v.has_number_value()) return std::to_string(static_cast<long long>(v.number_value()));
  return "-";
}

int Status(const solar::Config& config, const std::string& admin) {
  std::string why;
  solar::SocketAddress addr;
  const std::string where = admin.empty() ? config.admin_listen() : admin;
  if (where.empty()) {
    std::fprintf(stderr, "solarctl: the admin endpoint is off (admin_listen is \"\"); pass --admin\n");
    return kExitFailed;
  }
  if (!solar::ParseSocketAddress(where, &addr, &why)) {
    std::fprintf(stderr, "solarctl: admin address: %s\n", why.c_str());
    return kExitFailed;
  }
  std::string body;
  solar::ctl::AdminClient client(addr, 5000);
  if (!client.get("/status", &body, &why)) {
    MasterLocation master;
    std::string not_running;
    if (!solar::ctl::LocateMaster(config.pid_file(), &master, &not_running)) why = not_running;
    std::fprintf(stderr, "solarctl: %s\n", why.c_str());
    return kExitFailed;
  }
  google::protobuf::Struct status;
  if (!google::protobuf::util::JsonStringToMessage(body, &status).ok() || !status.fields().count("master") ||
      !status.fields().count("processes")) {
    std::fprintf(stderr, "solarctl: the admin endpoint sent invalid JSON\n");
    return kExitFailed;
  }
  const auto& master = status.fields().at("master").struct_value();
  std::printf("master pid %s  %s  up %ss  workers %s  reloads %s (failed %s)  respawns %s  timeouts %s  recycles %s\n",
              Field(master, "pid").c_str(), Field(master, "state").c_str(), Field(master, "uptime_s").c_str(),
              Field(master, "active_workers").c_str(), Field(master, "reloads").c_str(),
              Field(master, "reload_failures").c_str(), Field(master, "respawns").c_str(),
              Field(master, "request_timeouts").c_str(), Field(master, "recycles").c_str());
  std::printf("%-13s %4s %8s %-9s %8s %12s %8s %10s %10s\n", "ROLE", "SLOT", "PID", "STATE", "UP(s)", "REQUESTS",
              "ERRORS", "CONNS", "ACCEPTED");
  for (const auto& p : status.fields().at("processes").list_value().values()) {
    const auto& s = p.struct_value();
    auto counters = s.fields().find("counters");
    const google::protobuf::Struct c =
        counters != s.fields().end() ? counters->second.struct_value() : google::protobuf::Struct();
    std::printf("%-13s %4s %8s %-9s %8s %12s %8s %10s %10s\n", Field(s, "role").c_str(), Field(s, "slot").c_str(),
                Field(s, "pid").c_str(), Field(s, "state").c_str(), Field(s, "uptime_s").c_str(),
                Field(c, "requests").c_str(), Field(c, "errors").c_str(), Field(c, "connections").c_str(),
                Field(c, "accepted").c_str());
  }
  return 0;
}

// WINCH, then (when the admin endpoint is on) waits until /status says so:
// from then on /health answers 503.
int Drain(const solar::Config& config, const MasterLocation& master, const std::string& admin) {
  if (kill(master.pid, SIGWINCH) != 0) {
    std::fprintf(stderr, "solarctl: kill(%d, SIGWINCH) failed: %s\n", master.pid, std::strerror(errno));
    return kExitFailed;
  }
  const std::string where = admin.empty() ? config.admin_listen() : admin;
  solar::SocketAddress addr;
  std::string why;
  if (where.empty() || !solar::ParseSocketAddress(where, &addr, &why) || addr.port() == 0) {
    std::printf("solarctl: drain sent (pid %d); without the admin endpoint's address (admin_listen is off or "
                "port 0: pass --admin) /health cannot be checked\n", master.pid);
    return 0;
  }
  solar::ctl::AdminClient client(addr, 2000);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    std::string body;
    if (client.get("/status", &body, &why) && body.find("\"draining\":true") != std::string::npos) break;
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "solarctl: drain sent (pid %d) but /status does not show it: %s\n", master.pid,
                   why.empty() ? "not draining" : why.c_str());
      return kExitFailed;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::printf("solarctl: draining (pid %d): /health answers 503; stop it once the balancer has moved away\n",
              master.pid);
  return 0;
}

int Stop(const solar::Config& config, const MasterLocation& master, int64_t timeout_ms) {
  if (kill(master.pid, SIGTERM) != 0) {
    std::fprintf(stderr, "solarctl: kill(%d, SIGTERM) failed: %s\n", master.pid, std::strerror(errno));
    return kExitFailed;
  }
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::milliseconds(timeout_ms > 0 ? timeout_ms : int64_t{config.graceful_timeout_ms()} + 5000);
  while (solar::ctl::Alive(master.pid)) {
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "solarctl: pid %d still running after the graceful timeout\n", master.pid);
      return kExitFailed;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::printf("solarctl: stopped (pid %d)\n", master.pid);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (int code = ParseArgs(argc, argv, &args); code >= 0) return code;
  // libevent writes with writev(): an endpoint that closes early must give
  // EPIPE, not kill solarctl.
  signal(SIGPIPE, SIG_IGN);
  const std::string& command = args.command;
  if (command != "status" && command != "reload" && command != "reconfigure" && command != "drain" &&
      command != "stop" && command != "check") {
    return UsageError("unknown command '" + command + "': status, reload, reconfigure, drain, stop or check");
  }
  // solar itself does the check (it also loads the worker in a child).
  if (command == "check") return solar::ctl::RunSolarCheck(args.config_path, "", nullptr);
  solar::Config config;
  std::string error;
  if (!solar::LoadConfig(args.config_path, &config, &error)) {
    std::fprintf(stderr, "solarctl: %s\n", error.c_str());
    if (command == "reconfigure") std::fprintf(stderr, "solarctl: the configuration is refused; nothing was sent\n");
    return kExitFailed;
  }
  if (command == "status") return Status(config, args.admin);
  MasterLocation master;
  if (!solar::ctl::LocateMaster(config.pid_file(), &master, &error)) {
    std::fprintf(stderr, "solarctl: %s\n", error.c_str());
    return kExitFailed;
  }
  if (command == "stop") return Stop(config, master, args.timeout_ms);
  if (command == "drain") return Drain(config, master, args.admin);
  solar::ctl::ReloadCommand reload;
  reload.signal = command == "reload" ? SIGUSR1 : SIGHUP;
  reload.config_path = args.config_path;
  reload.admin = args.admin;
  reload.timeout_ms = args.timeout_ms;
  reload.wait = args.wait;
  return solar::ctl::RunReload(reload, config, master);
}
