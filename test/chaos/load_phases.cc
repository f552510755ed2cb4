// Phases 1 and 2: kill -9 under load, then rolling reloads and HUPs under load.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <thread>

#include "chaos_load.h"
#include "phases.h"
#include "server_harness.h"

namespace solar::chaos {

namespace {

using solar::testing::ServerHarness;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kWorkers = 4;
constexpr int kListeners = 2;
const char* const kChaosConfig = "workers: 4\nlisteners: 2\nworker { name: \"builtin:debug\" }\n";

bool WaitAllServing(const ServerHarness& s, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    bool all = true;
    for (int i = 0; i < kWorkers && all; ++i) all = s.childPid("worker " + std::to_string(i)) > 0;
    for (int i = 0; i < kListeners && all; ++i) all = s.childPid("listener " + std::to_string(i)) > 0;
    if (all) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
}

void ReportHung(const LoadResult& r) {
  for (const HungConnection& h : r.hung_connections)
    Say("  HUNG: client port %d (connection #%d), %zu request(s) unanswered after %zu answered; oldest id %llu, "
        "%zu B%s, waiting %lld ms; %zu request bytes never written\n",
        h.local_port, h.generation, h.pending, h.answered, static_cast<unsigned long long>(h.oldest_id),
        h.oldest_bytes, h.oldest_is_sleep ? " (sleep)" : "", static_cast<long long>(h.oldest_age_ms),
        h.unsent_bytes);
}

LoadOptions ChaosLoadOptions(const Settings& st, unsigned salt) {
  LoadOptions o;
  o.connections = st.connections;
  o.seed = st.seed * 31 + salt;
  return o;
}

bool WaitAnswered(const ChaosLoad& load, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (load.answered() == 0) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

// The rows every load phase reports the same way.
void ReportLoad(Report& rep, const std::string& phase, const LoadResult& r, bool closes_allowed) {
  rep.check(phase, "requests answered", Str(r.answered), r.answered > 0, "> 0");
  rep.check(phase, "mismatches", Str(r.mismatches), r.mismatches == 0, "= 0");
  if (closes_allowed) {
    rep.info(phase, "connections closed by the server", Str(r.closed_by_server), "allowed: kills");
    rep.info(phase, "requests lost with a closed connection", Str(r.lost_with_connection),
             "allowed: held by a killed process");
  } else {
    rep.check(phase, "connections closed by the server", Str(r.closed_by_server), r.closed_by_server == 0, "= 0");
  }
  rep.check(phase, "hung requests", Str(r.hung), r.hung == 0, "= 0");
  rep.info(phase, "slowest reply (ms)", Str(static_cast<uint64_t>(r.max_latency_ms)));
  if (r.connect_failures > 0) rep.info(phase, "failed connects (retried)", Str(r.connect_failures));
  if (!r.first_mismatch.empty()) Say("  first mismatch: %s\n", r.first_mismatch.c_str());
}

// ---- phase 1: kill -9 ----

// SIGKILLs `role N` for a random N that has a live process; false if none has.
bool KillRandom(const ServerHarness& s, const std::string& role, int count, std::mt19937& rng,
                std::vector<ProcessIdentity>* seen) {
  const int first = static_cast<int>(rng() % static_cast<unsigned>(count));
  for (int k = 0; k < count; ++k) {
    pid_t pid = s.childPid(role + " " + std::to_string((first + k) % count));
    if (pid <= 0) continue;  // being respawned right now
    seen->push_back(IdentifyProcess(pid));
    if (kill(pid, SIGKILL) == 0) return true;
  }
  return false;
}

// ---- phase 2: rolling reloads and HUPs ----

// HUP must find something to apply: idle_timeout_ms toggles between two values.
bool ToggleIdleTimeout(const ServerHarness& s) {
  std::ifstream in(s.configPath());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  static const std::string kA = "idle_timeout_ms: 300000", kB = "idle_timeout_ms: 299000";
  size_t at = text.find(kA);
  if (at != std::string::npos) {
    text.replace(at, kA.size(), kB);
  } else if ((at = text.find(kB)) != std::string::npos) {
    text.replace(at, kB.size(), kA);
  } else {
    return false;
  }
  const std::string tmp = s.configPath() + ".tmp";
  std::ofstream(tmp) << text;
  return std::rename(tmp.c_str(), s.configPath().c_str()) == 0;
}

size_t Occurrences(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace

void KillPhase(const Settings& st, std::mt19937& rng, Report& rep, std::vector<ProcessIdentity>* leftovers) {
  const std::string P = "1 kill -9";
  const auto t0 = Clock::now();
  Say("phase 1: kill -9 under load, %d s, %d workers, %d listeners, %d connections\n", st.kill_seconds, kWorkers,
      kListeners, st.connections);
  ServerHarness server(kChaosConfig);
  if (!server.start()) {
    rep.check(P, "server started", "no", false, "log: " + SaveLog(st, "phase1.log", server.log()));
    return;
  }
  std::vector<ProcessIdentity> seen = ServerProcesses(server);
  const MasterStatus before = ReadStatus(server);
  ChaosLoad load(server.port(), ChaosLoadOptions(st, 1));
  load.start();
  WaitAnswered(load, seconds(10));
  uint64_t worker_kills = 0, listener_kills = 0, missed = 0;
  const auto start = Clock::now();
  for (int tick = 1; tick * 2 <= st.kill_seconds; ++tick) {
    std::this_thread::sleep_until(start + seconds(2 * tick));
    if (KillRandom(server, "worker", kWorkers, rng, &seen)) ++worker_kills; else ++missed;
    if (tick % 5 == 0) {
      if (KillRandom(server, "listener", kListeners, rng, &seen)) ++listener_kills; else ++missed;
      Say("  %3d s: answered %llu, connections closed by the server %llu, killed %llu worker(s) %llu listener(s)\n",
          2 * tick, static_cast<unsigned long long>(load.answered()),
          static_cast<unsigned long long>(load.closedByServer()), static_cast<unsigned long long>(worker_kills),
          static_cast<unsigned long long>(listener_kills));
    }
  }
  std::this_thread::sleep_until(start + seconds(st.kill_seconds));
  const LoadResult r = load.stop();
  const bool serving = WaitAllServing(server, seconds(10));
  const MasterStatus after = ReadStatus(server);
  for (auto& p : ServerProcesses(server)) seen.push_back(p);
  const int code = server.stop();
  const std::string log_path = SaveLog(st, "phase1.log", server.log());
  const uint64_t kills = worker_kills + listener_kills;
  const uint64_t respawns = after.respawns - before.respawns;

  ReportLoad(rep, P, r, /*closes_allowed=*/true);
  rep.info(P, "kills: workers + listeners", Str(worker_kills) + " + " + Str(listener_kills),
           missed ? Str(missed) + " tick(s) found no live process" : "");
  rep.check(P, "respawns (/status)", Str(respawns), before.ok && after.ok && respawns == kills,
            "= kills (" + Str(kills) + ")");
  rep.check(P, "every slot served at the end", serving ? "yes" : "no", serving, "");
  rep.check(P, "master exit status on TERM", std::to_string(code), code == 0, "= 0");
  const auto left = Leftovers(seen);
  for (const auto& p : left) leftovers->push_back(p);
  rep.info(P, "wall time (s)", Fixed(SecondsSince(t0), 1), log_path.empty() ? "" : "log: " + log_path);
  if (r.hung > 0 || r.mismatches > 0) {
    ReportHung(r);
    Say("  server log, deaths and closes (last 30):\n");
    PrintDeathLines(server.log(), 30);
  }
}

// ---- phase 2: rolling reloads and HUPs ----

void ReloadPhase(const Settings& st, Report& rep, std::vector<ProcessIdentity>* leftovers) {
  const std::string P = "2 reload";
  const auto t0 = Clock::now();
  Say("phase 2: %d USR1 and %d HUP under load, each after the previous finished\n", st.reloads, st.hups);
  ServerHarness server(std::string(kChaosConfig) + "idle_timeout_ms: 300000\n");
  if (!server.start()) {
    rep.check(P, "server started", "no", false, "log: " + SaveLog(st, "phase2.log", server.log()));
    return;
  }
  std::vector<ProcessIdentity> seen = ServerProcesses(server);
  const MasterStatus before = ReadStatus(server);
  ChaosLoad load(server.port(), ChaosLoadOptions(st, 2));
  load.start();
  WaitAnswered(load, seconds(10));
  std::this_thread::sleep_for(milliseconds(500));
  const int fds_before = CountFds(server.pid());
  const auto fd_list_before = ListFds(server.pid());

  const int ops = st.reloads + st.hups;
  int hups = 0, usr1 = 0, unfinished = 0;
  double slowest = 0, total = 0;
  for (int i = 0; i < ops; ++i) {
    // HUPs spread evenly among the USR1s.
    const bool hup = hups < st.hups && static_cast<int64_t>(hups) * ops < static_cast<int64_t>(i + 1) * st.hups;
    const MasterStatus now = ReadStatus(server);
    if (hup) ToggleIdleTimeout(server);
    const auto op_start = Clock::now();
    kill(server.pid(), hup ? SIGHUP : SIGUSR1);
    (hup ? hups : usr1)++;
    bool done = false;
    const auto deadline = op_start + seconds(30);
    while (!done && Clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(10));
      const MasterStatus s = ReadStatus(server);
      done = s.ok && s.reloads > now.reloads && s.state == "running";
    }
    const double took = SecondsSince(op_start);
    slowest = std::max(slowest, took);
    total += took;
    if (!done) {
      ++unfinished;
      Say("  %s #%d did not finish within 30 s\n", hup ? "HUP" : "USR1", hup ? hups : usr1);
    }
    if ((i + 1) % 10 == 0)
      Say("  %d/%d done: answered %llu, connections closed by the server %llu\n", i + 1, ops,
          static_cast<unsigned long long>(load.answered()), static_cast<unsigned long long>(load.closedByServer()));
    std::this_thread::sleep_for(milliseconds(200));  // the load runs between reloads too
  }
  // A reload's last steps (reaping the old worker) may trail its counter: let it settle.
  int fds_after = CountFds(server.pid());
  for (int i = 0; i < 30 && fds_after != fds_before; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
    fds_after = CountFds(server.pid());
  }
  const auto fd_list_after = ListFds(server.pid());
  const LoadResult r = load.stop();
  const MasterStatus after = ReadStatus(server);
  for (auto& p : ServerProcesses(server)) seen.push_back(p);
  const std::string log = server.log();
  const int code = server.stop();
  const std::string log_path = SaveLog(st, "phase2.log", server.log());

  ReportLoad(rep, P, r, /*closes_allowed=*/false);
  const uint64_t failed = r.mismatches + r.lost_with_connection + r.hung;
  rep.check(P, "failed requests during reloads", Str(failed), failed == 0, "= 0 (mismatch + closed + hung)");
  rep.check(P, "USR1 + HUP finished", Str(usr1) + " + " + Str(hups), unfinished == 0 && usr1 == st.reloads &&
                                                                         hups == st.hups,
            "each within 30 s");
  const uint64_t reloads = after.reloads - before.reloads;
  rep.check(P, "reloads counted (/status)", Str(reloads), after.ok && reloads == static_cast<uint64_t>(ops),
            "= " + std::to_string(ops));
  rep.check(P, "reload failures (/status)", Str(after.reload_failures - before.reload_failures),
            after.ok && after.reload_failures == before.reload_failures, "= 0");
  const size_t reread = Occurrences(log, "HUP: configuration re-read");
  rep.check(P, "HUPs applied (log)", Str(reread), reread == static_cast<size_t>(st.hups),
            "= " + std::to_string(st.hups));
  rep.info(P, "slowest / mean reload (ms)",
           Fixed(slowest * 1000, 0) + " / " + Fixed(ops ? total * 1000 / ops : 0, 0));
  rep.check(P, "master open fds before -> after", std::to_string(fds_before) + " -> " + std::to_string(fds_after),
            fds_before > 0 && fds_before == fds_after, "unchanged");
  if (fds_before != fds_after) {
    for (const auto& [fd, target] : fd_list_after)
      if (!fd_list_before.count(fd) || fd_list_before.at(fd) != target)
        Say("  master fd %d -> %s is new\n", fd, target.c_str());
    for (const auto& [fd, target] : fd_list_before)
      if (!fd_list_after.count(fd)) Say("  master fd %d -> %s was closed\n", fd, target.c_str());
  }
  rep.check(P, "master exit status on TERM", std::to_string(code), code == 0, "= 0");
  const auto left = Leftovers(seen);
  for (const auto& p : left) leftovers->push_back(p);
  rep.info(P, "wall time (s)", Fixed(SecondsSince(t0), 1), log_path.empty() ? "" : "log: " + log_path);
  if (failed > 0 || r.closed_by_server > 0) {
    ReportHung(r);
    Say("  server log, deaths and closes (last 30):\n");
    PrintDeathLines(log, 30);
  }
}

}  // namespace solar::chaos
