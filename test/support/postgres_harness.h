// Test support: a real PostgreSQL server in a temp dir, for the KV backend's
// unit and process tests.
//
//   PostgresHarness pg;
//   std::string error;
//   ASSERT_TRUE(pg.start(&error)) << error;   // initdb, then the server; waits until it answers
//   ... connect with pg.dsn() ...
//   pg.stop();  pg.startAgain(&error);         // a restart on the same port and data
//
// PostgreSQL refuses to run as root, so under root (as the tests run) initdb
// and the server run as the `postgres` user (else `nobody`), in a temp dir
// owned by that user; otherwise as the current user. The server listens on
// 127.0.0.1 on a free port, with its UNIX socket in the temp dir, trust
// authentication, and fsync off (tests never need durability across a power
// cut). The destructor stops it and removes the dir.
//
// The binaries are found under /usr/lib/postgresql/<highest version>/bin, or
// in $SOLAR_PG_BIN. `make deps` installs them (package postgresql).
//
// Header-only: both test binaries use it (unit_tests does not link
// test/support/*.cc). Runs in: the test process and the children it forks.
#pragma once

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace solar::testing {

class PostgresHarness {
 public:
  PostgresHarness() = default;
  PostgresHarness(const PostgresHarness&) = delete;
  PostgresHarness& operator=(const PostgresHarness&) = delete;
  ~PostgresHarness() {
    stop();
    if (dir_.rfind("/tmp/solar-pg-", 0) == 0) {
      [[maybe_unused]] int rc = std::system(("rm -rf '" + dir_ + "'").c_str());
    }
  }

  // The directory holding initdb, pg_ctl and postgres; "" when none is found.
  static std::string BinDir() {
    if (const char* e = std::getenv("SOLAR_PG_BIN")) return e;
    std::string best;
    int best_version = -1;
    if (DIR* d = opendir("/usr/lib/postgresql")) {
      while (dirent* e = readdir(d)) {
        const int v = std::atoi(e->d_name);
        const std::string bin = std::string("/usr/lib/postgresql/") + e->d_name + "/bin";
        if (v > best_version && access((bin + "/postgres").c_str(), X_OK) == 0) {
          best_version = v;
          best = bin;
        }
      }
      closedir(d);
    }
    return best;
  }

  // Creates the cluster and starts the server. false with *error on failure
  // (the server's log is included).
  bool start(std::string* error) {
    bin_ = BinDir();
    if (bin_.empty()) {
      *error = "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres); run `make deps`";
      return false;
    }
    if (!pickUser(error) || !makeDir(error)) return false;
    if (!run({bin_ + "/initdb", "-D", dir_ + "/data", "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8",
              "--locale=C", "--no-instructions"},
             dir_ + "/initdb.log")) {
      *error = "initdb failed: " + readFile(dir_ + "/initdb.log");
      return false;
    }
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = FreePort();
      if (startServer(error)) return true;
    }
    return false;
  }

  // Starts the server again after stop(): same port, same data.
  bool startAgain(std::string* error) { return startServer(error); }

  // Fast shutdown (SIGINT: sessions are terminated, as in a restart by an
  // operator); waits for the postmaster to exit. true when it did.
  bool stop() {
    if (pid_ <= 0) return true;
    freeze(false);  // a test that failed while the server was frozen
    kill(pid_, SIGINT);
    const bool exited = waitExit(std::chrono::seconds(30));
    if (!exited) {
      kill(pid_, SIGKILL);
      waitExit(std::chrono::seconds(5));
    }
    pid_ = -1;
    return exited;
  }

  bool running() const { return pid_ > 0; }
  pid_t serverPid() const { return pid_; }
  // The postmaster and its children (backends, checkpointer, ...). Each
  // backend calls setsid(), so signalling the process group misses them.
  std::vector<pid_t> serverProcesses() const {
    std::vector<pid_t> out;
    if (pid_ <= 0) return out;
    out.push_back(pid_);
    if (DIR* d = opendir("/proc")) {
      while (dirent* e = readdir(d)) {
        const pid_t p = static_cast<pid_t>(std::atoi(e->d_name));
        if (p <= 0) continue;
        const std::string stat = readFile("/proc/" + std::string(e->d_name) + "/stat");
        const size_t rp = stat.rfind(')');
        if (rp == std::string::npos) continue;
        std::istringstream rest(stat.substr(rp + 2));
        std::string state;
        pid_t ppid = 0;
        rest >> state >> ppid;
        if (ppid == pid_) out.push_back(p);
      }
      closedir(d);
    }
    return out;
  }
  // SIGSTOP (or SIGCONT) to every server process: connections stay up, and
  // nothing answers on them.
  void freeze(bool frozen) const {
    for (pid_t p : serverProcesses()) kill(p, frozen ? SIGSTOP : SIGCONT);
  }
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  // A libpq connection string for the superuser over TCP.
  std::string dsn() const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=postgres user=postgres";
  }
  std::string log() const { return readFile(dir_ + "/server.log"); }

  // Runs one SQL statement through a fresh connection; "" on success, else
  // the error. For test set-up (truncating a table between tests).
  std::string exec(const std::string& sql) const {
    PGconn* c = PQconnectdb((dsn() + " connect_timeout=5").c_str());
    std::string err;
    if (PQstatus(c) != CONNECTION_OK) {
      err = PQerrorMessage(c);
    } else {
      PGresult* r = PQexec(c, sql.c_str());
      if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) err = PQresultErrorMessage(r);
      PQclear(r);
    }
    PQfinish(c);
    return err;
  }

 private:
  static std::string readFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // A port nobody listens on now (the kernel's pick for an ephemeral bind).
  static int FreePort() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    int port = 0;
    if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      port = ntohs(a.sin_port);
    }
    if (fd >= 0) close(fd);
    return port;
  }

  bool pickUser(std::string* error) {
    if (geteuid() != 0) {
      uid_ = geteuid();
      gid_ = getegid();
      return true;
    }
    for (const char* name : {"postgres", "nobody"}) {
      if (const passwd* pw = getpwnam(name)) {
        uid_ = pw->pw_uid;
        gid_ = pw->pw_gid;
        return true;
      }
    }
    *error = "running as root, and neither user postgres nor nobody exists to run PostgreSQL as";
    return false;
  }

  bool makeDir(std::string* error) {
    char tmpl[] = "/tmp/solar-pg-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      *error = "mkdtemp failed";
      return false;
    }
    dir_ = tmpl;
    if (chown(dir_.c_str(), uid_, gid_) != 0 || chmod(dir_.c_str(), 0700) != 0) {
      *error = "cannot hand " + dir_ + " to uid " + std::to_string(uid_);
      return false;
    }
    return true;
  }

  // Forks; the child drops to the server user and runs argv, output to `log`.
  pid_t spawn(const std::vector<std::string>& argv, const std::string& log) const {
    const pid_t pid = fork();
    if (pid != 0) return pid;
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    // Its own process group: a Ctrl-C meant for the tests must not also
    // stop the server behind the test's back.
    setpgid(0, 0);
    if (geteuid() == 0 && (setgroups(0, nullptr) != 0 || setgid(gid_) != 0 || setuid(uid_) != 0)) _exit(126);
    if (chdir(dir_.c_str()) != 0) _exit(126);
    setenv("LC_ALL", "C", 1);
    unsetenv("PGDATA");
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }

  bool run(const std::vector<std::string>& argv, const std::string& log) const {
    const pid_t pid = spawn(argv, log);
    if (pid < 0) return false;
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
  }

  bool waitExit(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int st = 0;
      const pid_t r = waitpid(pid_, &st, WNOHANG);
      if (r == pid_ || (r < 0 && errno == ECHILD)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  bool startServer(std::string* error) {
    const size_t log_from = log().size();
    pid_ = spawn({bin_ + "/postgres", "-D", dir_ + "/data", "-p", std::to_string(port_), "-k", dir_, "-c",
                  "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c",
                  "full_page_writes=off", "-c", "max_connections=300", "-c", "shared_buffers=32MB"},
                 dir_ + "/server.log");
    if (pid_ < 0) {
      *error = "fork failed";
      return false;
    }
    const std::string ping = dsn() + " connect_timeout=2";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      if (PQping(ping.c_str()) == PQPING_OK) return true;
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        *error = "postgres exited at start: " + log().substr(log_from);
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    *error = "postgres did not answer within 30 s: " + log().substr(log_from);
    stop();
    return false;
  }

  std::string bin_;
  std::string dir_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace solar::testing
