// Limits the master enforces, the admin endpoint, and HUP.
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "server_harness.h"

namespace solar::testing {
namespace {

std::string Echo(int fd, const std::string& msg) {
  std::string reply;
  if (!WriteAll(fd, Frame32(msg)) || !ReadFrame32(fd, &reply)) return "<no reply>";
  return reply;
}

uint64_t JsonNumber(const std::string& json, const std::string& key) {
  std::smatch m;
  std::regex re("\"" + key + "\":([0-9]+)");
  return std::regex_search(json, m, re) ? std::stoull(m[1]) : 0;
}

TEST(Limits, WorkerStuckPastRequestTimeoutIsKilledAndOnlyItsClientClosed) {
  ServerHarness server("workers: 2\nrequest_timeout_ms: 500\nworker { name: \"builtin:debug\" }\n");
  ASSERT_TRUE(server.start()) << server.log();
  int stuck = ConnectTcp(server.port());
  int other = ConnectTcp(server.port());  // round-robin: the other worker
  const pid_t stuck_worker = static_cast<pid_t>(std::stol(Echo(stuck, "pid")));
  ASSERT_TRUE(WriteAll(stuck, Frame32("sleep:30000")));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(WaitClosed(stuck, 5000)) << "the client of a stuck worker was left hanging";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  EXPECT_EQ(Echo(other, "fine"), "fine");
  EXPECT_TRUE(server.waitForLog("in one request (request_timeout_ms 500) from 127.0.0.1:", std::chrono::seconds(2)))
      << server.log();
  EXPECT_NE(server.log().find("(pid " + std::to_string(stuck_worker) + ") has spent"), std::string::npos);
  int status = 0;
  std::string json = HttpGet(server.adminPort(), "/status", &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(JsonNumber(json, "request_timeouts"), 1u) << json;
  close(stuck);
  close(other);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Limits, MaxRequestsRecyclesTheWorkerWithoutFailingARequest) {
  ServerHarness server("workers: 1\nmax_requests: 100\nmax_requests_jitter: 0\nworker { name: \"builtin:debug\" }\n");
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  std::set<std::string> pids;
  // Paced, so the master's 100 ms heartbeat sees each worker ask to be replaced.
  for (int i = 0; i < 400; ++i) {
    std::string r = Echo(fd, i % 10 == 0 ? "pid" : "x" + std::to_string(i));
    if (i % 10 == 0) pids.insert(r);
    else ASSERT_EQ(r, "x" + std::to_string(i)) << "request " << i << " failed";
    if (i % 25 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(40));
  }
  // Recycling runs in the background: wait until /status shows it.
  int status = 0;
  std::string json;
  for (int i = 0; i < 100; ++i) {
    json = HttpGet(server.adminPort(), "/status", &status);
    if (JsonNumber(json, "recycles") >= 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GE(JsonNumber(json, "recycles"), 2u) << json;
  EXPECT_GE(pids.size(), 2u) << "requests should have met more than one worker process";
  EXPECT_NE(server.log().find("(max_requests); asking to be replaced"), std::string::npos);
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Limits, WorkerOverMaxRssIsReplaced) {
  ServerHarness server("workers: 1\nmax_rss_mb: 64\nworker { name: \"builtin:debug\" }\n");
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  const std::string before = Echo(fd, "pid");
  EXPECT_EQ(Echo(fd, "alloc:100"), "allocated:100");
  ASSERT_TRUE(server.waitForLog("(max_rss_mb 64); replacing it", std::chrono::seconds(5))) << server.log();
  std::string after;
  for (int i = 0; i < 100 && (after = Echo(fd, "pid")) == before; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_NE(after, before) << "the same connection should now reach the replacement";
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Admin, MetricsIsValidPrometheusText) {
  ServerHarness server("workers: 2\n");
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  for (int i = 0; i < 10; ++i) Echo(fd, "m");
  int status = 0;
  std::string body = HttpGet(server.adminPort(), "/metrics", &status);
  ASSERT_EQ(status, 200);
  static const std::regex kHelp(R"(# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*)");
  static const std::regex kType(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
  static const std::regex kSample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")*\})? -?[0-9]+(\.[0-9]+)?)");
  std::set<std::string> typed;
  std::istringstream in(body);
  std::string line;
  int samples = 0;
  uint64_t requests = 0;
  while (std::getline(in, line)) {
    std::smatch m;
    if (line.rfind("# HELP", 0) == 0) {
      EXPECT_TRUE(std::regex_match(line, kHelp)) << line;
    } else if (line.rfind("# TYPE", 0) == 0) {
      ASSERT_TRUE(std::regex_match(line, m, kType)) << line;
      EXPECT_TRUE(typed.insert(m[1]).second) << "TYPE given twice for " << m[1];
    } else {
      ASSERT_TRUE(std::regex_match(line, m, kSample)) << "not a sample line: " << line;
      EXPECT_TRUE(typed.count(m[1])) << "sample before its TYPE: " << line;
      ++samples;
      if (line.rfind("solar_requests_total{role=\"worker\"", 0) == 0) requests += std::stoull(line.substr(line.rfind(' ')));
    }
  }
  EXPECT_GT(samples, 20);
  EXPECT_EQ(requests, 10u);
  EXPECT_NE(body.find("solar_up 1"), std::string::npos);
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Admin, BytesQueuedForABusyWorkerShowInTheListenersGauge) {
  ServerHarness server("workers: 1\nworker { name: \"builtin:debug\" }\n");
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  ASSERT_TRUE(WriteAll(fd, Frame32("sleep:1500")));
  // More than the socketpair holds (4 MiB send buffer): the rest waits in the listener.
  const std::string big(1 << 20, 'q');
  std::thread writer([&] {
    for (int i = 0; i < 10; ++i) WriteAll(fd, Frame32(big));
  });
  static const std::regex kGauge(R"(solar_queued_to_worker_bytes\{role="listener"[^}]*\} ([0-9]+))");
  uint64_t queued = 0;
  for (int i = 0; i < 50 && queued == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    int status = 0;
    std::string body = HttpGet(server.adminPort(), "/metrics", &status);
    std::smatch m;
    if (std::regex_search(body, m, kGauge)) queued = std::stoull(m[1]);
  }
  EXPECT_GT(queued, 0u) << "the listener holds requests for its sleeping worker";
  std::string reply;
  ASSERT_TRUE(ReadFrame32(fd, &reply, 10000));
  EXPECT_EQ(reply, "slept:1500");
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(ReadFrame32(fd, &reply, 10000)) << i;
  writer.join();
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Admin, StatusListsEveryProcessWithRoleStateAndCounters) {
  ServerHarness server("workers: 2\nlisteners: 2\n");
  ASSERT_TRUE(server.start()) << server.log();
  int status = 0;
  std::string json = HttpGet(server.adminPort(), "/status", &status);
  ASSERT_EQ(status, 200);
  EXPECT_EQ(JsonNumber(json, "pid"), static_cast<uint64_t>(server.pid()));
  for (const char* role : {"listener", "worker", "admin"}) {
    EXPECT_NE(json.find(std::string("\"role\":\"") + role + "\""), std::string::npos) << role;
  }
  for (pid_t kid : server.children()) {
    EXPECT_NE(json.find("\"pid\":" + std::to_string(kid) + ","), std::string::npos) << kid;
  }
  EXPECT_NE(json.find("\"state\":\"idle\""), std::string::npos);
  std::string missing = HttpGet(server.adminPort(), "/nope", &status);
  EXPECT_EQ(status, 404);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Hup, ChangesTheWorkerCountLive) {
  ServerHarness server("workers: 2\n");
  ASSERT_TRUE(server.start()) << server.log();
  const std::string conf = server.configPath();
  std::string text;
  {
    std::ifstream in(conf);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  auto rewrite = [&](const std::string& workers) {
    std::ofstream(conf) << std::regex_replace(text, std::regex("workers: 2"), "workers: " + workers);
  };
  rewrite("4");
  kill(server.pid(), SIGHUP);
  ASSERT_GT(server.waitRespawn("worker 3", -1, std::chrono::seconds(10)), 0) << server.log();
  ASSERT_TRUE(server.waitForLog("reload (HUP) done", std::chrono::seconds(10))) << server.log();
  // New connections reach the new slots.
  std::vector<int> fds;
  for (int i = 0; i < 8; ++i) {
    fds.push_back(ConnectTcp(server.port()));
    EXPECT_EQ(Echo(fds.back(), "hi"), "hi");
  }
  int status = 0;
  std::string json = HttpGet(server.adminPort(), "/status", &status);
  EXPECT_EQ(JsonNumber(json, "active_workers"), 4u);
  // Down to 1: workers 1..3 retire once their connections close.
  size_t log_mark = server.log().size();
  rewrite("1");
  kill(server.pid(), SIGHUP);
  ASSERT_TRUE(server.waitForLog("worker 3 will retire", std::chrono::seconds(10), log_mark)) << server.log();
  EXPECT_GT(server.childPid("worker 3"), 0) << "it must keep serving its open connections";
  EXPECT_EQ(Echo(fds[3], "still"), "still");
  for (int fd : fds) close(fd);
  for (int i = 0; i < 200 && server.childPid("worker 3") > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(server.childPid("worker 1"), -1);
  EXPECT_EQ(server.childPid("worker 3"), -1);
  EXPECT_GT(server.childPid("worker 0"), 0);
  int fd = ConnectTcp(server.port());
  EXPECT_EQ(Echo(fd, "one left"), "one left");
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Hup, TheMasterKeepsSupervisingWhileTheNewConfigurationIsChecked) {
  // The new worker's check (its onCheck, here 3 s) runs in a child the
  // master watches: meanwhile a killed worker is respawned at once and
  // request_timeout still fires; the HUP applies when the check passes.
  ServerHarness server("workers: 2\nrequest_timeout_ms: 500\nworker { name: \"builtin:debug\" }\n");
  ASSERT_TRUE(server.start()) << server.log();
  const std::string conf = server.configPath();
  std::string text;
  {
    std::ifstream in(conf);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::ofstream(conf) << std::regex_replace(
      text, std::regex("worker \\{ name: \"builtin:debug\" \\}"),
      "worker { name: \"builtin:debug\" settings { key: \"check_ms\" value: \"3000\" } }");
  const size_t mark = server.log().size();
  const auto hup = std::chrono::steady_clock::now();
  kill(server.pid(), SIGHUP);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the check is running

  const pid_t old = server.childPid("worker 0");
  ASSERT_GT(old, 0);
  kill(old, SIGKILL);
  EXPECT_GT(server.waitRespawn("worker 0", old, std::chrono::seconds(2)), 0) << server.log();
  const int fd = ConnectTcp(server.port());
  ASSERT_TRUE(WriteAll(fd, Frame32("sleep:5000")));
  EXPECT_TRUE(WaitClosed(fd, 2000)) << "request_timeout_ms did not fire during the check";
  EXPECT_TRUE(server.waitForLog("in one request (request_timeout_ms 500)", std::chrono::seconds(2), mark))
      << server.log();
  close(fd);
  EXPECT_LT(std::chrono::steady_clock::now() - hup, std::chrono::milliseconds(2800))
      << "all of that happened while the check was still running";
  EXPECT_FALSE(server.waitForLog("reload (HUP) done", std::chrono::milliseconds(1), mark));

  ASSERT_TRUE(server.waitForLog("reload (HUP) done", std::chrono::seconds(15), mark)) << server.log();
  EXPECT_GE(std::chrono::steady_clock::now() - hup, std::chrono::milliseconds(3000));
  const int after = ConnectTcp(server.port());
  EXPECT_EQ(Echo(after, "applied"), "applied");
  close(after);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Hup, AStopDuringTheCheckIsNotHeldUpByIt) {
  ServerHarness server("workers: 1\nworker { name: \"builtin:debug\" }\n");
  ASSERT_TRUE(server.start()) << server.log();
  std::string text;
  {
    std::ifstream in(server.configPath());
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::ofstream(server.configPath()) << std::regex_replace(
      text, std::regex("worker \\{ name: \"builtin:debug\" \\}"),
      "worker { name: \"builtin:debug\" settings { key: \"check_ms\" value: \"20000\" } }");
  kill(server.pid(), SIGHUP);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(server.stop(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_EQ(server.log().find("reload (HUP) done"), std::string::npos);
}

TEST(Hup, ChangesTheUdpWorkerCountLive) {
  ServerHarness server("udp { listen: \"127.0.0.1:0\" workers: 1 queue_key: " +
                       std::to_string(0x54000000 + getpid() % 0xffff) + " }\n");
  ASSERT_TRUE(server.start()) << server.log();
  std::string text;
  {
    std::ifstream in(server.configPath());
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::ofstream(server.configPath()) << std::regex_replace(text, std::regex("workers: 1"), "workers: 3");
  kill(server.pid(), SIGHUP);
  ASSERT_GT(server.waitRespawn("udp_worker 2", -1, std::chrono::seconds(10)), 0) << server.log();
  ASSERT_TRUE(server.waitForLog("reload (HUP) done", std::chrono::seconds(10)));
  size_t mark = server.log().size();
  std::ofstream(server.configPath()) << text;  // back to 1
  kill(server.pid(), SIGHUP);
  ASSERT_TRUE(server.waitForLog("reload (HUP) done", std::chrono::seconds(10), mark)) << server.log();
  for (int i = 0; i < 200 && (server.childPid("udp_worker 1") > 0 || server.childPid("udp_worker 2") > 0); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(server.childPid("udp_worker 1"), -1) << "an idle UDP worker blocked in msgrcv must still retire";
  EXPECT_EQ(server.childPid("udp_worker 2"), -1);
  EXPECT_GT(server.childPid("udp_worker 0"), 0);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Hup, RestartOnlyFieldIsRefusedByNameAndTheRestApplies) {
  ServerHarness server("workers: 1\nmax_connections: 100\n");
  ASSERT_TRUE(server.start()) << server.log();
  {
    std::ofstream out(server.configPath(), std::ios::app);
    out << "listeners: 3\n";  // restart only
  }
  // Replace max_connections (live) in place.
  std::string text;
  {
    std::ifstream in(server.configPath());
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::ofstream(server.configPath()) << std::regex_replace(text, std::regex("max_connections: 100"), "max_connections: 1");
  kill(server.pid(), SIGHUP);
  ASSERT_TRUE(server.waitForLog("HUP: listeners changed (1 -> 3) but needs a restart; keeping 1",
                                std::chrono::seconds(10)))
      << server.log();
  ASSERT_TRUE(server.waitForLog("reload (HUP) done", std::chrono::seconds(10)));
  EXPECT_EQ(server.childPid("listener 1"), -1);
  int a = ConnectTcp(server.port());
  EXPECT_EQ(Echo(a, "first"), "first");
  int b = ConnectTcp(server.port());  // over the new max_connections
  EXPECT_TRUE(WaitClosed(b, 5000));
  close(a);
  close(b);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Hup, BrokenConfigIsRefusedAndNothingChanges) {
  ServerHarness server("workers: 2\n");
  ASSERT_TRUE(server.start()) << server.log();
  pid_t w0 = server.childPid("worker 0");
  std::ofstream(server.configPath(), std::ios::app) << "workers: {\n";
  kill(server.pid(), SIGHUP);
  ASSERT_TRUE(server.waitForLog("HUP: the new configuration is refused, nothing changed: " + server.configPath() + ":",
                                std::chrono::seconds(5)))
      << server.log();
  EXPECT_EQ(server.childPid("worker 0"), w0);
  int fd = ConnectTcp(server.port());
  EXPECT_EQ(Echo(fd, "ok"), "ok");
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace solar::testing
