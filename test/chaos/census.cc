#include "census.h"

#include <dirent.h>
#include <unistd.h>

#include <climits>
#include <fstream>
#include <sstream>

namespace solar::chaos {

namespace {

// The rows of a /proc/sysvipc table as columns, after its header line.
std::vector<std::vector<std::string>> ReadTable(const char* path) {
  std::vector<std::vector<std::string>> rows;
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream cols(line);
    std::vector<std::string> row;
    for (std::string c; cols >> c;) row.push_back(c);
    if (!row.empty()) rows.push_back(std::move(row));
  }
  return rows;
}

std::string ReadWhole(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Field 3 (state) and 22 (starttime) of /proc/PID/stat; false if gone.
bool ReadStat(pid_t pid, char* state, uint64_t* start_ticks) {
  std::string s = ReadWhole("/proc/" + std::to_string(pid) + "/stat");
  size_t rp = s.rfind(')');
  if (rp == std::string::npos || rp + 2 >= s.size()) return false;
  std::istringstream rest(s.substr(rp + 2));
  std::string field;
  // After the comm: field 3 is state; starttime is field 22, the 20th from here.
  for (int i = 3; i <= 22 && rest >> field; ++i) {
    if (i == 3) *state = field[0];
    if (i == 22) {
      *start_ticks = std::stoull(field);
      return true;
    }
  }
  return false;
}

}  // namespace

std::vector<MsgQueueRow> ReadMsgQueues() {
  // key msqid perms cbytes qnum lspid lrpid uid gid cuid cgid stime rtime ctime
  std::vector<MsgQueueRow> out;
  for (const auto& r : ReadTable("/proc/sysvipc/msg")) {
    if (r.size() < 7) continue;
    MsgQueueRow q;
    q.key = std::stol(r[0]);
    q.id = std::stoi(r[1]);
    q.last_send_pid = std::stoi(r[5]);
    q.last_receive_pid = std::stoi(r[6]);
    out.push_back(q);
  }
  return out;
}

std::vector<ShmRow> ReadShmSegments() {
  // key shmid perms size cpid lpid nattch uid gid cuid cgid atime dtime ctime ...
  std::vector<ShmRow> out;
  for (const auto& r : ReadTable("/proc/sysvipc/shm")) {
    if (r.size() < 6) continue;
    ShmRow s;
    s.key = std::stol(r[0]);
    s.id = std::stoi(r[1]);
    s.creator_pid = std::stoi(r[4]);
    s.last_pid = std::stoi(r[5]);
    out.push_back(s);
  }
  return out;
}

int CountFds(pid_t pid) {
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (!d) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  // The directory stream itself is one of them when we count our own.
  return pid == getpid() ? n - 1 : n;
}

std::map<int, std::string> ListFds(pid_t pid) {
  std::map<int, std::string> out;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char target[PATH_MAX];
    ssize_t n = readlink((dir + "/" + e->d_name).c_str(), target, sizeof(target) - 1);
    out[std::atoi(e->d_name)] = n > 0 ? std::string(target, static_cast<size_t>(n)) : "?";
  }
  closedir(d);
  return out;
}

ProcessIdentity IdentifyProcess(pid_t pid) {
  ProcessIdentity p;
  p.pid = pid;
  char state = 0;
  if (!ReadStat(pid, &state, &p.start_ticks)) p.start_ticks = 0;
  p.title = ReadWhole("/proc/" + std::to_string(pid) + "/cmdline");
  size_t nul = p.title.find('\0');
  if (nul != std::string::npos) p.title.resize(nul);
  return p;
}

bool StillRunning(const ProcessIdentity& p) {
  char state = 0;
  uint64_t start = 0;
  if (p.start_ticks == 0 || !ReadStat(p.pid, &state, &start)) return false;
  return start == p.start_ticks && state != 'Z';
}

}  // namespace solar::chaos
