// The master: binds the sockets, creates every IPC endpoint and the
// scoreboard, forks the listeners and workers, then only supervises: signals,
// reaping and respawning into the same slot, telling listeners when a worker
// died holding requests, and the graceful stop (DESIGN.md "Processes").
// It never runs user code.
// Runs in: master.
#pragma once

#include <string>

#include "config.pb.h"

namespace solar {

// Runs the server until it stops; returns the process exit code. `ready_fd`
// (daemon mode, else -1) gets one byte once every child is up.
int RunMaster(const Config& config, const std::string& config_path, int ready_fd);

}  // namespace solar
