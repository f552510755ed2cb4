// EventLoop: the libevent loop of one role's process, owned in one place: the
// event base, the signal events, and an optional end-of-pass callback that
// runs after the I/O of a loop pass (one flush per pass instead of one per
// event). Every role with a loop (listener, worker, UDP listener, admin) uses
// it; callbacks get their owner through the event argument, never a global.
// Runs in: every child process with an event loop. Single-threaded.
#pragma once

#include <event2/event.h>

#include <vector>

#include "base/event_ptr.h"
#include "base/noncopyable.h"

namespace solar {

class EventLoop : NonCopyable {
 public:
  // The destructor frees the events before the base; a signal whose event is
  // freed goes back to its default action (see Worker's teardown).
  ~EventLoop();

  // Creates the base. With an end-of-pass callback, it runs once after the
  // I/O events active in the pass that scheduled it (see event_loop.cc).
  // False (logged by the caller) when libevent cannot make a base.
  bool init(event_callback_fn end_of_pass = nullptr, void* arg = nullptr);
  event_base* base() const { return base_.get(); }

  // A persistent event for `signal`, calling cb(signal, EV_SIGNAL, arg).
  bool onSignal(int signal, event_callback_fn cb, void* arg);
  // Drops the signal events (their signals return to the default action).
  void clearSignals() { signals_.clear(); }

  // Asks for the end-of-pass callback once, after this pass's I/O; repeated
  // calls in one pass run it once.
  void scheduleEndOfPass();

  // An owned event on this base (event_new).
  EventPtr newEvent(evutil_socket_t fd, short what, event_callback_fn cb, void* arg) const {
    return EventPtr(event_new(base_.get(), fd, what, cb, arg));
  }

  // Runs until exit()/breakNow() or until no event is left.
  void run() { event_base_dispatch(base_.get()); }
  // Ends the loop after the current pass (event_base_loopexit).
  void exit() { event_base_loopexit(base_.get(), nullptr); }
  // Ends the loop after the current callback (event_base_loopbreak).
  void breakNow() { event_base_loopbreak(base_.get()); }

 private:
  static void EndOfPassCb(evutil_socket_t, short, void* arg);

  EventBasePtr base_;  // declared first: destroyed last
  std::vector<EventPtr> signals_;
  EventPtr end_of_pass_;
  event_callback_fn end_of_pass_cb_ = nullptr;
  void* end_of_pass_arg_ = nullptr;
  bool scheduled_ = false;
};

}  // namespace solar
