// The supervisor's view of the running processes: the scoreboard, and /proc
// for a worker's resident size.
// Runs in: master.
#pragma once

#include "master/supervisor.h"
#include "scoreboard/scoreboard.h"

namespace solar {

class BoardProbe : public SlotProbe {
 public:
  // `listener_boards`: the scoreboard slot of each listener.
  BoardProbe(Scoreboard* board, std::vector<size_t> listener_boards)
      : board_(board), listener_boards_(std::move(listener_boards)) {}
  SlotState boardState(size_t board) const override;
  int64_t requestStartMs(size_t board) const override;
  bool recycleAsked(size_t board) const override;
  int64_t rssMb(pid_t pid) const override;
  uint64_t workerLoad(int index) const override;
  std::string describeRequest(size_t board) const override;

 private:
  Scoreboard* board_;
  std::vector<size_t> listener_boards_;
};

}  // namespace solar
