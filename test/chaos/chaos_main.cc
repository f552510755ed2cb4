// solar-chaos: the bounded chaos and soak run behind `make chaos` (not part of
// `make test`). Three phases against the real binary on loopback:
//
//   1. kill -9 under load: 4 workers, 2 listeners; every 2 s SIGKILL a random
//      worker, every 10 s a random listener, for CHAOS_SECONDS (60).
//   2. reloads under load: CHAOS_RELOADS (20) USR1 and CHAOS_HUPS (10) HUP,
//      each after the previous one finished (/status "reloads" grew).
//   3. CHAOS_CYCLES (50) start/stop cycles with UDP on.
//
// It ends with a table of every figure, PASS/FAIL per bounded one, and exits 1
// on any FAIL. It signals only the servers it started, and their children.
// Other settings: CHAOS_CONNECTIONS (50), CHAOS_SEED, CHAOS_OUT (a directory
// for the servers' logs), SOLAR_BIN (the server binary).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "phases.h"
#include "server_harness.h"

namespace solar::chaos {
namespace {

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

int Main() {
  signal(SIGPIPE, SIG_IGN);
  Settings st;
  st.kill_seconds = std::max(2, EnvInt("CHAOS_SECONDS", st.kill_seconds));
  st.reloads = std::max(0, EnvInt("CHAOS_RELOADS", st.reloads));
  st.hups = std::max(0, EnvInt("CHAOS_HUPS", st.hups));
  st.cycles = std::max(1, EnvInt("CHAOS_CYCLES", st.cycles));
  st.connections = std::max(1, EnvInt("CHAOS_CONNECTIONS", st.connections));
  st.seed = static_cast<unsigned>(EnvInt("CHAOS_SEED", static_cast<int>(std::random_device{}() & 0x7fffffff)));
  if (const char* out = std::getenv("CHAOS_OUT")) st.out_dir = out;
  if (access(solar::testing::SolarBin().c_str(), X_OK) != 0) {
    std::fprintf(stderr, "solar-chaos: no server binary at %s (set SOLAR_BIN)\n", solar::testing::SolarBin().c_str());
    return 2;
  }
  Say("solar-chaos: %s, seed %u (CHAOS_SEED=%u repeats the random choices)\n", solar::testing::SolarBin().c_str(), st.seed,
      st.seed);
  const auto t0 = Clock::now();
  std::mt19937 rng(st.seed);
  Report rep;
  std::vector<ProcessIdentity> leftovers;
  KillPhase(st, rng, rep, &leftovers);
  ReloadPhase(st, rep, &leftovers);
  CyclePhase(st, rep, &leftovers);
  rep.check("all", "solar processes left behind", Str(leftovers.size()), leftovers.empty(), "= 0");
  for (const auto& p : leftovers) Say("  left running: pid %d \"%s\"\n", p.pid, p.title.c_str());
  rep.info("all", "wall time (s)", Fixed(SecondsSince(t0), 1));
  Say("\n");
  rep.print(stdout);
  Say("\nsolar-chaos: %s\n", rep.failed() ? "FAIL" : "PASS");
  return rep.failed() ? 1 : 0;
}

}  // namespace
}  // namespace solar::chaos

int main() { return solar::chaos::Main(); }
