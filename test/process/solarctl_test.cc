// solarctl against a running and a stopped server; daemon mode; systemd's
// notify protocol.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <thread>

#include <gtest/gtest.h>

#include "server_harness.h"

namespace solar::testing {
namespace {

std::string CtlBin() {
  const char* e = std::getenv("SOLARCTL");
  return e ? e : "build/solarctl";
}

struct Out {
  int code;
  std::string text;
};

Out Shell(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  Out o{-1, ""};
  if (!p) return o;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) o.text.append(buf.data(), n);
  int st = pclose(p);
  o.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return o;
}

TEST(Solarctl, StatusShowsATableOfTheRunningProcesses) {
  ServerHarness server("workers: 2\n");
  ASSERT_TRUE(server.start()) << server.log();
  Out o = Shell(CtlBin() + " -c " + server.configPath() + " --admin 127.0.0.1:" + std::to_string(server.adminPort()) +
                " status");
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_NE(o.text.find("master pid " + std::to_string(server.pid()) + "  running"), std::string::npos) << o.text;
  EXPECT_NE(o.text.find("ROLE"), std::string::npos);
  EXPECT_NE(o.text.find(std::to_string(server.childPid("worker 1"))), std::string::npos) << o.text;
  EXPECT_EQ(server.stop(), 0);
}

TEST(Solarctl, ReloadReplacesTheWorkers) {
  ServerHarness server("workers: 1\n");
  ASSERT_TRUE(server.start()) << server.log();
  pid_t before = server.childPid("worker 0");
  Out o = Shell(CtlBin() + " -c " + server.configPath() + " reload");
  EXPECT_EQ(o.code, 0) << o.text;
  ASSERT_TRUE(server.waitForLog("reload (USR1) done", std::chrono::seconds(10)));
  EXPECT_NE(server.childPid("worker 0"), before);
  EXPECT_EQ(server.stop(), 0);
}

std::string AdminFlag(const ServerHarness& server) {
  return " --admin 127.0.0.1:" + std::to_string(server.adminPort());
}

TEST(Solarctl, FindsAMasterStartedInAnotherDirectoryThroughARelativePidFile) {
  // The server resolves pid_file against the directory it starts in; solarctl
  // runs from another one with the same config.
  ServerHarness server("workers: 1\npid_file: \"run/solar.pid\"\n");
  const std::string start = server.dir() + "/start", elsewhere = server.dir() + "/elsewhere";
  ASSERT_EQ(Shell("mkdir -p " + start + "/run " + elsewhere).code, 0);
  server.setWorkingDir(start);
  ASSERT_TRUE(server.start()) << server.log();
  const std::string ctl = "cd " + elsewhere + " && " + CtlBin() + " -c " + server.configPath();
  Out o = Shell(ctl + AdminFlag(server) + " reload");
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_NE(o.text.find("rolling reload done (pid " + std::to_string(server.pid())), std::string::npos) << o.text;
  // From the start directory the same relative path is found directly.
  o = Shell("cd " + start + " && " + CtlBin() + " -c " + server.configPath() + " --no-wait reload");
  EXPECT_EQ(o.code, 0) << o.text;
  o = Shell(ctl + " stop");
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_NE(o.text.find("stopped (pid "), std::string::npos) << o.text;
  EXPECT_EQ(server.wait(std::chrono::seconds(5)), 0);
  // Gone: the message says where it looked and why it could not look further.
  o = Shell(ctl + " stop");
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.text.find("no pid file at " + elsewhere + "/run/solar.pid; pid_file run/solar.pid is relative"),
            std::string::npos)
      << o.text;
}

