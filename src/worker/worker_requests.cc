// The worker's records and requests: connections opened and closed, chunks
// reassembled, process() run one request at a time, and each reply queued to
// its listener and let off the held list once it is in the socket.
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include <glog/logging.h>

#include "worker/worker_process_impl.h"

namespace solar {
namespace {

uint64_t ConnKey(uint16_t listener, uint32_t conn_id) { return (uint64_t{listener} << 32) | conn_id; }

}  // namespace

void WorkerProcess::handleRecord(const RecordHeader& h, std::string_view payload) {
  const uint64_t key = ConnKey(h.listener_id, h.conn_id);
  switch (static_cast<RecordType>(h.type)) {
    case RecordType::kData:
      handleData(h, payload);
      return;
    case RecordType::kOpen: {
      if (conns_.count(key)) closeConn(key);  // an earlier connection in the slot lost its close
      ConnectionInfo info;
      info.id = ConnectionId{h.listener_id, h.conn_id, h.conn_gen};
      info.peer = ipc::GetAddress(h);
      conns_.emplace(key, info);
      try {
        worker_->onConnect(info);
      } catch (const std::exception& e) {
        LOG_EVERY_T(ERROR, 5) << "worker " << ctx_.index << ": onConnect threw: " << e.what();
      }
      return;
    }
    case RecordType::kClose:
      closeConn(key);
      return;
    case RecordType::kHello: {
      // Listener h.listener_id (re)started: its earlier connections are gone,
      // and so are the requests it had only partly sent (PER_REQUEST has no
      // connection entries here, so those are looked up by key).
      std::vector<uint64_t> gone;
      for (auto& [k, info] : conns_) {
        if (info.id.listener == h.listener_id) gone.push_back(k);
      }
      reassembler_.forEachPartial([&](uint64_t key, const RecordHeader& first) {
        if (first.listener_id == h.listener_id && !conns_.count(key)) gone.push_back(key);
      });
      for (uint64_t k : gone) closeConn(k);
      return;
    }
    default:
      Add(ctx_.slot, kBadRecords);
      LOG_EVERY_T(ERROR, 5) << "worker " << ctx_.index << ": unexpected record type " << int{h.type};
  }
}

void WorkerProcess::closeConn(uint64_t key) {
  RecordHeader partial;
  if (reassembler_.take(key, &partial)) held_.erase(partial.listener_id, partial.conn_id, partial.conn_gen, partial.seq);
  auto it = conns_.find(key);
  if (it == conns_.end()) return;
  ConnectionInfo info = it->second;
  conns_.erase(it);
  try {
    worker_->onClose(info);
  } catch (const std::exception& e) {
    LOG_EVERY_T(ERROR, 5) << "worker " << ctx_.index << ": onClose threw: " << e.what();
  }
}

void WorkerProcess::handleData(const RecordHeader& h, std::string_view chunk) {
  const uint64_t key = ConnKey(h.listener_id, h.conn_id);
  std::string_view message;  // a first chunk is already on the held list (onInput)
  RecordHeader discarded;
  bool was_discarded = false;
  const auto status = reassembler_.feed(key, h, chunk, &message, &discarded, &was_discarded);
  if (was_discarded) held_.erase(discarded.listener_id, discarded.conn_id, discarded.conn_gen, discarded.seq);
  switch (status) {
    case ipc::Reassembler::Status::kPartial:
      return;
    case ipc::Reassembler::Status::kOrphan: {
      // Its start went to a worker that died; the listener closes the
      // connection when the master tells it. Nothing to answer.
      Add(ctx_.slot, kOrphanChunks);
      LOG_EVERY_T(WARNING, 5) << "worker " << ctx_.index << ": dropped a request chunk whose start was lost";
      return;
    }
    case ipc::Reassembler::Status::kComplete:
      processRequest(h, message);
      return;
  }
}

void WorkerProcess::processRequest(const RecordHeader& h, std::string_view message) {
  publishBusy(h);
  ClientAddress peer = ipc::GetAddress(h);
  Request req(Transport::kTcp, message, peer, ConnectionId{h.listener_id, h.conn_id, h.conn_gen}, h.seq);
  runProcess(req, peer);
  queueReply(h);
  ProcessSlot* slot = ctx_.slot;
  Add(slot, kRequests);
  Add(slot, kBytesIn, message.size());
  Add(slot, kBytesOut, resp_.bytes().size());
  publishIdle();
}

void WorkerProcess::publishBusy(const RecordHeader& h) {
  WorkerSlot* mine = ctx_.worker_slot;
  CurrentRequest current{};
  current.listener = h.listener_id;
  current.transport = 0;
  current.conn_id = h.conn_id;
  current.conn_gen = h.conn_gen;
  current.seq = h.seq;
  current.addr_family = h.addr_family;
  current.port = h.port;
  std::memcpy(current.addr, h.addr, sizeof(h.addr));
  mine->current.publish(current);
  mine->request_start_ms.store(NowCoarseMs(), std::memory_order_relaxed);
  ctx_.slot->state.store(static_cast<uint8_t>(SlotState::kBusy), std::memory_order_relaxed);
}

void WorkerProcess::runProcess(Request& req, const ClientAddress& peer) {
  resp_.clear();
  try {
    worker_->process(req, resp_);
  } catch (const std::exception& e) {
    // An error reply for this request (the listener closes the connection
    // instead where the protocol has no error frame). Others are unaffected.
    LOG_EVERY_T(ERROR, 1) << "worker " << ctx_.index << ": process() threw for " << peer.toString() << ": "
                          << e.what();
    resp_.clear();
    resp_.error(e.what());
  } catch (...) {
    LOG_EVERY_T(ERROR, 1) << "worker " << ctx_.index << ": process() threw a non-exception";
    resp_.clear();
    resp_.error("process() threw a non-exception");
  }
  if (resp_.bytes().size() > config_.max_frame_bytes()) {
    LOG_EVERY_T(ERROR, 1) << "worker " << ctx_.index << ": reply of " << resp_.bytes().size()
                          << " bytes is over max_frame_bytes; answering with an error";
    const std::string why = "reply of " + std::to_string(resp_.bytes().size()) + " bytes is over max_frame_bytes";
    resp_.clear();
    resp_.error(why);
  }
}

void WorkerProcess::queueReply(const RecordHeader& h) {
  RecordHeader reply = ipc::MakeHeader(RecordType::kReply, h.listener_id, h.conn_id, h.conn_gen);
  reply.seq = h.seq;
  if (resp_.isError()) {
    Add(ctx_.slot, kErrors);
    reply.flags |= ipc::kFlagError;
  } else if (resp_.isNoReply()) {
    reply.flags |= ipc::kFlagNoReply;
  }
  if (resp_.isCloseAfterReply()) reply.flags |= ipc::kFlagCloseAfter;
  ListenerLink& link = listeners_[h.listener_id];
  link.out->append(reply, reply.flags & ipc::kFlagNoReply ? std::string_view() : resp_.bytes());
  link.replies_queued.push_back(ipc::HeldEntry{h.conn_id, h.conn_gen, h.seq});
}

void WorkerProcess::publishIdle() {
  WorkerSlot* mine = ctx_.worker_slot;
  mine->request_start_ms.store(0, std::memory_order_relaxed);
  ctx_.slot->state.store(static_cast<uint8_t>(retiring_ ? SlotState::kRetiring : SlotState::kIdle),
                         std::memory_order_relaxed);
  if (recycle_after_ != 0 && ++served_ == recycle_after_) {
    // Ask for a replacement; keep serving until the master hands the slot over.
    mine->recycle.store(1);
    LOG(INFO) << "worker " << ctx_.index << ": served " << served_ << " requests (max_requests); asking to be replaced";
  }
}

void WorkerProcess::flushOut() {
  for (size_t j = 0; j < listeners_.size(); ++j) {
    if (listeners_[j].out->flush() == ipc::OutLink::Flush::kSent) repliesSent(j);
  }
}

// The replies queued to listener j are in its socket: no longer held here.
void WorkerProcess::repliesSent(size_t j) {
  ListenerLink& link = listeners_[j];
  for (const auto& e : link.replies_queued) held_.erase(static_cast<uint16_t>(j), e.conn_id, e.conn_gen, e.seq);
  link.replies_queued.clear();
}

void WorkerProcess::onOutDrained(size_t j) {
  repliesSent(j);
  if (!anyPending()) {
    if (retiring_ && reassembler_.partials() == 0) {
      loop_.exit();
      return;
    }
    setInputEnabled(true);
    if (input_enabled_) onInput();  // the socket may have filled while we were not reading
  }
}

bool WorkerProcess::anyPending() const {
  for (const auto& link : listeners_) {
    if (link.out->waiting()) return true;
  }
  return false;
}

}  // namespace solar
