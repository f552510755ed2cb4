// `solar-cli bench-direct-pg`: the set-up solar replaces, measured. Each of N
// client threads runs the KV workload (get/put mix over a key space) straight
// against PostgreSQL the way a web tier without a middle tier does: a new
// connection for every request (connect, authenticate, one statement,
// disconnect). Compare its throughput with solar-bench --workload kv against
// solar on the same database (docs/kv.md, scripts/kv_bench.sh).
//
// Keys and values are those of solar-bench's kv workload, so either can read
// what the other wrote.
// Runs in: solar-cli.
#pragma once

#include <string>
#include <vector>

namespace solar::cli {

// `args` excludes "bench-direct-pg". Prints a report (and JSON with --json);
// returns the exit code: 0 when every request succeeded, 1 otherwise, 2 on a
// usage error.
int RunDirectPgBench(const std::vector<std::string>& args);

}  // namespace solar::cli
