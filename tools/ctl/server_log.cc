#include "server_log.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <utility>

namespace solar::ctl {
namespace {

int64_t SizeOf(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) ? static_cast<int64_t>(st.st_size) : -1;
}

// glog's prefix: "W20250102 10:00:00.123456  4242 control.cc:160] text" (the
// year only with --log_year_in_prefix, glog 0.6's default). Returns the
// position of the text, or npos for any other line (a continuation, or output
// that is not glog's).
size_t GlogText(const std::string& line) {
  if (line.size() < 10 || std::string("IWEF").find(line[0]) == std::string::npos ||
      !std::isdigit(static_cast<unsigned char>(line[1]))) {
    return std::string::npos;
  }
  const size_t close = line.find("] ");
  return close != std::string::npos && close < 100 ? close + 2 : std::string::npos;
}

}  // namespace

ServerLog::ServerLog(pid_t master, std::string log_dir) : master_(master), log_dir_(std::move(log_dir)) {}

std::vector<std::string> ServerLog::files() const {
  std::vector<std::string> out;
  if (log_dir_.empty()) {
    const std::string stderr_path = "/proc/" + std::to_string(master_) + "/fd/2";
    if (SizeOf(stderr_path) >= 0) out.push_back(stderr_path);
    return out;
  }
  // glog names its files PROGRAM.HOST.USER.log.SEVERITY.DATE-TIME.PID; the
  // INFO file of each process holds all of its lines.
  // The children's files are in log_dir/children (solar.log.INFO.DATE-TIME.PID).
  for (const std::string& path : {log_dir_, log_dir_ + "/children"}) {
    DIR* dir = opendir(path.c_str());
    if (dir == nullptr) continue;
    while (dirent* e = readdir(dir)) {
      const std::string name = e->d_name;
      if (name.rfind("solar.", 0) == 0 && name.find("log.INFO.") != std::string::npos) out.push_back(path + "/" + name);
    }
    closedir(dir);
  }
  return out;
}

void ServerLog::mark() {
  marks_.clear();
  for (const std::string& f : files()) marks_[f] = SizeOf(f);
}

std::vector<std::string> ServerLog::lines(size_t max) const {
  std::vector<std::pair<std::string, std::string>> found;  // (timestamp, text)
  for (const std::string& f : files()) {
    auto mark = marks_.find(f);
    std::ifstream in(f);
    if (mark != marks_.end() && mark->second > 0) in.seekg(mark->second);
    for (std::string line; std::getline(in, line);) {
      const size_t text = GlogText(line);
      if (text == std::string::npos || line[0] == 'I') continue;
      // The date and time ("20250102 10:00:00.123456") order lines of different files.
      const size_t time_end = line.find(' ', line.find(' ') + 1);
      found.emplace_back(line.substr(1, time_end - 1), line.substr(text));
    }
  }
  std::stable_sort(found.begin(), found.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (size_t i = found.size() > max ? found.size() - max : 0; i < found.size(); ++i) out.push_back(found[i].second);
  return out;
}

std::string ServerLog::describe() const {
  if (!log_dir_.empty()) return "the log in " + log_dir_;
  return "the master's stderr (pid " + std::to_string(master_) + ")";
}

}  // namespace solar::ctl
