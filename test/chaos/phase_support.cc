#include <sys/stat.h>

#include <cstdarg>
#include <cstdio>
#include <fstream>
#include <regex>
#include <thread>

#include "phases.h"
#include "server_harness.h"

namespace solar::chaos {

using solar::testing::ServerHarness;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string Str(uint64_t n) { return std::to_string(n); }

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string Fixed(double v, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

void Say(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vprintf(fmt, ap);
  va_end(ap);
  std::fflush(stdout);
}

MasterStatus ReadStatus(const ServerHarness& s) {
  MasterStatus st;
  int code = 0;
  std::string body = solar::testing::HttpGet(s.adminPort(), "/status", &code);
  if (code != 200) return st;
  body = body.substr(0, body.find("\"processes\""));
  auto number = [&](const char* key, uint64_t* out) {
    std::smatch m;
    if (!std::regex_search(body, m, std::regex(std::string("\"") + key + "\":([0-9]+)"))) return false;
    *out = std::stoull(m[1]);
    return true;
  };
  std::smatch m;
  if (!std::regex_search(body, m, std::regex("\"state\":\"([a-z]+)\""))) return st;
  st.state = m[1];
  st.ok = number("reloads", &st.reloads) && number("reload_failures", &st.reload_failures) &&
          number("respawns", &st.respawns);
  return st;
}

std::vector<ProcessIdentity> ServerProcesses(const ServerHarness& s) {
  std::vector<ProcessIdentity> out;
  if (s.pid() > 0) out.push_back(IdentifyProcess(s.pid()));
  for (pid_t p : s.children()) out.push_back(IdentifyProcess(p));
  return out;
}

std::vector<ProcessIdentity> Leftovers(const std::vector<ProcessIdentity>& seen) {
  const auto deadline = Clock::now() + seconds(2);
  std::vector<ProcessIdentity> left;
  do {
    left.clear();
    for (const auto& p : seen)
      if (StillRunning(p)) left.push_back(p);
    if (left.empty()) break;
    std::this_thread::sleep_for(milliseconds(50));
  } while (Clock::now() < deadline);
  return left;
}

std::string SaveLog(const Settings& st, const std::string& name, const std::string& text) {
  if (st.out_dir.empty()) return "";
  mkdir(st.out_dir.c_str(), 0755);
  const std::string path = st.out_dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

void PrintDeathLines(const std::string& log, size_t max_lines) {
  std::vector<std::string> hits;
  size_t start = 0;
  while (start < log.size()) {
    size_t end = log.find('\n', start);
    if (end == std::string::npos) end = log.size();
    std::string line = log.substr(start, end - start);
    if (line.find("killed by signal") != std::string::npos || line.find("closed ") != std::string::npos ||
        line.find("lost") != std::string::npos || line.find("ERROR") != std::string::npos ||
        line.rfind("E", 0) == 0)
      hits.push_back(line);
    start = end + 1;
  }
  const size_t from = hits.size() > max_lines ? hits.size() - max_lines : 0;
  for (size_t i = from; i < hits.size(); ++i) Say("    | %s\n", hits[i].c_str());
}

}  // namespace solar::chaos
