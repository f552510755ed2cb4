// solarctl: control a running solar from the shell.
//
//   solarctl [-c CONFIG] [--admin HOST:PORT] status|reload|reconfigure|stop|check
//
// The master is found through the pid file named in the config (the embedded
// defaults without -c), the admin endpoint through admin_listen or --admin.
// Exit status: 0 done, 1 failed (not running, refused, timed out), 2 usage.
#include <arpa/inet.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "base/socket_address.h"
#include "config/config.h"
#include "sys/pidfile.h"

namespace {

void Usage(FILE* out) {
  std::fprintf(out,
               "usage: solarctl [-c CONFIG] [--admin HOST:PORT] COMMAND\n"
               "  status       the processes and their counters (from the admin endpoint)\n"
               "  reload       rolling reload of the workers (USR1): new module code, no failed request\n"
               "  reconfigure  re-read the config, then reload (HUP)\n"
               "  stop         graceful stop (TERM); waits until the master has exited\n"
               "  check        check the config and that the worker loads (solar -t)\n");
}

// True while `pid` runs (a zombie has exited: its parent just has not reaped it).
bool Alive(pid_t pid) {
  if (kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  size_t rp = s.rfind(')');
  return rp == std::string::npos || rp + 2 >= s.size() || s[rp + 2] != 'Z';
}

// The running master's pid, or -1 with a message saying why not.
pid_t RunningMaster(const solar::Config& config, std::string* why) {
  pid_t pid = solar::ReadPidFile(config.pid_file());
  if (pid <= 0) {
    *why = "solar is not running (no pid file at " + config.pid_file() + ")";
    return -1;
  }
  if (!Alive(pid)) {
    *why = "solar is not running (" + config.pid_file() + " names pid " + std::to_string(pid) +
           ", which is gone: a stale file from a crash)";
    return -1;
  }
  return pid;
}

bool HttpGet(const solar::SocketAddress& addr, const std::string& path, std::string* body, std::string* why) {
  int fd = socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (fd < 0 || connect(fd, addr.get(), addr.length) != 0) {
    *why = "cannot reach the admin endpoint at " + addr.toString() + ": " + std::strerror(errno);
    if (fd >= 0) close(fd);
    return false;
  }
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: solar\r\n\r\n";
  if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    *why = "sending to the admin endpoint failed";
    close(fd);
    return false;
  }
  std::string resp;
  char buf[8192];
  for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) resp.append(buf, static_cast<size_t>(n));
  close(fd);
  size_t split = resp.find("\r\n\r\n");
  if (resp.rfind("HTTP/1.", 0) != 0 || split == std::string::npos || resp.find(" 200 ") > resp.find("\r\n")) {
    *why = "unexpected answer from the admin endpoint: " + resp.substr(0, resp.find("\r\n"));
    return false;
  }
  *body = resp.substr(split + 4);
  return true;
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
    return 1;
  }
  if (!solar::ParseSocketAddress(where, &addr, &why)) {
    std::fprintf(stderr, "solarctl: admin address: %s\n", why.c_str());
    return 1;
  }
  std::string body;
  if (!HttpGet(addr, "/status", &body, &why)) {
    std::string not_running;
    if (RunningMaster(config, &not_running) < 0) why = not_running;
    std::fprintf(stderr, "solarctl: %s\n", why.c_str());
    return 1;
  }
  google::protobuf::Struct status;
  if (!google::protobuf::util::JsonStringToMessage(body, &status).ok()) {
    std::fprintf(stderr, "solarctl: the admin endpoint sent invalid JSON\n");
    return 1;
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
    const auto& c = s.fields().at("counters").struct_value();
    std::printf("%-13s %4s %8s %-9s %8s %12s %8s %10s %10s\n", Field(s, "role").c_str(), Field(s, "slot").c_str(),
                Field(s, "pid").c_str(), Field(s, "state").c_str(), Field(s, "uptime_s").c_str(),
                Field(c, "requests").c_str(), Field(c, "errors").c_str(), Field(c, "connections").c_str(),
                Field(c, "accepted").c_str());
  }
  return 0;
}

int Signal(const solar::Config& config, int sig, const char* what) {
  std::string why;
  pid_t pid = RunningMaster(config, &why);
  if (pid < 0) {
    std::fprintf(stderr, "solarctl: %s\n", why.c_str());
    return 1;
  }
  if (kill(pid, sig) != 0) {
    std::fprintf(stderr, "solarctl: kill(%d, %s) failed: %s\n", pid, strsignal(sig), std::strerror(errno));
    return 1;
  }
  std::printf("solarctl: %s requested (pid %d)\n", what, pid);
  return 0;
}

int Stop(const solar::Config& config) {
  std::string why;
  pid_t pid = RunningMaster(config, &why);
  if (pid < 0) {
    std::fprintf(stderr, "solarctl: %s\n", why.c_str());
    return 1;
  }
  kill(pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(config.graceful_timeout_ms() + 5000);
  while (Alive(pid)) {
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "solarctl: pid %d still running after the graceful timeout\n", pid);
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::printf("solarctl: stopped (pid %d)\n", pid);
  return 0;
}

int Check(const std::string& config_path) {
  // solar itself does the check (it also loads the worker in a child).
  std::string self(4096, '\0');
  ssize_t n = readlink("/proc/self/exe", self.data(), self.size());
  std::string dir = n > 0 ? self.substr(0, self.rfind('/', n)) : ".";
  std::string solar = dir + "/solar";
  pid_t pid = fork();
  if (pid == 0) {
    if (config_path.empty()) execl(solar.c_str(), solar.c_str(), "-t", static_cast<char*>(nullptr));
    else execl(solar.c_str(), solar.c_str(), "-t", "-c", config_path.c_str(), static_cast<char*>(nullptr));
    std::fprintf(stderr, "solarctl: cannot run %s: %s\n", solar.c_str(), std::strerror(errno));
    _exit(1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path, admin, command;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-c" && i + 1 < argc) config_path = argv[++i];
    else if (a == "--admin" && i + 1 < argc) admin = argv[++i];
    else if (a == "-h" || a == "--help") {
      Usage(stdout);
      return 0;
    } else if (command.empty() && a[0] != '-') command = a;
    else {
      std::fprintf(stderr, "solarctl: unexpected argument \"%s\"\n", a.c_str());
      Usage(stderr);
      return 2;
    }
  }
  if (command.empty()) {
    Usage(stderr);
    return 2;
  }
  if (command == "check") return Check(config_path);
  solar::Config config;
  std::string error;
  if (!solar::LoadConfig(config_path, &config, &error)) {
    std::fprintf(stderr, "solarctl: %s\n", error.c_str());
    return 1;
  }
  if (command == "status") return Status(config, admin);
  if (command == "reload") return Signal(config, SIGUSR1, "rolling reload");
  if (command == "reconfigure") return Signal(config, SIGHUP, "reconfigure and reload");
  if (command == "stop") return Stop(config);
  std::fprintf(stderr, "solarctl: unknown command \"%s\"\n", command.c_str());
  Usage(stderr);
  return 2;
}