TEST(Solarctl, ReloadWaitsAndFailsWithTheReasonWhenAReplacementCannotStart) {
  // Started as a service would be, stderr appended to a file: solarctl finds
  // the reason there (/proc/PID/fd/2). The harness only lends its temp dir.
  ServerHarness server;
  const std::string conf = server.dir() + "/fail.conf", out = server.dir() + "/server.log";
  const std::string flag = server.dir() + "/fail-start";
  std::ofstream(conf) << "listen: \"127.0.0.1:0\"\nadmin_listen: \"127.0.0.1:0\"\npid_file: \"" << server.pidFile()
                      << "\"\nstate_dir: \"" << server.dir() << "/state\"\nworkers: 2\n"
                      << "worker { name: \"builtin:debug\" }\n";
  const std::string env = "SOLAR_DEBUG_FAIL_START=" + flag + " ";
  ASSERT_EQ(Shell(env + SolarBin() + " -c " + conf + " >>" + out + " 2>&1 &").code, 0);
  struct StopAtEnd {
    std::string pid_file;
    ~StopAtEnd() {
      pid_t pid = 0;
      std::ifstream(pid_file) >> pid;
      if (pid > 0) kill(pid, SIGKILL);
    }
  } stop_at_end{server.pidFile()};
  std::string log;
  int admin = 0;
  for (int i = 0; i < 200 && admin == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream in(out);
    log.assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t at = log.find("; admin on 127.0.0.1:");
    if (at != std::string::npos) admin = std::atoi(log.c_str() + at + 21);
  }
  ASSERT_GT(admin, 0) << log;
  const std::string ctl = "cd / && " + CtlBin() + " -c " + conf + " --admin 127.0.0.1:" + std::to_string(admin);

  std::ofstream(flag) << "1";
  Out o = Shell(ctl + " reload");
  EXPECT_EQ(o.code, 1) << o.text;
  EXPECT_NE(o.text.find("rolling reload failed: the master stopped it"), std::string::npos) << o.text;
  EXPECT_NE(o.text.find("onStart failed: asked to fail: " + flag), std::string::npos) << o.text;
  EXPECT_NE(o.text.find("reload (USR1) stopped: the replacement for worker 0"), std::string::npos) << o.text;
  // The cause gone, the same command succeeds.
  unlink(flag.c_str());
  o = Shell(ctl + " reload");
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_NE(o.text.find("rolling reload done"), std::string::npos) << o.text;
  o = Shell(ctl + " stop");
  EXPECT_EQ(o.code, 0) << o.text;
}

TEST(Solarctl, ReconfigureRefusesABadFileWithoutSignallingTheMaster) {
  ServerHarness server("workers: 1\n");
  ASSERT_TRUE(server.start()) << server.log();
  const std::string ctl = CtlBin() + " -c " + server.configPath() + AdminFlag(server);
  Out o = Shell(ctl + " reconfigure");
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_NE(o.text.find("reconfigure and reload done"), std::string::npos) << o.text;
  // A worker the check cannot load: solar -t says why, no HUP is sent.
  std::ifstream in(server.configPath());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t at = text.find("builtin:echo");
  ASSERT_NE(at, std::string::npos) << text;
  std::ofstream(server.configPath()) << text.replace(at, 12, "builtin:nope");
  Out bad = Shell(ctl + " reconfigure");
  EXPECT_EQ(bad.code, 1) << bad.text;
  EXPECT_NE(bad.text.find("builtin:nope"), std::string::npos) << bad.text;
  EXPECT_NE(bad.text.find("was not signalled"), std::string::npos) << bad.text;
  const std::string log = server.log();
  const size_t first = log.find("HUP: configuration re-read");
  ASSERT_NE(first, std::string::npos) << log;
  EXPECT_EQ(log.find("HUP: configuration re-read", first + 1), std::string::npos) << "a second HUP came: " << log;
  EXPECT_EQ(server.stop(), 0);
}

