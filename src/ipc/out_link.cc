#include "ipc/out_link.h"

#include <glog/logging.h>

namespace solar::ipc {

OutLink::OutLink(event_base* base, int fd, size_t index, void* owner, ProgressFn progress)
    : channel_(fd),
      write_ev_(event_new(base, fd, EV_WRITE | EV_PERSIST, WritableCb, this)),
      index_(index),
      owner_(owner),
      progress_(progress) {}

OutLink::Flush OutLink::flush() {
  if (!due_ || waiting_) return Flush::kNothing;
  due_ = false;
  if (channel_.flush() != OutChannel::FlushResult::kAgain) return Flush::kSent;
  // A failed event_add (out of memory) is retried at the next flush.
  if (event_add(write_ev_.get(), nullptr) != 0) {
    LOG_EVERY_T(ERROR, 1) << "event_add() of a socketpair's write event failed; retrying at the next flush";
    due_ = true;
    return Flush::kWaiting;
  }
  waiting_ = true;
  return Flush::kWaiting;
}

bool OutLink::flushNow() {
  if (channel_.hasPending()) channel_.flush();
  return !channel_.hasPending();
}

void OutLink::WritableCb(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<OutLink*>(arg);
  self->due_ = false;  // what was appended meanwhile goes in this flush
  const bool drained = self->channel_.flush() != OutChannel::FlushResult::kAgain;
  if (drained) {
    event_del(self->write_ev_.get());
    self->waiting_ = false;
  }
  self->progress_(self->owner_, self->index_, drained);
}

}  // namespace solar::ipc
