// Compile-time bounds shared by the config checks and the shared-memory layout.
#pragma once

#include <cstddef>

namespace solar {

// Worker slots a listener can address (Config.max_workers is at most this).
inline constexpr size_t kMaxWorkerSlots = 256;

}  // namespace solar
