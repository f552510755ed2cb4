// `solarctl reload` (USR1) and `solarctl reconfigure` (HUP): signal the
// master, then wait for the outcome the admin endpoint's /status shows.
//
//   - the master counts every rolling reload that completes (`reloads`) and
//     every one it stops (`reload_failures`: a replacement that cannot load
//     its module, whose onStart throws, or that is not ready within
//     reload_start_timeout_ms); solarctl waits until one of them moves;
//   - a reload already running is waited out first, since the master ignores
//     a second request during one;
//   - reconfigure first runs `solar -t` on the config in the master's start
//     directory: a file the master would refuse is reported, and the master
//     not signalled. A HUP the master refuses anyway starts no reload, so
//     that shows as no reload within reload_start_timeout_ms;
//   - on a failure the reason comes from the server's log when solarctl can
//     read it (server_log.h), else solarctl says where to look.
// Without an endpoint to ask (admin_listen "" or port 0 and no --admin) the
// signal is sent and solarctl says it cannot wait.
// Runs in: solarctl.
#pragma once

#include <cstdint>
#include <string>

#include "config/config.h"
#include "master_locator.h"

namespace solar::ctl {

struct ReloadCommand {
  int signal = 0;           // SIGUSR1 (reload) or SIGHUP (reconfigure)
  std::string config_path;  // as given with -c ("" = the embedded defaults)
  std::string admin;        // --admin, or "" for the config's admin_listen
  int64_t timeout_ms = 0;   // --timeout; 0 = long enough for every worker to be replaced
  bool wait = true;         // false with --no-wait
};

// Returns the exit code: 0 done, 1 failed (the message is printed).
int RunReload(const ReloadCommand& command, const Config& config, const MasterLocation& master);

// Runs `solar -t [-c CONFIG]` with the solar beside this solarctl, in `dir`
// ("" = here). Its output goes to *output, or through when output is null.
// Returns its exit code (1 if it could not run).
int RunSolarCheck(const std::string& config_path, const std::string& dir, std::string* output);

}  // namespace solar::ctl
