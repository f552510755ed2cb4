// OutLink: the sending end of one socketpair inside an event loop. It owns
// the OutChannel (records packed into datagrams, queued on EAGAIN), the write
// event that resumes sending when the socket drains, and whether a flush is
// due. The listener has one per worker, the worker one per listener: the
// EAGAIN / write-armed state machine lives here once.
//
// The owner learns of progress through one callback, progress(owner, index,
// drained), run from the write event: drained is true when the queue that had
// to wait is empty again.
// Runs in: listener, worker. Single-threaded.
#pragma once

#include <event2/event.h>

#include <cstddef>
#include <string_view>

#include "base/event_ptr.h"
#include "base/noncopyable.h"
#include "ipc/channel.h"
#include "ipc/record.h"

namespace solar::ipc {

class OutLink : NonCopyable {
 public:
  using ProgressFn = void (*)(void* owner, size_t index, bool drained);

  // Borrows `fd`, which must outlive the link. `index` is handed back to
  // progress() so that one callback can serve a vector of links.
  OutLink(event_base* base, int fd, size_t index, void* owner, ProgressFn progress);

  // Queues one message (see OutChannel::append); a flush is now due.
  void append(const RecordHeader& h, std::string_view payload) {
    channel_.append(h, payload);
    due_ = true;
  }

  enum class Flush {
    kNothing,  // nothing was due, or the link already waits for the socket
    kSent,     // everything queued went out
    kWaiting,  // EAGAIN: the rest goes when the socket is writable (progress() says when)
  };
  Flush flush();
  // False if its write event could not be made (event_new: out of memory).
  bool ok() const { return write_ev_ != nullptr; }

  // Sends what it can now, whatever the state (the listener's last pass
  // before exit); true when nothing is left.
  bool flushNow();

  // Drops what is queued and not yet sent; returns its bytes. (A write event
  // still armed finds nothing to send and reports the drain.)
  size_t discard() {
    const size_t bytes = channel_.pendingBytes();
    channel_.clear();
    due_ = false;
    return bytes;
  }

  bool due() const { return due_; }
  bool waiting() const { return waiting_; }
  bool hasPending() const { return channel_.hasPending(); }
  size_t pendingBytes() const { return channel_.pendingBytes(); }
  size_t index() const { return index_; }

 private:
  static void WritableCb(evutil_socket_t, short, void* arg);

  OutChannel channel_;
  EventPtr write_ev_;
  const size_t index_;
  void* const owner_;
  const ProgressFn progress_;
  bool due_ = false;
  bool waiting_ = false;  // the write event is armed
};

}  // namespace solar::ipc
