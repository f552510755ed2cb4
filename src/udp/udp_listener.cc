#include "udp/udp_listener.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <memory>
#include <vector>

#include <event2/event.h>
#include <glog/logging.h>

#include "base/event_loop.h"
#include "base/noncopyable.h"
#include "ipc/msg_queue.h"

namespace solar {
namespace {

constexpr unsigned kBatch = 64;        // datagrams per recvmmsg
constexpr int kBatchesPerEvent = 8;
constexpr size_t kMaxEntriesPerMessage = 16;  // datagrams packed into one queue message

class UdpListener : NonCopyable {
 public:
  explicit UdpListener(const ChildContext& ctx)
      : ctx_(ctx),
        max_(ctx.config->udp().max_datagram_bytes()),
        queue_(ctx.queue_id),
        buffers_(kBatch, std::vector<char>(max_ + 1)),
        msgs_(kBatch),
        iovs_(kBatch),
        addrs_(kBatch) {}

  int run() {
    if (!loop_.init()) {
      LOG(ERROR) << "udp listener: event_base_new failed";
      return kExitRespawn;
    }
    EventPtr rd = loop_.newEvent(ctx_.udp_fd, EV_READ | EV_PERSIST, ReadCb, this);
    if (!rd || event_add(rd.get(), nullptr) != 0 || !loop_.onSignal(SIGTERM, StopCb, this)) {
      LOG(ERROR) << "udp listener: cannot set up its events";
      return kExitRespawn;
    }
    ctx_.slot->state.store(static_cast<uint8_t>(SlotState::kIdle));
    loop_.run();
    return kExitOk;
  }

 private:
  static void ReadCb(evutil_socket_t, short, void* arg) { static_cast<UdpListener*>(arg)->onReadable(); }
  static void StopCb(evutil_socket_t, short, void* arg) {
    // Stop reading: what is queued is drained by the workers, what is still in
    // the socket is dropped with it (UDP promises no more).
    auto* self = static_cast<UdpListener*>(arg);
    self->ctx_.slot->state.store(static_cast<uint8_t>(SlotState::kStopping));
    self->loop_.breakNow();
  }

  void onReadable() {
    for (int b = 0; b < kBatchesPerEvent; ++b) {
      for (unsigned i = 0; i < kBatch; ++i) {
        iovs_[i] = {buffers_[i].data(), buffers_[i].size()};
        msgs_[i] = {};
        msgs_[i].msg_hdr.msg_iov = &iovs_[i];
        msgs_[i].msg_hdr.msg_iovlen = 1;
        msgs_[i].msg_hdr.msg_name = &addrs_[i];
        msgs_[i].msg_hdr.msg_namelen = sizeof(addrs_[i]);
      }
      int n = recvmmsg(ctx_.udp_fd, msgs_.data(), kBatch, MSG_DONTWAIT, nullptr);
      if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          PLOG_EVERY_N(ERROR, 1000) << "udp listener: recvmmsg() failed";
        }
        return;
      }
      enqueueBatch(static_cast<size_t>(n));
      if (static_cast<unsigned>(n) < kBatch) return;
    }
  }

  // Packs the n datagrams just received into as few queue messages as the
  // limits allow, but into at least one per UDP worker when there are enough
  // (a batch must not leave the other workers idle): one msgsnd for several
  // datagrams, and one msgrcv on the other side.
  void enqueueBatch(size_t n) {
    ProcessSlot* slot = ctx_.slot;
    Add(slot, kUdpReceived, n);
    const size_t workers = std::max<uint32_t>(1, ctx_.config->udp().workers());
    const size_t per_message = std::clamp<size_t>((n + workers - 1) / workers, 1, kMaxEntriesPerMessage);
    mtext_.clear();
    size_t entries = 0;
    for (size_t i = 0; i < n; ++i) {
      const mmsghdr& m = msgs_[i];
      const size_t len = m.msg_len;
      const size_t entry = len + sizeof(ipc::UdpMessageHeader);
      if (len > max_ || (m.msg_hdr.msg_flags & MSG_TRUNC) || entry > ctx_.queue_msgmax) {
        Add(slot, kTooBig);
        LOG_EVERY_T(WARNING, 5) << "udp listener: dropped a datagram of " << len << "+ bytes (limit "
                                << std::min<size_t>(max_, ctx_.queue_msgmax - sizeof(ipc::UdpMessageHeader))
                                << "; raise kernel.msgmax or udp.max_datagram_bytes)";
        continue;
      }
      if (entries > 0 && (entries == per_message || mtext_.size() + entry > ctx_.queue_msgmax)) {
        send(entries);
        mtext_.clear();
        entries = 0;
      }
      ClientAddress peer;
      std::memcpy(&peer.storage, &addrs_[i], sizeof(addrs_[i]));
      ipc::AppendUdpMessage(peer, std::string_view(static_cast<const char*>(m.msg_hdr.msg_iov->iov_base), len),
                            &mtext_);
      ++entries;
    }
    if (entries > 0) send(entries);
  }

  // Sends mtext_, which holds `entries` datagrams: all are queued or all are
  // dropped, and counted so.
  void send(size_t entries) {
    ProcessSlot* slot = ctx_.slot;
    int err = 0;
    switch (queue_.send(mtext_, &err)) {
      case ipc::MsgQueue::SendResult::kSent:
        Add(slot, kUdpQueued, entries);
        return;
      case ipc::MsgQueue::SendResult::kFull: {
        Add(slot, kQueueFull, entries);
        LOG_EVERY_T(WARNING, 5) << "udp listener: queue full (udp.queue_bytes " << ctx_.config->udp().queue_bytes()
                                << "); dropping datagrams until the workers catch up";
        return;
      }
      case ipc::MsgQueue::SendResult::kTooBig: {
        Add(slot, kTooBig, entries);
        LOG_EVERY_T(WARNING, 5) << "udp listener: a message of " << mtext_.size()
                                << " bytes is over kernel.msgmax; dropped";
        return;
      }
      case ipc::MsgQueue::SendResult::kError: {
        Add(slot, kQueueFull, entries);
        LOG_EVERY_T(ERROR, 5) << "udp listener: msgsnd() failed: " << std::strerror(err);
        return;
      }
    }
  }

  const ChildContext& ctx_;
  const size_t max_;
  ipc::MsgQueue queue_;
  EventLoop loop_;
  std::vector<std::vector<char>> buffers_;
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iovs_;
  std::vector<sockaddr_storage> addrs_;
  std::string mtext_;
};

}  // namespace

int RunUdpListener(const ChildContext& ctx) {
  UdpListener listener(ctx);
  return listener.run();
}

}  // namespace solar
