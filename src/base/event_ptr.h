// Owning pointers for libevent objects (event_free / event_base_free).
// Runs in: every process with an event loop.
#pragma once

#include <event2/event.h>

#include <memory>

namespace solar {

struct EventDeleter {
  void operator()(event* ev) const { event_free(ev); }
};
using EventPtr = std::unique_ptr<event, EventDeleter>;

struct EventBaseDeleter {
  void operator()(event_base* b) const { event_base_free(b); }
};
using EventBasePtr = std::unique_ptr<event_base, EventBaseDeleter>;

}  // namespace solar
