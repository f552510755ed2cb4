#include "master/board_probe.h"

#include <unistd.h>

#include <cstring>
#include <fstream>

#include "ipc/record.h"

namespace solar {

SlotState BoardProbe::boardState(size_t board) const {
  return static_cast<SlotState>(board_->slot(board).state.load());
}

int64_t BoardProbe::requestStartMs(size_t board) const {
  const WorkerSlot* w = board_->worker(board);
  return w != nullptr ? w->request_start_ms.load(std::memory_order_relaxed) : 0;
}

bool BoardProbe::recycleAsked(size_t board) const {
  const WorkerSlot* w = board_->worker(board);
  return w != nullptr && w->recycle.load() != 0;
}

int64_t BoardProbe::rssMb(pid_t pid) const {
  std::ifstream in("/proc/" + std::to_string(pid) + "/statm");
  long size = 0, resident = 0;
  if (!(in >> size >> resident)) return -1;
  return resident * (sysconf(_SC_PAGESIZE) / 1024) / 1024;
}

uint64_t BoardProbe::workerLoad(int index) const {
  uint64_t load = 0;
  for (size_t b : listener_boards_) {
    load += board_->listener(b)->conns_per_worker[index].load();
    load += board_->listener(b)->requests_per_worker[index].load();  // PER_REQUEST
  }
  return load;
}

// The client of a worker's current request, as the worker published it.
std::string BoardProbe::describeRequest(size_t board) const {
  CurrentRequest r{};
  const WorkerSlot* w = board_->worker(board);
  if (w == nullptr || !w->current.read(&r)) return "an unknown client (the worker kept rewriting its current request)";
  ipc::RecordHeader h{};
  h.addr_family = r.addr_family;
  h.port = r.port;
  std::memcpy(h.addr, r.addr, sizeof(h.addr));
  std::string s = ipc::GetAddress(h).toString();
  if (r.transport == 0) {
    s += " on connection " + std::to_string(r.listener) + ":" + std::to_string(r.conn_id) + " request " +
         std::to_string(r.seq);
  } else {
    s += " (udp)";
  }
  return s;
}

}  // namespace solar
