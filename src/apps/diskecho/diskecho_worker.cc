// builtin:diskecho — appends each request to a file, then echoes it: the
// seeds' "write to disk, then reply" benchmark row (seed 000). The file is
// $SOLAR_DISKECHO_DIR (default /tmp)/solar-diskecho.PID, opened in onStart
// (after the privilege drop) and cut back to empty past 64 MiB so a long
// benchmark cannot fill the disk. write(2) without fsync, like the seed's
// PHP file_put_contents.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "api/worker.h"

namespace {

constexpr off_t kRotateBytes = 64 << 20;

class DiskEchoWorker : public solar::Worker {
 public:
  ~DiskEchoWorker() override {
    if (fd_ >= 0) {
      close(fd_);
      unlink(path_.c_str());
    }
  }
  void onStart(const solar::WorkerInfo&) override {
    const char* dir = std::getenv("SOLAR_DISKECHO_DIR");
    path_ = std::string(dir ? dir : "/tmp") + "/solar-diskecho." + std::to_string(getpid());
    fd_ = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (fd_ < 0) throw std::runtime_error("cannot open " + path_);
  }
  void process(solar::Request& req, solar::Response& resp) override {
    std::string_view p = req.payload();
    if (written_ + static_cast<off_t>(p.size()) > kRotateBytes) {
      if (ftruncate(fd_, 0) != 0) throw std::runtime_error("ftruncate failed");
      written_ = 0;
    }
    for (size_t off = 0; off < p.size();) {
      ssize_t n = write(fd_, p.data() + off, p.size() - off);
      if (n < 0) throw std::runtime_error("write failed");
      off += static_cast<size_t>(n);
    }
    written_ += static_cast<off_t>(p.size());
    resp.assign(p);
  }
  void onStop() override {}

 private:
  std::string path_;
  int fd_ = -1;
  off_t written_ = 0;
};

}  // namespace

SOLAR_REGISTER_WORKER("diskecho", DiskEchoWorker);
