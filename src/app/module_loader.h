// Creating the configured Worker: a built-in by name, or one loaded from a
// shared object with dlopen(). Loading happens in worker processes only — the
// master never runs user code — so a rolling reload, which forks fresh
// workers, picks up a replaced module file (as PHP's include after
// onWorkerStart does in seed 001).
// Runs in: worker processes; and a throwaway child of `solar -t` / start-up.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>

#include "base/unique_fd.h"

#include "api/worker.h"
#include "config.pb.h"

namespace solar {

// Returns the worker, with *resolved = its registered name ("builtin:echo");
// nullptr with *error set (dlopen's message, or which names exist).
std::unique_ptr<Worker> LoadWorker(const WorkerConfig& config, std::string* resolved, std::string* error);

// What the worker is told about the server, from the effective config: its
// settings, state_dir, max_frame_bytes, the config itself. The same for
// onCheck and onStart; the caller sets slot and transport.
WorkerInfo MakeWorkerInfo(const Config& config, const std::string& config_path, const std::string& resolved_name);

// Loads the worker in a forked child (so the caller's process stays free of
// user code) and reports whether that worked. *error holds the child's reason.
// When called as root the child first drops to `user`: a module's static
// initialisers are user code too, and run exactly as they will in a worker.
// It then runs the worker's onCheck with the effective config. A child that
// takes longer than timeout_ms (a module stuck in its initialisers) is killed
// and the check fails: the caller, the master, must not stop supervising.
bool CheckWorkerLoadsInChild(const Config& config, const std::string& config_path, uint32_t timeout_ms,
                             std::string* error);

// The same check, without waiting: the master starts it on a HUP and goes on
// supervising (respawns, request timeouts) while it runs. StartWorkerCheck
// forks the child; ReadWorkerCheck takes what it wrote so far without
// blocking (false once the pipe is closed); when the master has reaped
// check->pid, WorkerCheckPassed says whether it passed. Set timed_out (and
// kill the pid) when the caller's deadline passes first.
struct WorkerCheck {
  pid_t pid = -1;     // -1: none running
  UniqueFd output;    // the child's reason for refusing; EOF when it exits
  std::string why;
  bool timed_out = false;
};
// `in_child` runs first in the child (the master makes its shared memory
// read-only there); then every fd but the child's report pipe is closed: the
// module's code never holds the master's sockets, pipes or memory fds.
bool StartWorkerCheck(const Config& config, const std::string& config_path, WorkerCheck* check, std::string* error,
                      const std::function<void()>& in_child = {});
bool ReadWorkerCheck(WorkerCheck* check);
bool WorkerCheckPassed(WorkerCheck* check, int status, uint32_t timeout_ms, std::string* error);

// For logs: "module /path/libx.so" (with its worker name when given) or
// "builtin:echo" — the file a person must look at, not only a name.
std::string DescribeWorker(const WorkerConfig& config);

}  // namespace solar
