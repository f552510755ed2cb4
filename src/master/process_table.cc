#include "master/process_table.h"

#include <algorithm>

namespace solar {

int64_t RespawnPolicy::onExit(ChildSlot* slot, int64_t now_ms) const {
  if (now_ms - slot->started_ms >= min_life_ms_) {
    slot->fast_failures = 0;
    return 0;
  }
  ++slot->fast_failures;
  int shift = std::min(slot->fast_failures - 1, 20);
  return std::min<int64_t>(int64_t{100} << shift, max_ms_);
}

ChildSlot& ProcessTable::add(Role role, int index, size_t board, size_t alt_board) {
  ChildSlot s;
  s.role = role;
  s.index = index;
  s.board = board;
  s.alt_board = alt_board;
  slots_.push_back(s);
  return slots_.back();
}

ChildSlot* ProcessTable::byPid(pid_t pid) {
  for (auto& s : slots_) {
    if (s.pid == pid) return &s;
  }
  return nullptr;
}

ChildSlot* ProcessTable::byStandbyPid(pid_t pid) {
  for (auto& s : slots_) {
    if (s.standby_pid == pid) return &s;
  }
  return nullptr;
}

size_t ProcessTable::running(Role role) const {
  return std::count_if(slots_.begin(), slots_.end(), [&](const ChildSlot& s) { return s.role == role && s.pid > 0; });
}

size_t ProcessTable::running() const {
  return std::count_if(slots_.begin(), slots_.end(),
                       [](const ChildSlot& s) { return s.pid > 0 || s.standby_pid > 0; });
}

}  // namespace solar
