// builtin:debug — an echo worker that also obeys a few commands, for tests and
// for trying failure handling by hand:
//   "sleep:MS"  sleep MS milliseconds, then reply "slept:MS"
//   "crash"     abort() the process (the master respawns it)
//   "throw"     throw from process() (FRAME32: an error reply "asked to throw")
//   "error:MSG" answer with Response::error(MSG)
//   "big:N"     reply with N bytes of 'b' (past max_frame_bytes: an error reply)
//   "close"     reply "bye" and close the connection
//   "noreply"   answer nothing
//   "pid"       reply with the worker's pid
//   "whoami"    reply "uid gid" of the process
//   "peer"      reply "tcp|udp ADDRESS:PORT" of the client
//   "alloc:MB"  allocate and keep MB mebibytes (to try max_rss_mb)
//   "setting:K" reply with worker { settings } value K, or "(unset)"
//   "state_dir" reply with WorkerInfo::state_dir
//   "max_frame_bytes" reply with WorkerInfo::max_frame_bytes
//   "scoreboard:write"    write a byte to the master's page of the scoreboard
//                         (found in /proc/self/maps): "refused EFAULT" or "wrote"
//   "scoreboard:mprotect" try to make that page writable: "refused ERRNO" or
//                         "allowed" (user code must not get write access back)
// settings { key: "teardown_ms" value: "N" }: the destructor takes N ms (a
// worker closing a slow database at stop); { key: "check_ms" value: "N" }:
// onCheck takes N ms (a slow configuration check at a HUP).
// Anything else is echoed. onStart throws while the file named by
// $SOLAR_DEBUG_FAIL_START exists: a replacement that cannot start, for tests.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "api/worker.h"

namespace {

// The start of the server's shared scoreboard in this process (its first page
// is the master's), or nullptr.
char* ScoreboardStart() {
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    if (line.find("solar-scoreboard") == std::string::npos) continue;
    return reinterpret_cast<char*>(std::stoull(line.substr(0, line.find('-')), nullptr, 16));
  }
  return nullptr;
}

class DebugWorker : public solar::Worker {
 public:
  ~DebugWorker() override { std::this_thread::sleep_for(std::chrono::milliseconds(teardown_ms_)); }
  void onStart(const solar::WorkerInfo& info) override {
    settings_ = info.settings;
    if (auto it = settings_.find("teardown_ms"); it != settings_.end()) teardown_ms_ = std::atoi(it->second.c_str());
    state_dir_ = info.state_dir;
    max_frame_bytes_ = info.max_frame_bytes;
    const char* path = std::getenv("SOLAR_DEBUG_FAIL_START");
    if (path != nullptr && access(path, F_OK) == 0) throw std::runtime_error(std::string("asked to fail: ") + path);
  }
  void onCheck(const solar::WorkerInfo& info) override {
    if (auto it = info.settings.find("check_ms"); it != info.settings.end()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(it->second.c_str())));
    }
  }
  void process(solar::Request& req, solar::Response& resp) override {
    std::string_view p = req.payload();
    if (p.rfind("sleep:", 0) == 0) {
      int ms = std::atoi(std::string(p.substr(6)).c_str());
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      resp.set("slept:" + std::to_string(ms));
    } else if (p == "crash") {
      std::abort();
    } else if (p == "throw") {
      throw std::runtime_error("asked to throw");
    } else if (p.rfind("error:", 0) == 0) {
      resp.error(p.substr(6));
    } else if (p.rfind("big:", 0) == 0) {
      resp.body().assign(static_cast<size_t>(std::atoll(std::string(p.substr(4)).c_str())), 'b');
    } else if (p == "close") {
      resp.set("bye");
      resp.closeAfterReply();
    } else if (p == "noreply") {
      resp.noReply();
    } else if (p == "pid") {
      resp.set(std::to_string(getpid()));
    } else if (p.rfind("alloc:", 0) == 0) {
      size_t mb = static_cast<size_t>(std::atoi(std::string(p.substr(6)).c_str()));
      hog_.emplace_back(mb << 20, 'h');  // filled, so the pages are resident
      resp.set("allocated:" + std::to_string(mb));
    } else if (p == "peer") {
      resp.set(std::string(req.transport() == solar::Transport::kUdp ? "udp " : "tcp ") + req.peer().toString());
    } else if (p.rfind("setting:", 0) == 0) {
      auto it = settings_.find(std::string(p.substr(8)));
      resp.assign(it == settings_.end() ? "(unset)" : it->second);
    } else if (p == "state_dir") {
      resp.assign(state_dir_);
    } else if (p == "max_frame_bytes") {
      resp.set(std::to_string(max_frame_bytes_));
    } else if (p == "scoreboard:write") {
      char* page = ScoreboardStart();
      if (page == nullptr) throw std::runtime_error("no scoreboard mapping");
      // Through the kernel (a byte of /dev/zero read onto the master's
      // header): an unwritable page is EFAULT here, a store would be SIGSEGV.
      const int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
      const bool wrote = fd >= 0 && read(fd, page, 1) == 1;
      const int err = errno;
      if (fd >= 0) close(fd);
      resp.set(wrote ? std::string("wrote") : std::string("refused ") + strerrorname_np(err));
    } else if (p == "scoreboard:mprotect") {
      char* page = ScoreboardStart();
      if (page == nullptr) throw std::runtime_error("no scoreboard mapping");
      const bool ok = mprotect(page, static_cast<size_t>(sysconf(_SC_PAGESIZE)), PROT_READ | PROT_WRITE) == 0;
      resp.set(ok ? std::string("allowed") : std::string("refused ") + strerrorname_np(errno));
    } else if (p == "whoami") {
      resp.set(std::to_string(getuid()) + " " + std::to_string(getgid()));
    } else {
      resp.assign(p);
    }
  }

 private:
  std::vector<std::string> hog_;
  std::map<std::string, std::string> settings_;
  std::string state_dir_;
  size_t max_frame_bytes_ = 0;
  int teardown_ms_ = 0;
};

}  // namespace

SOLAR_REGISTER_WORKER("debug", DebugWorker);
