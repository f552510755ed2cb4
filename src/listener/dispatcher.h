// Dispatcher: which worker gets a new connection. Pure policy, no I/O
// (STYLE rule 11). All of a connection's requests go to the worker chosen
// here, so its replies stay in order.
// Runs in: listener.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "config.pb.h"

namespace solar {

class Dispatcher {
 public:
  // `workers`: every slot that may ever be addressed (max_workers).
  Dispatcher(DispatchMode mode, size_t workers, size_t start);

  // Picks the worker for a new connection among the first `active` (a HUP
  // may lower or raise it; slots above it only finish their connections).
  size_t assign(size_t active);
  // A connection on `worker` closed.
  void release(size_t worker);
  // A worker that cannot start gets no new connections while another can
  // take them (the master says when it can start again).
  void setAvailable(size_t worker, bool available);
  size_t connections(size_t worker) const { return load_[worker]; }

 private:
  DispatchMode mode_;
  std::vector<uint64_t> load_;
  std::vector<bool> down_;
  size_t next_;
};

}  // namespace solar
