#include "listener/dispatcher.h"

namespace solar {

Dispatcher::Dispatcher(DispatchMode mode, size_t workers, size_t start)
    : mode_(mode), load_(workers, 0), down_(workers, false), next_(workers ? start % workers : 0) {}

size_t Dispatcher::assign(size_t active) {
  size_t n = active == 0 || active > load_.size() ? load_.size() : active;
  if (next_ >= n) next_ = 0;
  // Round-robin from next_ over the workers that can serve; all down: next_
  // (the connection's requests are then refused at once, not left waiting).
  size_t pick = next_;
  for (size_t k = 0; k < n; ++k) {
    if (!down_[(next_ + k) % n]) {
      pick = (next_ + k) % n;
      break;
    }
  }
  if (mode_ == LEAST_CONNECTIONS) {
    // Ties go round-robin from next_, so equal loads still rotate.
    for (size_t k = 0; k < n; ++k) {
      size_t i = (next_ + k) % n;
      if (!down_[i] && load_[i] < load_[pick]) pick = i;
    }
  }
  next_ = (pick + 1) % n;
  ++load_[pick];
  return pick;
}

void Dispatcher::setAvailable(size_t worker, bool available) {
  if (worker < down_.size()) down_[worker] = !available;
}

void Dispatcher::release(size_t worker) {
  if (worker < load_.size() && load_[worker] > 0) --load_[worker];
}

}  // namespace solar
