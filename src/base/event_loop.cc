#include "base/event_loop.h"

namespace solar {

EventLoop::~EventLoop() {
  end_of_pass_.reset();
  signals_.clear();
}

bool EventLoop::init(event_callback_fn end_of_pass, void* arg) {
  base_.reset(event_base_new());
  if (!base_) return false;
  if (end_of_pass != nullptr) {
    // Two priorities, and events get the default (1), as the end-of-pass
    // event does: an activated end-of-pass event runs after the I/O events
    // already active in this pass (same priority, in order), so one pass
    // batches everything it read into as few sends as possible. (I/O at 0
    // would starve the flush while new I/O keeps arriving.)
    if (event_base_priority_init(base_.get(), 2) != 0) return false;
    end_of_pass_cb_ = end_of_pass;
    end_of_pass_arg_ = arg;
    end_of_pass_.reset(event_new(base_.get(), -1, 0, EndOfPassCb, this));
    if (!end_of_pass_ || event_priority_set(end_of_pass_.get(), 1) != 0) return false;
  }
  return true;
}

bool EventLoop::onSignal(int signal, event_callback_fn cb, void* arg) {
  EventPtr ev(evsignal_new(base_.get(), signal, cb, arg));
  if (!ev || event_add(ev.get(), nullptr) != 0) return false;
  signals_.push_back(std::move(ev));
  return true;
}

void EventLoop::scheduleEndOfPass() {
  if (scheduled_ || !end_of_pass_) return;
  scheduled_ = true;
  event_active(end_of_pass_.get(), EV_TIMEOUT, 0);
}

void EventLoop::EndOfPassCb(evutil_socket_t fd, short what, void* arg) {
  auto* self = static_cast<EventLoop*>(arg);
  self->scheduled_ = false;  // before the callback: it may schedule the next pass
  self->end_of_pass_cb_(fd, what, self->end_of_pass_arg_);
}

}  // namespace solar
