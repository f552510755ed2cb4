#include <netinet/in.h>
#include <sys/socket.h>

#include <csignal>
#include <cstring>
#include <exception>
#include <vector>

#include <glog/logging.h>

#include "app/worker_start.h"
#include "ipc/address_codec.h"
#include "ipc/msg_queue.h"
#include "udp/udp_listener.h"

namespace solar {
namespace {

volatile sig_atomic_t g_stop = 0;    // TERM: drain the queue, then exit
volatile sig_atomic_t g_retire = 0;  // USR1 (reload): finish this message, exit; others take the rest

void OnStop(int) { g_stop = 1; }
void OnRetire(int) { g_retire = 1; }

}  // namespace

int RunUdpWorker(const ChildContext& ctx) {
  StartedWorker started = StartWorker(ctx, Transport::kUdp);
  if (!started.worker) return kExitRespawn;
  std::unique_ptr<Worker> worker = std::move(started.worker);

  // No SA_RESTART: a stop signal must interrupt a blocking msgrcv (which the
  // kernel never restarts anyway). The master repeats TERM while it waits, so
  // one that lands just before msgrcv is not lost.
  struct sigaction sa {};
  sa.sa_handler = OnStop;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGTERM}) sigaction(s, &sa, nullptr);
  sa.sa_handler = OnRetire;
  sigaction(SIGUSR1, &sa, nullptr);
  uint64_t served = 0;
  const uint64_t recycle_after = started.recycle_after;

  ipc::MsgQueue queue(ctx.queue_id);
  std::vector<char> buf(sizeof(long) + std::max<size_t>(ctx.queue_msgmax, 65536 + 64));
  ProcessSlot* slot = ctx.slot;
  WorkerSlot* mine = ctx.worker_slot;
  slot->state.store(static_cast<uint8_t>(SlotState::kIdle));
  Response resp;
  ConnectionId none;
  bool recycle_asked = false;
  auto serve = [&](const ClientAddress& peer, std::string_view payload) {
    CurrentRequest current{};
    current.transport = 1;
    ipc::PackAddress(peer, &current.addr_family, &current.port, current.addr);
    mine->current.publish(current);
    mine->request_start_ms.store(NowMonotonicMs(), std::memory_order_relaxed);
    slot->state.store(static_cast<uint8_t>(SlotState::kBusy), std::memory_order_relaxed);
    Request req(Transport::kUdp, payload, peer, none, 0);
    resp.clear();
    try {
      worker->process(req, resp);
    } catch (const std::exception& e) {
      Add(slot, kErrors);
      LOG_EVERY_T(ERROR, 1) << "udp worker " << ctx.index << ": process() threw for " << peer.toString() << ": "
                            << e.what();
      resp.clear();
      resp.noReply();
    }
    if (resp.isError()) {  // no error datagram exists: the client times out
      Add(slot, kErrors);
      resp.noReply();
    }
    Add(slot, kRequests);
    Add(slot, kBytesIn, payload.size());
    if (!resp.isNoReply()) {
      const auto* to = reinterpret_cast<const sockaddr*>(&peer.storage);
      socklen_t len = peer.family() == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
      ssize_t s;
      do {
        s = sendto(ctx.udp_fd, resp.body().data(), resp.body().size(), MSG_DONTWAIT, to, len);
      } while (s < 0 && errno == EINTR);
      if (s < 0) {
        Add(slot, kUdpSendErrors);
        PLOG_EVERY_N(WARNING, 1000) << "udp worker " << ctx.index << ": sendto(" << peer.toString() << ") failed";
      } else {
        Add(slot, kBytesOut, static_cast<uint64_t>(s));
      }
    }
    mine->request_start_ms.store(0, std::memory_order_relaxed);
    slot->state.store(static_cast<uint8_t>(SlotState::kIdle), std::memory_order_relaxed);
    ++served;
  };
  for (;;) {
    if (g_retire) break;
    const bool draining = g_stop != 0;
    int err = 0;
    ssize_t n = queue.receive(buf.data(), buf.size(), draining, &err);
    if (n < 0) {
      if (err == EINTR) continue;
      if (err == ENOMSG) break;                   // drained after a stop
      if (err == EIDRM || err == EINVAL) break;  // the master removed the queue
      LOG_EVERY_T(ERROR, 5) << "udp worker " << ctx.index << ": msgrcv() failed: " << std::strerror(err);
      continue;
    }
    // A message holds one or more datagrams (the listener packs a receive's
    // worth); each is answered as soon as it is processed: a reply is never
    // held back for the ones after it (one may be slow).
    std::string_view rest(buf.data() + sizeof(long), static_cast<size_t>(n));
    while (!rest.empty()) {
      ClientAddress peer;
      std::string_view payload;
      if (!ipc::NextUdpMessage(&rest, &peer, &payload)) {
        Add(slot, kBadRecords);
        LOG_EVERY_T(ERROR, 5) << "udp worker " << ctx.index << ": invalid message on the queue; rest dropped";
        break;
      }
      serve(peer, payload);
    }
    if (recycle_after != 0 && served >= recycle_after && !recycle_asked) {
      recycle_asked = true;
      mine->recycle.store(1);
    }
  }
  slot->state.store(static_cast<uint8_t>(g_retire ? SlotState::kRetiring : SlotState::kStopping));
  try {
    worker->onStop();
  } catch (const std::exception& e) {
    LOG(ERROR) << "udp worker " << ctx.index << ": onStop failed: " << e.what();
  }
  return kExitOk;
}

}  // namespace solar
