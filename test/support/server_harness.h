// Test support: runs the real `solar` binary on a free loopback port.
//
//   ServerHarness server("workers: 3\nprotocol: LINE\n");
//   ASSERT_TRUE(server.start());          // waits for the master's ready line
//   int fd = ConnectTcp(server.port());
//   ...
//   EXPECT_EQ(server.stop(), 0);          // SIGTERM, wait, exit status
//
// The config is written to a fresh temp dir with listen 127.0.0.1:0 (the master
// picks a free port and logs it), pid_file and log in that dir; `extra` is
// appended and may override any field. The binary is $SOLAR_BIN.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace solar::testing {

// The sanitizer build (make test SANITIZE=...) builds the tests with the
// server's flags. There, resident memory includes ASan's shadow and its
// quarantine of freed blocks (up to 256 MB), and everything runs several
// times slower: tests that bound a process's RSS skip that bound (the
// behaviour behind it is still asserted), and "promptly" allows more time.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
inline constexpr int kPromptMs = kSanitized ? 3000 : 1000;

std::string SolarBin();   // $SOLAR_BIN, else build/solar
// build/solar -> build/libNAME.so (a built-in worker built as a module).
std::string ModulePath(const std::string& name);
// Copies a file through a temporary and rename(), so a watcher never sees it half written.
bool CopyFile(const std::string& from, const std::string& to);
std::string BenchBin();   // $SOLAR_BENCH, else build/solar-bench

class ServerHarness {
 public:
  explicit ServerHarness(std::string extra_config = "");
  ~ServerHarness();  // stops a master still running (TERM, then KILL), removes the temp dir

  // The mode the config file gets before the start (e.g. 0600: root only).
  void setConfigMode(unsigned mode) { config_mode_ = mode; }
  // The directory the master starts in (relative paths in the config are
  // taken from there); "" = the test's own.
  void setWorkingDir(std::string dir) { working_dir_ = std::move(dir); }
  // Leave state_dir out of the config, so the server picks its default (the
  // harness otherwise keeps state in its temp dir, away from /var/lib/solar).
  void useDefaultStateDir() { default_state_dir_ = true; }
  // Starts the master and waits (up to timeout) for "ready" in its log.
  bool start(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Sends `sig` to the master and waits for it to exit; returns the exit code
  // (128+signal if killed), or -1 on timeout (then it is SIGKILLed).
  int stop(int sig = 15, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Waits until the master exits by itself.
  int wait(std::chrono::milliseconds timeout);

  int port() const { return port_; }
  int adminPort() const { return admin_port_; }  // from the ready line; 0 if off
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }
  std::string configPath() const { return dir_ + "/solar.conf"; }
  std::string pidFile() const { return dir_ + "/solar.pid"; }
  // Everything the server has logged so far (stdout + stderr).
  std::string log() const;
  // Waits until the log contains `needle` (searched from byte `from`).
  bool waitForLog(std::string_view needle, std::chrono::milliseconds timeout, size_t from = 0) const;

  // The master's children, by the role in their process title: "listener N", "worker N".
  std::vector<pid_t> children() const;
  pid_t childPid(const std::string& role) const;  // -1 if none
  std::vector<pid_t> workerPids(int n) const;     // childPid("worker 0") .. ("worker n-1")
  // Waits until the child with `role` has a pid other than `old` (respawned).
  pid_t waitRespawn(const std::string& role, pid_t old, std::chrono::milliseconds timeout) const;

 private:
  std::string extra_;
  std::string dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  int admin_port_ = 0;
  unsigned config_mode_ = 0644;
  std::string working_dir_;
  bool default_state_dir_ = false;
  int exit_code_ = -1;  // once the master has exited and been reaped
  int out_fd_ = -1;
  std::thread reader_;
  mutable std::mutex mu_;
  std::string log_;
};

// --- clients ---
// UDP on 127.0.0.1: a bound socket, one datagram to `port`, one reply within timeout_ms.
int UdpSocket();
bool SendTo(int fd, int port, const std::string& msg);
bool RecvOne(int fd, std::string* out, int timeout_ms);
int ConnectTcp(int port, bool ipv6 = false);  // blocking socket, -1 on failure
bool WriteAll(int fd, std::string_view bytes);
// Reads exactly n bytes, false on EOF/error/timeout.
bool ReadExactly(int fd, size_t n, std::string* out, int timeout_ms = 10000);
std::string Frame32(std::string_view payload);  // 4-byte big-endian length + payload
// False on an error reply too (length word with bit 31 set).
bool ReadFrame32(int fd, std::string* payload, int timeout_ms = 10000);
// Reads a reply or an error reply (*is_error tells which; the payload is then the message).
bool ReadReply32(int fd, std::string* payload, bool* is_error, int timeout_ms = 10000);
// True when the peer closed (EOF or reset) within timeout_ms.
bool WaitClosed(int fd, int timeout_ms);
std::string RandomBytes(size_t n, unsigned seed);

// GET path over HTTP/1.0; returns the body, *status the HTTP code (-1 on failure).
std::string HttpGet(int port, const std::string& path, int* status);

// /proc/PID/status fields, e.g. "Uid" -> "65534\t65534\t65534\t65534".
std::string ProcStatusField(pid_t pid, const std::string& field);
bool ProcessExists(pid_t pid);

}  // namespace solar::testing
