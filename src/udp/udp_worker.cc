#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <exception>
#include <memory>
#include <vector>

#include <glog/logging.h>

#include "app/worker_start.h"
#include "base/noncopyable.h"
#include "ipc/address_codec.h"
#include "ipc/msg_queue.h"
#include "udp/udp_listener.h"

namespace solar {
namespace {

volatile sig_atomic_t g_stop = 0;    // TERM: drain the queue, then exit
volatile sig_atomic_t g_retire = 0;  // USR1 (reload): finish this message, exit; others take the rest

void OnStop(int) { g_stop = 1; }
void OnRetire(int) { g_retire = 1; }

void InstallSignalHandlers() {
  // No SA_RESTART: a stop signal must interrupt a blocking msgrcv (which the
  // kernel never restarts anyway). The master repeats TERM while it waits, so
  // one that lands just before msgrcv is not lost.
  struct sigaction sa {};
  sa.sa_handler = OnStop;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGTERM}) sigaction(s, &sa, nullptr);
  sa.sa_handler = OnRetire;
  sigaction(SIGUSR1, &sa, nullptr);
}

// Takes messages off the listener's queue until a stop has drained it, a
// reload retires this worker, or the master removes the queue.
class UdpWorker : NonCopyable {
 public:
  UdpWorker(const ChildContext& ctx, std::unique_ptr<Worker> worker, uint64_t recycle_after)
      : ctx_(ctx),
        worker_(std::move(worker)),
        recycle_after_(recycle_after),
        queue_(ctx.queue_id),
        buf_(sizeof(long) + std::max<size_t>(ctx.queue_msgmax, 65536 + 64)),
        slot_(ctx.slot),
        mine_(ctx.worker_slot) {}

  int run();

 private:
  void serveMessage(std::string_view message);
  void serve(const ClientAddress& peer, std::string_view payload);
  void sendReply(const ClientAddress& peer);

  const ChildContext& ctx_;
  std::unique_ptr<Worker> worker_;
  const uint64_t recycle_after_;
  ipc::MsgQueue queue_;
  std::vector<char> buf_;
  ProcessSlot* slot_;
  WorkerSlot* mine_;
  Response resp_;
  const ConnectionId none_;
  uint64_t served_ = 0;
  bool recycle_asked_ = false;
};

int UdpWorker::run() {
  slot_->state.store(static_cast<uint8_t>(SlotState::kIdle));
  for (;;) {
    if (g_retire) break;
    const bool draining = g_stop != 0;
    int err = 0;
    ssize_t n = queue_.receive(buf_.data(), buf_.size(), draining, &err);
    if (n < 0) {
      if (err == EINTR) continue;
      if (err == ENOMSG) break;                   // drained after a stop
      if (err == EIDRM || err == EINVAL) break;  // the master removed the queue
      LOG_EVERY_T(ERROR, 5) << "udp worker " << ctx_.index << ": msgrcv() failed: " << std::strerror(err);
      continue;
    }
    serveMessage(std::string_view(buf_.data() + sizeof(long), static_cast<size_t>(n)));
    if (recycle_after_ != 0 && served_ >= recycle_after_ && !recycle_asked_) {
      recycle_asked_ = true;
      mine_->recycle.store(1);
    }
  }
  slot_->state.store(static_cast<uint8_t>(g_retire ? SlotState::kRetiring : SlotState::kStopping));
  try {
    worker_->onStop();
  } catch (const std::exception& e) {
    LOG(ERROR) << "udp worker " << ctx_.index << ": onStop failed: " << e.what();
  }
  return kExitOk;
}

void UdpWorker::serveMessage(std::string_view message) {
  // A message holds one or more datagrams (the listener packs a receive's
  // worth); each is answered as soon as it is processed: a reply is never
  // held back for the ones after it (one may be slow).
  std::string_view rest = message;
  while (!rest.empty()) {
    ClientAddress peer;
    std::string_view payload;
    if (!ipc::NextUdpMessage(&rest, &peer, &payload)) {
      Add(slot_, kBadRecords);
      LOG_EVERY_T(ERROR, 5) << "udp worker " << ctx_.index << ": invalid message on the queue; rest dropped";
      break;
    }
    serve(peer, payload);
  }
}

void UdpWorker::serve(const ClientAddress& peer, std::string_view payload) {
  CurrentRequest current{};
  current.transport = 1;
  ipc::PackAddress(peer, &current.addr_family, &current.port, current.addr);
  mine_->current.publish(current);
  mine_->request_start_ms.store(NowCoarseMs(), std::memory_order_relaxed);
  slot_->state.store(static_cast<uint8_t>(SlotState::kBusy), std::memory_order_relaxed);
  Request req(Transport::kUdp, payload, peer, none_, 0);
  resp_.clear();
  try {
    worker_->process(req, resp_);
  } catch (const std::exception& e) {
    Add(slot_, kErrors);
    LOG_EVERY_T(ERROR, 1) << "udp worker " << ctx_.index << ": process() threw for " << peer.toString() << ": "
                          << e.what();
    resp_.clear();
    resp_.noReply();
  }
  if (resp_.isError()) {  // no error datagram exists: the client times out
    Add(slot_, kErrors);
    resp_.noReply();
  }
  Add(slot_, kRequests);
  Add(slot_, kBytesIn, payload.size());
  if (!resp_.isNoReply()) sendReply(peer);
  mine_->request_start_ms.store(0, std::memory_order_relaxed);
  slot_->state.store(static_cast<uint8_t>(SlotState::kIdle), std::memory_order_relaxed);
  ++served_;
}

void UdpWorker::sendReply(const ClientAddress& peer) {
  const auto* to = reinterpret_cast<const sockaddr*>(&peer.storage);
  socklen_t len = peer.family() == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  ssize_t s;
  do {
    s = sendto(ctx_.udp_fd, resp_.bytes().data(), resp_.bytes().size(), MSG_DONTWAIT, to, len);
  } while (s < 0 && errno == EINTR);
  if (s < 0) {
    Add(slot_, kUdpSendErrors);
    PLOG_EVERY_N(WARNING, 1000) << "udp worker " << ctx_.index << ": sendto(" << peer.toString() << ") failed";
  } else {
    Add(slot_, kBytesOut, static_cast<uint64_t>(s));
  }
}

}  // namespace

int RunUdpWorker(const ChildContext& ctx) {
  StartedWorker started = StartWorker(ctx, Transport::kUdp);
  if (!started.worker) return kExitRespawn;
  InstallSignalHandlers();
  UdpWorker worker(ctx, std::move(started.worker), started.recycle_after);
  return worker.run();
}

}  // namespace solar
