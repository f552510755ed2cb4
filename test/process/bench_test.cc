// solar-bench end to end: the real binary against the real server, and against
// small loopback servers in this process that misbehave on purpose (corrupt,
// close, stay silent), so that each kind of failure is shown to be caught.
// Every run is bounded: -d of 1-2 s, or -n, and a hard kill at 30 s.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "server_harness.h"

namespace solar::testing {
namespace {

struct BenchRun {
  int exit_code = -1;  // -1: killed at the time limit
  std::string out;
  std::string err;
  std::string json;
};

std::string ReadFileText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs solar-bench with `args` plus --json to a temp file; kills it after
// `limit`. stdout and stderr go to temp files (no pipe to fill up).
BenchRun RunBenchTool(std::vector<std::string> args,
                      std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  char dir_template[] = "/tmp/solar-bench-test-XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  const std::string out_path = dir + "/out", err_path = dir + "/err", json_path = dir + "/result.json";
  args.insert(args.begin(), {"--json", json_path});
  const std::string bin = BenchBin();
  const pid_t pid = fork();
  if (pid == 0) {
    if (!freopen(out_path.c_str(), "w", stdout) || !freopen(err_path.c_str(), "w", stderr)) _exit(126);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(bin.c_str()));
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  BenchRun run;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      status = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (status != -1 && WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  run.out = ReadFileText(out_path);
  run.err = ReadFileText(err_path);
  run.json = ReadFileText(json_path);
  [[maybe_unused]] int rc = std::system(("rm -rf '" + dir + "'").c_str());
  return run;
}

// The number after "key": in solar-bench's JSON (one field per line); -1 if absent.
double JsonNumber(const std::string& json, const std::string& key) {
  const std::string needle = "\"" + key + "\": ";
  const size_t at = json.find(needle);
  return at == std::string::npos ? -1 : std::strtod(json.c_str() + at + needle.size(), nullptr);
}

std::string Target(int port) { return "127.0.0.1:" + std::to_string(port); }

// A one-thread loopback server with a chosen (mis)behaviour. Stops and joins
// in its destructor.
class LoopbackServer {
 public:
  enum class Behaviour {
    kEcho,            // TCP: every byte back as it came (what --proto raw drives)
    kCorruptFrame32,  // TCP: each frame32 request back with one payload bit flipped
    kCloseOnRequest,  // TCP: close the connection when a request arrives
    kSilent,          // TCP: read everything, answer nothing
    kUdpEcho,         // UDP: every datagram back to its sender
  };

  explicit LoopbackServer(Behaviour behaviour) : behaviour_(behaviour) {
    const bool udp = behaviour == Behaviour::kUdpEcho;
    listen_fd_ = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || (!udp && listen(listen_fd_, 128) != 0) ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0 || pipe2(wake_, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "loopback server setup failed: " << strerror(errno);
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }

  ~LoopbackServer() {
    if (thread_.joinable()) {
      [[maybe_unused]] ssize_t n = write(wake_[1], "x", 1);
      thread_.join();
    }
    for (auto& c : clients_) close(c.fd);
    for (int fd : {listen_fd_, wake_[0], wake_[1]}) {
      if (fd >= 0) close(fd);
    }
  }

  int port() const { return port_; }

 private:
  struct Conn {
    int fd;
    std::string in;
  };

  void run() {
    for (;;) {
      std::vector<pollfd> fds = {{wake_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
      for (const Conn& c : clients_) fds.push_back({c.fd, POLLIN, 0});
      if (poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) return;
      if (fds[0].revents != 0) return;
      if (fds[1].revents & POLLIN) onListenReadable();
      // Back to front, so that erasing a closed connection keeps the indexes.
      for (size_t i = fds.size(); i-- > 2;) {
        if (fds[i].revents != 0 && !onClientReadable(clients_[i - 2])) {
          close(clients_[i - 2].fd);
          clients_.erase(clients_.begin() + static_cast<long>(i - 2));
        }
      }
    }
  }

  void onListenReadable() {
    if (behaviour_ == Behaviour::kUdpEcho) {
      char buf[65536];
      sockaddr_storage from{};
      socklen_t len = sizeof(from);
      const ssize_t n = recvfrom(listen_fd_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n >= 0) sendto(listen_fd_, buf, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), len);
      return;
    }
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) clients_.push_back({fd, ""});
  }

  // False when the connection should be closed.
  bool onClientReadable(Conn& c) {
    char buf[65536];
    const ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
    if (n <= 0) return false;
    switch (behaviour_) {
      case Behaviour::kEcho:
        return send(c.fd, buf, static_cast<size_t>(n), MSG_NOSIGNAL) == n;
      case Behaviour::kCloseOnRequest:
        return false;
      case Behaviour::kSilent:
        return true;
      case Behaviour::kCorruptFrame32:
        c.in.append(buf, static_cast<size_t>(n));
        while (c.in.size() >= 4) {
          const auto* p = reinterpret_cast<const unsigned char*>(c.in.data());
          const size_t len = (size_t{p[0]} << 24) | (size_t{p[1]} << 16) | (size_t{p[2]} << 8) | p[3];
          if (c.in.size() < 4 + len) break;
          std::string frame = c.in.substr(0, 4 + len);
          c.in.erase(0, 4 + len);
          if (len > 0) frame[4 + len / 2] ^= 0x01;
          if (send(c.fd, frame.data(), frame.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(frame.size())) return false;
        }
        return true;
      case Behaviour::kUdpEcho:
        break;
    }
    return false;
  }

  const Behaviour behaviour_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  int port_ = 0;
  std::vector<Conn> clients_;  // used by thread_ only
  std::thread thread_;
};

// --- against solar ---

TEST(BenchAgainstSolar, EchoRunHasNoErrorsAndANonZeroRate) {
  ServerHarness server("workers: 2\n");
  ASSERT_TRUE(server.start()) << server.log();
  const BenchRun run =
      RunBenchTool({"-c", "8", "-t", "2", "-P", "2", "-s", "1-1500", "-d", "2s", "-w", "200ms", Target(server.port())});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(JsonNumber(run.json, "total"), 0) << run.json;
  EXPECT_GT(JsonNumber(run.json, "requests"), 0) << run.json;
  EXPECT_GT(JsonNumber(run.json, "requests_per_second"), 0) << run.json;
  EXPECT_GT(JsonNumber(run.json, "p50"), 0) << run.json;
  EXPECT_NE(run.out.find("Errors     0  (connect 0, closed 0, timeout 0, mismatch 0, error 0)"), std::string::npos) << run.out;
  EXPECT_EQ(server.stop(), 0) << server.log();
}

TEST(BenchAgainstSolar, LineProtocolEchoHasNoErrors) {
  ServerHarness server("protocol: LINE\n");
  ASSERT_TRUE(server.start()) << server.log();
  const BenchRun run = RunBenchTool({"--proto", "line", "-c", "4", "-P", "4", "-s", "1-2000", "-d", "1s",
                                     Target(server.port())});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(JsonNumber(run.json, "total"), 0) << run.json;
  EXPECT_GT(JsonNumber(run.json, "requests"), 0) << run.json;
  EXPECT_EQ(server.stop(), 0) << server.log();
}

TEST(BenchAgainstSolar, OpenLoopHoldsTheRequestedRate) {
  ServerHarness server;
  ASSERT_TRUE(server.start()) << server.log();
  const BenchRun run = RunBenchTool({"-R", "2000", "-c", "4", "-d", "2s", Target(server.port())});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  // 2 s at 2,000/s: 4,000 requests scheduled, all due inside the window.
  EXPECT_NEAR(JsonNumber(run.json, "requests"), 4000, 40) << run.json;
  EXPECT_NEAR(JsonNumber(run.json, "requests_per_second"), 2000, 50) << run.json;
  EXPECT_EQ(server.stop(), 0) << server.log();
}

TEST(BenchAgainstSolar, RequestCountEndsTheRunWithExactlyThatMany) {
  ServerHarness server;
  ASSERT_TRUE(server.start()) << server.log();
  const BenchRun run = RunBenchTool({"-n", "5000", "-c", "5", "-P", "4", Target(server.port())});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(JsonNumber(run.json, "requests"), 5000) << run.json;
  EXPECT_EQ(server.stop(), 0) << server.log();
}

TEST(BenchAgainstSolar, UdpEchoHasNoErrors) {
  ServerHarness server("udp { listen: \"127.0.0.1:0\" workers: 2 }\n");
  ASSERT_TRUE(server.start()) << server.log();
  std::smatch m;
  const std::string log = server.log();
  ASSERT_TRUE(std::regex_search(log, m, std::regex("udp on 127\\.0\\.0\\.1:([0-9]+)"))) << log;
  const BenchRun run =
      RunBenchTool({"--proto", "udp", "-c", "4", "-P", "2", "-s", "1-1400", "-d", "1s", "127.0.0.1:" + m[1].str()});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(JsonNumber(run.json, "total"), 0) << run.json;
  EXPECT_GT(JsonNumber(run.json, "requests"), 0) << run.json;
  EXPECT_EQ(server.stop(), 0) << server.log();
}

// The server freezes for 600 ms in the middle of a 2 s run. The closed loop
// sends nothing while it waits, so only one request per connection sees the
// freeze; the open loop keeps its schedule, and every request that fell due
// during the freeze is timed from its due time: about 30% of them are late.
TEST(BenchAgainstSolar, OpenLoopLatencyShowsAServerStallThatTheClosedLoopHides) {
  ServerHarness server;
  ASSERT_TRUE(server.start()) << server.log();
  const std::vector<pid_t> children = server.children();
  ASSERT_FALSE(children.empty());
  auto run_with_stall = [&](std::vector<std::string> args) {
    std::thread freezer([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(700));
      for (pid_t pid : children) kill(pid, SIGSTOP);
      std::this_thread::sleep_for(std::chrono::milliseconds(600));
      for (pid_t pid : children) kill(pid, SIGCONT);
    });
    BenchRun run = RunBenchTool(args);
    freezer.join();
    return run;
  };
  const std::string target = Target(server.port());
  const BenchRun open = run_with_stall({"-R", "1000", "-c", "10", "-d", "2s", target});
  const BenchRun closed = run_with_stall({"-c", "10", "-d", "2s", target});

  EXPECT_EQ(open.exit_code, 0) << open.out << open.err;
  EXPECT_EQ(closed.exit_code, 0) << closed.out << closed.err;
  // Both saw the freeze in their worst request.
  EXPECT_GT(JsonNumber(open.json, "max"), 400'000) << open.json;
  EXPECT_GT(JsonNumber(closed.json, "max"), 400'000) << closed.json;
  // Only the open loop shows it at p90: ~30% of its requests were due during it.
  EXPECT_GT(JsonNumber(open.json, "p90"), 100'000) << open.json;
  EXPECT_LT(JsonNumber(closed.json, "p90"), 50'000) << closed.json;
  EXPECT_EQ(server.stop(), 0) << server.log();
}

// --- failures are caught ---

TEST(BenchErrors, CorruptedRepliesAreCountedAsMismatchesAndFailTheRun) {
  LoopbackServer server(LoopbackServer::Behaviour::kCorruptFrame32);
  const BenchRun run = RunBenchTool({"-c", "2", "-P", "2", "-d", "1s", Target(server.port())});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_GT(JsonNumber(run.json, "mismatch"), 100) << run.json;  // every reply, and there are many
  EXPECT_EQ(JsonNumber(run.json, "requests"), 0) << run.json;    // none passed
  EXPECT_EQ(JsonNumber(run.json, "closed"), 0) << run.json;
  EXPECT_EQ(JsonNumber(run.json, "timeout"), 0) << run.json;
}

TEST(BenchErrors, RefusedConnectionsAreCountedAndFailTheRun) {
  int port = 0;
  {
    LoopbackServer gone(LoopbackServer::Behaviour::kSilent);  // a port that was free a moment ago
    port = gone.port();
  }
  const BenchRun run = RunBenchTool({"-c", "3", "-d", "2s", Target(port)}, std::chrono::seconds(10));
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_EQ(JsonNumber(run.json, "connect"), 3) << run.json;  // one per connection, not retried
  EXPECT_EQ(JsonNumber(run.json, "requests"), 0) << run.json;
}

TEST(BenchErrors, ServerClosingConnectionsIsCountedAsClosed) {
  LoopbackServer server(LoopbackServer::Behaviour::kCloseOnRequest);
  const BenchRun run = RunBenchTool({"-c", "2", "-d", "1s", Target(server.port())});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  // Each connection is closed, replaced after 100 ms, closed again...
  EXPECT_GE(JsonNumber(run.json, "closed"), 4) << run.json;
  EXPECT_EQ(JsonNumber(run.json, "mismatch"), 0) << run.json;
}

TEST(BenchErrors, UnansweredRequestsTimeOut) {
  LoopbackServer server(LoopbackServer::Behaviour::kSilent);
  const BenchRun run = RunBenchTool({"-c", "2", "-d", "1s", "--timeout", "200ms", Target(server.port())});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_GE(JsonNumber(run.json, "timeout"), 2) << run.json;
  EXPECT_EQ(JsonNumber(run.json, "requests"), 0) << run.json;
}

TEST(BenchErrors, BadOptionExitsTwoAndSaysWhy) {
  const BenchRun run = RunBenchTool({"-c", "zero", "127.0.0.1:1"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find("invalid connections 'zero'"), std::string::npos) << run.err;
}

// --- other servers and transports ---

TEST(BenchRaw, DrivesAnyEchoServer) {
  LoopbackServer server(LoopbackServer::Behaviour::kEcho);
  const BenchRun run =
      RunBenchTool({"--proto", "raw", "-c", "4", "-P", "4", "-s", "1-5000", "-d", "1s", Target(server.port())});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(JsonNumber(run.json, "total"), 0) << run.json;
  EXPECT_GT(JsonNumber(run.json, "requests"), 0) << run.json;
}

TEST(BenchUdp, EchoOverDatagramsHasNoErrors) {
  LoopbackServer server(LoopbackServer::Behaviour::kUdpEcho);
  const BenchRun run =
      RunBenchTool({"--proto", "udp", "-c", "2", "-P", "4", "-s", "1-1400", "-d", "1s", Target(server.port())});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(JsonNumber(run.json, "total"), 0) << run.json;
  EXPECT_GT(JsonNumber(run.json, "requests"), 0) << run.json;
}

}  // namespace
}  // namespace solar::testing