// For a load balancer (HAProxy `option httpchk GET /health`): 200 while the
// server takes new connections; after `solarctl drain`, 503 while it still
// serves every connection, old and new, until it is stopped.
TEST(Solarctl, DrainTurnsHealthTo503AndTheServerKeepsServing) {
  ServerHarness server;
  ASSERT_TRUE(server.start()) << server.log();
  int status = 0;
  EXPECT_EQ(HttpGet(server.adminPort(), "/health", &status), "serving\n");
  EXPECT_EQ(status, 200);
  int before = ConnectTcp(server.port());
  ASSERT_GE(before, 0);
  Out o = Shell(CtlBin() + " -c " + server.configPath() + " --admin 127.0.0.1:" +
                std::to_string(server.adminPort()) + " drain");
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_NE(o.text.find("draining (pid " + std::to_string(server.pid()) + ")"), std::string::npos) << o.text;
  EXPECT_EQ(HttpGet(server.adminPort(), "/health", &status), "draining\n");
  EXPECT_EQ(status, 503);
  EXPECT_NE(HttpGet(server.adminPort(), "/metrics", &status).find("\nsolar_draining 1\n"), std::string::npos);
  std::string reply;
  ASSERT_TRUE(WriteAll(before, Frame32("old")) && ReadFrame32(before, &reply));
  EXPECT_EQ(reply, "old");
  int after = ConnectTcp(server.port());  // still accepted: the balancer decides where new ones go
  ASSERT_GE(after, 0);
  ASSERT_TRUE(WriteAll(after, Frame32("new")) && ReadFrame32(after, &reply));
  EXPECT_EQ(reply, "new");
  // A rolling reload does not end the drain.
  o = Shell(CtlBin() + " -c " + server.configPath() + " reload");
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_EQ(HttpGet(server.adminPort(), "/health", &status), "draining\n");
  EXPECT_EQ(status, 503);
  close(before);
  close(after);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Solarctl, HealthSays503StoppingWhileAGracefulStopDrains) {
  ServerHarness server("worker { name: \"builtin:debug\" }\n");
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(WriteAll(fd, Frame32("sleep:1500")));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_EQ(kill(server.pid(), SIGTERM), 0);
  // The listeners drain the request in flight; the admin endpoint answers
  // the balancer's checks with 503 meanwhile instead of refusing them.
  int status = 0;
  std::string body;
  for (int i = 0; i < 50 && status != 503; ++i) {
    body = HttpGet(server.adminPort(), "/health", &status);
    if (status != 503) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(status, 503);
  EXPECT_EQ(body, "stopping\n");
  std::string reply;
  ASSERT_TRUE(ReadFrame32(fd, &reply));
  EXPECT_EQ(reply, "slept:1500");
  close(fd);
  EXPECT_EQ(server.wait(std::chrono::seconds(10)), 0);
}

TEST(Solarctl, StopWaitsUntilTheServerIsGone) {
  ServerHarness server;
  ASSERT_TRUE(server.start()) << server.log();
  const pid_t master = server.pid();
  Out o = Shell(CtlBin() + " -c " + server.configPath() + " stop");
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_NE(o.text.find("stopped (pid " + std::to_string(master) + ")"), std::string::npos);
  EXPECT_EQ(server.wait(std::chrono::seconds(5)), 0);
}

TEST(Solarctl, ClearErrorsWhenTheServerIsNotRunning) {
  ServerHarness server;  // never started: no pid file
  std::ofstream(server.configPath()) << "pid_file: \"" << server.pidFile() << "\"\nadmin_listen: \"127.0.0.1:1\"\n";
  for (const char* cmd : {"stop", "reload", "status"}) {
    Out o = Shell(CtlBin() + " -c " + server.configPath() + " " + cmd);
    EXPECT_EQ(o.code, 1) << cmd;
    EXPECT_NE(o.text.find("solar is not running (no pid file at " + server.pidFile() + ")"), std::string::npos)
        << cmd << ": " << o.text;
  }
  std::ofstream(server.pidFile()) << "999999\n";
  Out o = Shell(CtlBin() + " -c " + server.configPath() + " stop");
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.text.find("names pid 999999, which is gone"), std::string::npos) << o.text;
}

TEST(Solarctl, CheckRunsTheConfigTest) {
  ServerHarness server;
  std::ofstream(server.configPath()) << "workers: 0\n";
  Out bad = Shell(CtlBin() + " -c " + server.configPath() + " check");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.text.find(server.configPath() + ":1:1: workers must be"), std::string::npos) << bad.text;
  std::ofstream(server.configPath()) << "workers: 3\n";
  Out good = Shell(CtlBin() + " -c " + server.configPath() + " check");
  EXPECT_EQ(good.code, 0) << good.text;
}

