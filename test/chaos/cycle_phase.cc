// Phase 3: start/stop cycles with UDP on, and what they leave behind.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <regex>
#include <set>
#include <thread>

#include "phases.h"
#include "server_harness.h"

namespace solar::chaos {

namespace {

using solar::testing::ServerHarness;

int UdpPortOf(const ServerHarness& s) {
  std::smatch m;
  const std::string log = s.log();
  static const std::regex kUdp("udp on [^ ]*:([0-9]+) ");
  return std::regex_search(log, m, kUdp) ? std::stoi(m[1]) : -1;
}

// One datagram out, its echo back (UDP may drop: up to 3 tries, 1 s each).
bool UdpEcho(int fd, int port, const std::string& msg) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  char buf[65536];
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) continue;
    pollfd p{fd, POLLIN, 0};
    while (poll(&p, 1, 1000) > 0) {
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n >= 0 && msg.compare(0, std::string::npos, buf, static_cast<size_t>(n)) == 0) return true;
    }
  }
  return false;
}

int TcpEchoes(int port, int count, unsigned seed) {
  int fd = solar::testing::ConnectTcp(port);
  if (fd < 0) return 0;
  int ok = 0;
  for (int i = 0; i < count; ++i) {
    const std::string msg = "tcp " + std::to_string(seed) + "." + std::to_string(i) + " " +
                            solar::testing::RandomBytes(1 + (seed + i) % 2000, seed + i);
    std::string reply;
    if (solar::testing::WriteAll(fd, solar::testing::Frame32(msg)) &&
        solar::testing::ReadFrame32(fd, &reply, 5000) && reply == msg)
      ++ok;
  }
  close(fd);
  return ok;
}

struct QueueRef {
  long key;
  int id;
  bool operator<(const QueueRef& o) const { return key != o.key ? key < o.key : id < o.id; }
};

}  // namespace

void CyclePhase(const Settings& st, Report& rep, std::vector<ProcessIdentity>* leftovers) {
  const std::string P = "3 start/stop";
  const auto t0 = Clock::now();
  Say("phase 3: %d start/stop cycles with udp { workers: 2 }\n", st.cycles);
  constexpr int kRequests = 3;
  const auto queues_before = ReadMsgQueues();
  const auto shm_before = ReadShmSegments();
  const int fds_before = CountFds(getpid());
  int clean_stops = 0, tcp_ok = 0, udp_ok = 0, queues_seen = 0;
  std::set<QueueRef> ours;
  std::set<int> shm_ours;
  size_t cycle_leftovers = 0;
  for (int i = 0; i < st.cycles; ++i) {
    ServerHarness server("workers: 2\nworker { name: \"builtin:debug\" }\nudp { listen: \"127.0.0.1:0\" workers: 2 }\n");
    if (!server.start()) {
      Say("  cycle %d: the server did not start; log: %s\n", i,
          SaveLog(st, "phase3-cycle" + std::to_string(i) + ".log", server.log()).c_str());
      continue;
    }
    const int udp_port = UdpPortOf(server);
    tcp_ok += TcpEchoes(server.port(), kRequests, st.seed + static_cast<unsigned>(i));
    int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    for (int k = 0; k < kRequests && udp >= 0; ++k)
      udp_ok += UdpEcho(udp, udp_port, "udp " + std::to_string(i) + "." + std::to_string(k)) ? 1 : 0;
    if (udp >= 0) close(udp);
    // This server's queue: the one its UDP listener sent on (lspid).
    const auto seen = ServerProcesses(server);
    std::set<pid_t> pids;
    for (const auto& p : seen) pids.insert(p.pid);
    bool found = false;
    for (const MsgQueueRow& q : ReadMsgQueues()) {
      if (pids.count(q.last_send_pid) || pids.count(q.last_receive_pid)) {
        ours.insert({q.key, q.id});
        found = true;
      }
    }
    queues_seen += found ? 1 : 0;
    for (const ShmRow& s : ReadShmSegments())
      if (pids.count(s.creator_pid)) shm_ours.insert(s.id);
    const int code = server.stop();
    if (code == 0) {
      ++clean_stops;
    } else {
      Say("  cycle %d: exit status %d; log: %s\n", i, code,
          SaveLog(st, "phase3-cycle" + std::to_string(i) + ".log", server.log()).c_str());
    }
    const auto left = Leftovers(seen);
    cycle_leftovers += left.size();
    for (const auto& p : left) leftovers->push_back(p);
    if ((i + 1) % 10 == 0) Say("  %d/%d cycles\n", i + 1, st.cycles);
  }
  // The counts are system-wide: another user's server may hold a queue for a
  // moment. A difference that goes away within 3 s is not a leftover.
  auto queues_after = ReadMsgQueues();
  auto shm_after = ReadShmSegments();
  for (int i = 0; i < 30 && (queues_after.size() != queues_before.size() || shm_after.size() != shm_before.size());
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    queues_after = ReadMsgQueues();
    shm_after = ReadShmSegments();
  }
  const int fds_after = CountFds(getpid());
  size_t ours_left = 0;
  for (const MsgQueueRow& q : queues_after) ours_left += ours.count({q.key, q.id});
  size_t shm_left = 0;
  for (const ShmRow& s : shm_after) shm_left += shm_ours.count(s.id);

  const int want = st.cycles * kRequests;
  rep.check(P, "cycles stopped with exit 0", Str(clean_stops) + "/" + Str(st.cycles), clean_stops == st.cycles,
            "all");
  rep.check(P, "TCP requests answered", Str(tcp_ok) + "/" + Str(want), tcp_ok == want, "all");
  rep.check(P, "UDP requests answered", Str(udp_ok) + "/" + Str(want), udp_ok == want, "all (3 tries each)");
  rep.check(P, "SysV queues left behind", Str(ours_left), ours_left == 0 && queues_seen == st.cycles,
            "= 0 (of " + Str(ours.size()) + " seen, one per cycle)");
  const bool queues_same = queues_after.size() == queues_before.size();
  rep.add(P, "SysV queues, system-wide before -> after",
          Str(queues_before.size()) + " -> " + Str(queues_after.size()),
          queues_same ? Report::Verdict::kPass : ours_left == 0 ? Report::Verdict::kInfo : Report::Verdict::kFail,
          queues_same ? "unchanged" : "changed by other users' processes (none is ours)");
  rep.check(P, "SysV shm segments left behind", Str(shm_left), shm_left == 0,
            "= 0 (" + Str(shm_ours.size()) + " created; the scoreboard is an anonymous mmap)");
  const bool shm_same = shm_after.size() == shm_before.size();
  rep.add(P, "SysV shm segments, system-wide before -> after",
          Str(shm_before.size()) + " -> " + Str(shm_after.size()),
          shm_same ? Report::Verdict::kPass : shm_left == 0 ? Report::Verdict::kInfo : Report::Verdict::kFail,
          shm_same ? "unchanged" : "changed by other users' processes (none is ours)");
  rep.check(P, "solar processes left after stop", Str(cycle_leftovers), cycle_leftovers == 0, "= 0");
  rep.check(P, "driver open fds before -> after", std::to_string(fds_before) + " -> " + std::to_string(fds_after),
            fds_before == fds_after, "unchanged");
  rep.info(P, "wall time (s)", Fixed(SecondsSince(t0), 1));
}

}  // namespace solar::chaos
