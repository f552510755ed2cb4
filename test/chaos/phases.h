// Runs in: solar-chaos. The three phases of `make chaos` and what they share:
// the settings, reading a server from outside (/status, its processes), logs.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "census.h"
#include "report.h"

namespace solar::testing {
class ServerHarness;
}

namespace solar::chaos {

struct Settings {
  int kill_seconds = 60;  // phase 1
  int reloads = 20;       // phase 2: USR1s
  int hups = 10;          // phase 2: HUPs
  int cycles = 50;        // phase 3
  int connections = 50;   // load of phases 1 and 2
  unsigned seed = 0;
  std::string out_dir;    // the servers' logs go here; "" = not kept
};

// Each phase adds its rows to `rep`, and every process of its server that is
// still running after that server stopped to `leftovers`.
void KillPhase(const Settings& st, std::mt19937& rng, Report& rep, std::vector<ProcessIdentity>* leftovers);
void ReloadPhase(const Settings& st, Report& rep, std::vector<ProcessIdentity>* leftovers);
void CyclePhase(const Settings& st, Report& rep, std::vector<ProcessIdentity>* leftovers);

// ---- shared by the phases (phase_support.cc) ----

using Clock = std::chrono::steady_clock;

void Say(const char* fmt, ...) __attribute__((format(printf, 1, 2)));  // to stdout, flushed
std::string Str(uint64_t n);
std::string Fixed(double v, int decimals);
double SecondsSince(Clock::time_point t0);

struct MasterStatus {
  bool ok = false;  // /status answered and parsed
  std::string state;
  uint64_t reloads = 0;
  uint64_t reload_failures = 0;
  uint64_t respawns = 0;
};
// The master's part of GET /status on the admin endpoint.
MasterStatus ReadStatus(const testing::ServerHarness& s);
// The master and its children as they are now.
std::vector<ProcessIdentity> ServerProcesses(const testing::ServerHarness& s);
// Those of `seen` still running after up to 2 s (for a server that has stopped).
std::vector<ProcessIdentity> Leftovers(const std::vector<ProcessIdentity>& seen);
// Writes a server's log to st.out_dir/name; returns the path, "" if not kept.
std::string SaveLog(const Settings& st, const std::string& name, const std::string& text);
// Prints the last `max_lines` log lines about deaths, closes and errors: the
// evidence that goes with a failure.
void PrintDeathLines(const std::string& log, size_t max_lines);

}  // namespace solar::chaos