TEST(Daemon, DetachesServesAndStopsCleanly) {
  ServerHarness server;  // for its temp dir
  const std::string conf = server.dir() + "/daemon.conf";
  std::ofstream(conf) << "listen: \"127.0.0.1:0\"\nadmin_listen: \"\"\npid_file: \"" << server.pidFile()
                      << "\"\ndaemonize: true\nlog_dir: \"" << server.dir() << "/log\"\n"
                      << "worker { name: \"builtin:echo\" }\n";
  auto t0 = std::chrono::steady_clock::now();
  Out o = Shell(SolarBin() + " -c " + conf);
  EXPECT_EQ(o.code, 0) << o.text;  // returns only once the server is ready
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  std::ifstream in(server.pidFile());
  pid_t pid = 0;
  in >> pid;
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(ProcessExists(pid));
  EXPECT_EQ(getsid(pid), pid) << "the daemon leads its own session";
  // Logs go to log_dir through glog.
  Out logs = Shell("cat " + server.dir() + "/log/solar.INFO");
  EXPECT_NE(logs.text.find("ready: listening on 127.0.0.1:"), std::string::npos) << logs.text;
  Out stop = Shell(CtlBin() + " -c " + conf + " stop");
  EXPECT_EQ(stop.code, 0) << stop.text;
  EXPECT_FALSE(ProcessExists(pid));
  EXPECT_NE(access(server.pidFile().c_str(), F_OK), 0) << "pid file left behind";
}

TEST(Daemon, FailedStartExitsNonZeroInTheForeground) {
  ServerHarness server;
  const std::string conf = server.dir() + "/daemon.conf";
  // Port 1 needs no privilege check to fail for a non-root, but as root it
  // binds; use an address this host does not have instead.
  std::ofstream(conf) << "listen: \"192.0.2.1:7\"\nadmin_listen: \"\"\npid_file: \"" << server.pidFile()
                      << "\"\ndaemonize: true\nlog_dir: \"" << server.dir() << "/log\"\n";
  Out o = Shell(SolarBin() + " -c " + conf);
  EXPECT_EQ(o.code, 1) << o.text;
  EXPECT_NE(o.text.find("failed to start"), std::string::npos) << o.text;
}

TEST(Daemon, WorkerThatNeverStartsDoesNotHangTheForeground) {
  ServerHarness server;
  const std::string conf = server.dir() + "/daemon.conf";
  const std::string flag = server.dir() + "/fail-start";
  std::ofstream(flag) << "1";
  std::ofstream(conf) << "listen: \"127.0.0.1:0\"\nadmin_listen: \"\"\npid_file: \"" << server.pidFile()
                      << "\"\ndaemonize: true\nlog_dir: \"" << server.dir() << "/log\"\n"
                      << "worker { name: \"builtin:debug\" }\nreload_start_timeout_ms: 1000\n";
  auto t0 = std::chrono::steady_clock::now();
  Out o = Shell("SOLAR_DEBUG_FAIL_START=" + flag + " " + SolarBin() + " -c " + conf);
  EXPECT_EQ(o.code, 1) << o.text;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_NE(o.text.find("not ready after 1000 ms"), std::string::npos) << o.text;
  // It keeps trying in the background; stop it.
  std::ifstream in(server.pidFile());
  pid_t pid = 0;
  in >> pid;
  ASSERT_GT(pid, 0);
  Out stop = Shell(CtlBin() + " -c " + conf + " stop");
  EXPECT_EQ(stop.code, 0) << stop.text;
  EXPECT_FALSE(ProcessExists(pid));
}

TEST(Systemd, NotifiesReadyReloadingAndStopping) {
  const std::string path = "/tmp/solar-notify-" + std::to_string(getpid());
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  unlink(path.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setenv("NOTIFY_SOCKET", path.c_str(), 1);
  ServerHarness server("workers: 1\n");
  bool started = server.start();
  unsetenv("NOTIFY_SOCKET");
  ASSERT_TRUE(started) << server.log();
  auto next = [&] {
    char buf[512];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("<timeout>");
  };
  EXPECT_EQ(next(), "READY=1");
  kill(server.pid(), SIGHUP);
  EXPECT_EQ(next(), "RELOADING=1");
  EXPECT_EQ(next(), "READY=1");  // after the HUP's rolling reload
  kill(server.pid(), SIGTERM);
  EXPECT_EQ(next(), "STOPPING=1");
  EXPECT_EQ(server.wait(std::chrono::seconds(10)), 0);
  close(fd);
  unlink(path.c_str());
}

}  // namespace
}  // namespace solar::testing
