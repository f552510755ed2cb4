// The release of this tree and the worker API it implements, for the
// `--version` of every binary (solar, solarctl, solar-cli, solar-bench).
//
// A constant, not `git describe`: a tarball without .git builds the same
// binary, and the binaries of one build always agree. Bump kVersion with a
// release; kWorkerApiVersion (api/worker.h) moves on its own, whenever the
// Worker layout changes, and is what decides whether a module loads.
// Runs in: every binary. Header only: solar-bench links no solar library.
#pragma once

#include <string>

#include "api/worker.h"

namespace solar {

inline constexpr char kVersion[] = "0.3.0";

// "solar 0.3.0 (worker API 3)", with `program` in place of "solar".
inline std::string VersionLine(const std::string& program) {
  return program + " " + kVersion + " (worker API " + std::to_string(kWorkerApiVersion) + ")";
}

}  // namespace solar
