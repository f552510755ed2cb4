// Loading and validating solar.Config (proto/config.proto).
// The embedded defaults (generated from etc/solar.conf at build time) are parsed
// first; a config file then overrides the fields it names. Every error names
// FILE:LINE:COL, for syntax and for values alike.
// Runs in: master (and `solar -t`).
#pragma once

#include <string>
#include <vector>

#include "config.pb.h"

namespace solar {

// The text of etc/solar.conf, compiled in.
extern const char kDefaultConfigText[];

// Parses `text` (named `name` in errors) over the embedded defaults, then
// validates. Returns false with *error = "name:line:col: what".
bool ParseConfig(const std::string& text, const std::string& name, Config* out, std::string* error);

// Reads `path` and calls ParseConfig. An empty path loads the defaults alone.
bool LoadConfig(const std::string& path, Config* out, std::string* error);

// Makes pid_file, log_dir, worker.module and state_dir (resolved to its
// default when empty) absolute against the working directory, so that later chdir()s, HUP re-reads and dlopen()'s library
// search path all see the same files as the start did.
void AbsolutizePaths(Config* config);

// state_dir as configured, or its default: kRootStateDir when the master runs
// as root, "var" (under the start directory) otherwise.
inline constexpr const char kRootStateDir[] = "/var/lib/solar";
std::string ResolveStateDir(const Config& config, bool as_root);

// Settings that are valid but probably a mistake (user root), one line each,
// for `solar -t` and the start-up log.
std::vector<std::string> ConfigWarnings(const Config& config, bool as_root);

// Text format of `config`, every field shown (solar -T).
std::string ConfigToText(const Config& config);

}  // namespace solar
