#include "server_harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>

namespace solar::testing {

namespace {
int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

std::string SolarBin() {
  const char* e = std::getenv("SOLAR_BIN");
  return e ? e : "build/solar";
}
std::string BenchBin() {
  const char* e = std::getenv("SOLAR_BENCH");
  return e ? e : "build/solar-bench";
}

ServerHarness::ServerHarness(std::string extra_config) : extra_(std::move(extra_config)) {
  char tmpl[] = "/tmp/solar-test-XXXXXX";
  char* d = mkdtemp(tmpl);
  dir_ = d ? d : "/tmp";
  chmod(dir_.c_str(), 0755);
}

ServerHarness::~ServerHarness() {
  // A test that did not stop its server: stop it gracefully, so that it
  // removes its SysV queue and pid file (SIGKILL only if that hangs).
  if (pid_ > 0) stop(SIGTERM, std::chrono::seconds(15));
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int st;
    waitpid(pid_, &st, 0);
  }
  if (reader_.joinable()) reader_.join();
  if (out_fd_ >= 0) close(out_fd_);
  std::string cmd = "rm -rf '" + dir_ + "'";
  if (dir_.rfind("/tmp/solar-test-", 0) == 0) [[maybe_unused]] int rc = std::system(cmd.c_str());
}

bool ServerHarness::start(std::chrono::milliseconds timeout) {
  {
    // Defaults for the harness, each only when `extra` does not set the field
    // itself (the config refuses a field given twice).
    std::ofstream conf(configPath());
    auto sets = [&](const std::string& field) {
      return std::regex_search(extra_, std::regex("(^|\\n)\\s*" + field + "\\s*[:{]"));
    };
    if (!sets("listen")) conf << "listen: \"127.0.0.1:0\"\n";
    if (!sets("admin_listen")) conf << "admin_listen: \"127.0.0.1:0\"\n";
    if (!sets("pid_file")) conf << "pid_file: \"" << pidFile() << "\"\n";
    if (!sets("graceful_timeout_ms")) conf << "graceful_timeout_ms: 10000\n";
    if (!sets("state_dir") && !default_state_dir_) conf << "state_dir: \"" << dir_ << "/state\"\n";
    // The shipped default is builtin:kv; the tests that name no worker are
    // about the server itself and talk echo.
    if (!sets("worker")) conf << "worker { name: \"builtin:echo\" }\n";
    conf << extra_ << "\n";
  }
  chmod(configPath().c_str(), config_mode_);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  pid_ = fork();
  if (pid_ == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    std::string bin = SolarBin(), conf = configPath();
    if (!working_dir_.empty() && chdir(working_dir_.c_str()) != 0) _exit(126);
    execl(bin.c_str(), bin.c_str(), "-c", conf.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  out_fd_ = fds[0];
  reader_ = std::thread([this] {
    char buf[4096];
    for (;;) {
      ssize_t n = read(out_fd_, buf, sizeof(buf));
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        return;
      }
      std::lock_guard<std::mutex> lock(mu_);
      log_.append(buf, static_cast<size_t>(n));
    }
  });
  // Wait for the ready line, or for the master to give up (a refused config).
  const int64_t deadline = NowMs() + timeout.count();
  while (!waitForLog("ready: listening on", std::chrono::milliseconds(20))) {
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      if (reader_.joinable()) reader_.join();
      return false;
    }
    if (NowMs() >= deadline) return false;
  }
  std::smatch m;
  std::string l = log();
  static const std::regex kReady("ready: listening on [^ ]*:([0-9]+) ");
  if (!std::regex_search(l, m, kReady)) return false;
  port_ = std::stoi(m[1]);
  static const std::regex kAdmin("admin on [^ ]*:([0-9]+)");
  if (std::regex_search(l, m, kAdmin)) admin_port_ = std::stoi(m[1]);
  return true;
}

int ServerHarness::wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return exit_code_;
  int64_t deadline = NowMs() + timeout.count();
  for (;;) {
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      if (reader_.joinable()) reader_.join();
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    if (NowMs() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int ServerHarness::stop(int sig, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, sig);
  int code = wait(timeout);
  if (code == -1 && pid_ > 0) {
    kill(pid_, SIGKILL);
    wait(std::chrono::seconds(5));
    return -1;
  }
  return code;
}

std::string ServerHarness::log() const {
  std::lock_guard<std::mutex> lock(mu_);
  return log_;
}

bool ServerHarness::waitForLog(std::string_view needle, std::chrono::milliseconds timeout, size_t from) const {
  int64_t deadline = NowMs() + timeout.count();
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (log_.size() > from && log_.find(needle, from) != std::string::npos) return true;
    }
    if (NowMs() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// The whole of a /proc file, or "" when it cannot be read: a process may exit
// between the directory scan and the read (ESRCH), which an
// istreambuf_iterator would report by throwing.
static std::string ReadProcFile(const std::string& path) {
  std::string out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  for (;;) {
    const ssize_t k = ::read(fd, buf, sizeof(buf));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      if (k < 0) out.clear();
      break;
    }
    out.append(buf, static_cast<size_t>(k));
  }
  ::close(fd);
  return out;
}

std::vector<pid_t> ServerHarness::children() const {
  std::vector<pid_t> out;
  if (pid_ <= 0) return out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    pid_t p = static_cast<pid_t>(std::atoi(e->d_name));
    if (p <= 0) continue;
    const std::string s = ReadProcFile("/proc/" + std::string(e->d_name) + "/stat");
    size_t rp = s.rfind(')');
    if (rp == std::string::npos) continue;
    std::istringstream rest(s.substr(rp + 2));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == pid_ && state != "Z") out.push_back(p);
  }
  closedir(d);
  return out;
}

