// RunBench: one load test, from resolving the target to the merged result.
// Runs in: solar-bench main thread, which supervises while the load threads
// work: it waits for signals, prints the progress line, and merges at the end.
#pragma once

#include <sys/socket.h>

#include <string>

#include "options.h"
#include "report.h"

namespace solar::bench {

// Looks up HOST:PORT (the one blocking DNS call, before any load). Returns ""
// or an error message.
std::string ResolveTarget(const Options& options, sockaddr_storage* address, socklen_t* length);

// Raises the soft RLIMIT_NOFILE to cover `fds` descriptors if it is lower
// (up to the hard limit). Returns "" or an error message.
std::string EnsureFileLimit(size_t fds);

// Runs the load described by `options` against `address`. SIGINT and SIGTERM
// are blocked for the duration (so every load thread inherits that) and end
// the run early, with results. `progress`: print a line per second on stderr.
RunResult RunBench(const Options& options, const sockaddr_storage& address, socklen_t length, bool progress);

}  // namespace solar::bench
