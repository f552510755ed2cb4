// Starting the user's Worker in a worker process, the same for TCP and UDP:
// load it (built-in or module), run onStart, and compute when it should ask to
// be recycled (max_requests + jitter).
// Runs in: worker and UDP worker processes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "api/worker.h"
#include "app/child_context.h"

namespace solar {

struct StartedWorker {
  std::unique_ptr<Worker> worker;  // nullptr: failed (logged); exit with kExitRespawn
  std::string name;                // its registered name
  uint64_t recycle_after = 0;      // requests before asking for a replacement; 0 = never
};

StartedWorker StartWorker(const ChildContext& ctx, Transport transport);

}  // namespace solar