pid_t ServerHarness::childPid(const std::string& role) const {
  const std::string want = "solar: " + role;
  for (pid_t p : children()) {
    const std::string cmd = ReadProcFile("/proc/" + std::to_string(p) + "/cmdline");
    if (cmd.rfind(want, 0) == 0 && (cmd.size() == want.size() || cmd[want.size()] == '\0')) return p;
  }
  return -1;
}

std::vector<pid_t> ServerHarness::workerPids(int n) const {
  std::vector<pid_t> pids;
  for (int i = 0; i < n; ++i) pids.push_back(childPid("worker " + std::to_string(i)));
  return pids;
}

pid_t ServerHarness::waitRespawn(const std::string& role, pid_t old, std::chrono::milliseconds timeout) const {
  int64_t deadline = NowMs() + timeout.count();
  for (;;) {
    pid_t p = childPid(role);
    if (p > 0 && p != old) return p;
    if (NowMs() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string ModulePath(const std::string& name) {
  std::string bin = SolarBin();
  size_t slash = bin.rfind('/');
  return (slash == std::string::npos ? std::string(".") : bin.substr(0, slash)) + "/lib" + name + ".so";
}

bool CopyFile(const std::string& from, const std::string& to) {
  std::ifstream in(from, std::ios::binary);
  std::ofstream out(to + ".tmp", std::ios::binary);
  out << in.rdbuf();
  out.close();
  return in.good() && std::rename((to + ".tmp").c_str(), to.c_str()) == 0;
}

int UdpSocket() {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  return fd;
}

bool SendTo(int fd, int port, const std::string& msg) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof(a)) ==
         static_cast<ssize_t>(msg.size());
}

bool RecvOne(int fd, std::string* out, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return false;
  char buf[65536];
  ssize_t n = recv(fd, buf, sizeof(buf), 0);
  if (n < 0) return false;
  out->assign(buf, static_cast<size_t>(n));
  return true;
}

int ConnectTcp(int port, bool ipv6) {
  int fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int rc;
  if (ipv6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(static_cast<uint16_t>(port));
    a.sin6_addr = in6addr_loopback;
    rc = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  }
  if (rc != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

bool WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool ReadExactly(int fd, size_t n, std::string* out, int timeout_ms) {
  out->clear();
  int64_t deadline = NowMs() + timeout_ms;
  char buf[65536];
  while (out->size() < n) {
    int left = static_cast<int>(deadline - NowMs());
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, left);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    ssize_t k = recv(fd, buf, std::min(sizeof(buf), n - out->size()), 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    out->append(buf, static_cast<size_t>(k));
  }
  return true;
}

std::string Frame32(std::string_view payload) {
  uint32_t be = htonl(static_cast<uint32_t>(payload.size()));
  std::string s(reinterpret_cast<const char*>(&be), 4);
  s.append(payload);
  return s;
}

bool ReadReply32(int fd, std::string* payload, bool* is_error, int timeout_ms) {
  std::string hdr;
  if (!ReadExactly(fd, 4, &hdr, timeout_ms)) return false;
  uint32_t be;
  std::memcpy(&be, hdr.data(), 4);
  const uint32_t word = ntohl(be);
  *is_error = (word & 0x80000000u) != 0;
  return ReadExactly(fd, word & 0x7fffffffu, payload, timeout_ms);
}

bool ReadFrame32(int fd, std::string* payload, int timeout_ms) {
  bool is_error = false;
  return ReadReply32(fd, payload, &is_error, timeout_ms) && !is_error;
}

bool WaitClosed(int fd, int timeout_ms) {
  int64_t deadline = NowMs() + timeout_ms;
  char buf[4096];
  for (;;) {
    int left = static_cast<int>(deadline - NowMs());
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, left);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    ssize_t k = recv(fd, buf, sizeof(buf), 0);
    if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN)) return true;
  }
}

std::string RandomBytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

std::string HttpGet(int port, const std::string& path, int* status) {
  *status = -1;
  int fd = ConnectTcp(port);
  if (fd < 0) return "";
  if (!WriteAll(fd, "GET " + path + " HTTP/1.0\r\n\r\n")) {
    close(fd);
    return "";
  }
  std::string resp;
  char buf[65536];
  pollfd p{fd, POLLIN, 0};
  while (poll(&p, 1, 5000) > 0) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    resp.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  size_t split = resp.find("\r\n\r\n");
  if (resp.rfind("HTTP/1.", 0) != 0 || split == std::string::npos) return "";
  *status = std::atoi(resp.c_str() + resp.find(' ') + 1);
  return resp.substr(split + 4);
}

std::string ProcStatusField(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::string v = line.substr(field.size() + 1);
      size_t b = v.find_first_not_of(" \t");
      return b == std::string::npos ? "" : v.substr(b);
    }
  }
  return "";
}

bool ProcessExists(pid_t pid) {
  if (kill(pid, 0) != 0) return false;
  const std::string s = ReadProcFile("/proc/" + std::to_string(pid) + "/stat");
  size_t rp = s.rfind(')');
  return rp != std::string::npos && rp + 2 < s.size() && s[rp + 2] != 'Z';
}

}  // namespace solar::testing
