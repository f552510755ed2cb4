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

// `listeners` and `workers` left out (as in the embedded defaults) fit the
// machine: counts derived from the CPUs this process may run on.
uint32_t UsableCpus();
uint32_t AutoListeners(uint32_t cpus);
uint32_t AutoWorkers(uint32_t cpus);

// Makes pid_file, log_dir, worker.module and state_dir (resolved to its
// default when empty) absolute against the working directory, so that later chdir()s, HUP re-reads and dlopen()'s library
// search path all see the same files as the start did.
void AbsolutizePaths(Config* config);

// state_dir as configured, or its default: kRootStateDir when the master runs
// as root, "var" (under the start directory) otherwise.
inline constexpr const char kRootStateDir[] = "/var/lib/solar";
std::string ResolveStateDir(const Config& config, bool as_root);

// What a start needs from the file system and can be known before it: the
// pid file's directory exists and is writable (it is not created: as root that
// would create directories wherever a typo points), log_dir is writable or
// creatable. False with *error naming the path. For -t and the start.
bool CheckPaths(const Config& config, std::string* error);

// `error` from a worker's onCheck, prefixed "NAME:LINE:COL: " when it names a
// setting written in `text` (the config file) as "section.field:" or, for the
// worker's own settings, "settings.KEY:" (the line of that settings entry),
// else "NAME: ". So a worker's refusal points at its line like every other
// error.
std::string LocateFieldError(const std::string& text, const std::string& name, const std::string& error);

// Settings that are valid but probably a mistake (user root), one line each,
// for `solar -t` and the start-up log.
std::vector<std::string> ConfigWarnings(const Config& config, bool as_root);

// Text format of `config` (fields at their zero value are left out).
std::string ConfigToText(const Config& config);
// The same with every field of every present section shown, zeros included
// (solar -T: the effective configuration, nothing implied).
std::string ConfigToTextAllFields(const Config& config);

}  // namespace solar
