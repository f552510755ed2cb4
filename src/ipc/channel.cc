#include "ipc/channel.h"

#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include <glog/logging.h>

#include "base/sys_result.h"

namespace solar::ipc {

void OutChannel::seal() {
  if (open_.empty()) return;
  pending_bytes_ += open_.size();
  ready_.push_back(std::move(open_));
  if (!spare_.empty()) {
    open_ = std::move(spare_.back());
    spare_.pop_back();
  } else {
    open_ = std::string();
  }
  open_.clear();
  open_records_ = 0;
}

void OutChannel::append(RecordHeader h, std::string_view payload) {
  const uint16_t keep = h.flags & kKnownFlags & ~(kFlagFirst | kFlagMore);  // every chunk carries the message's flags
  h.total_len = static_cast<uint32_t>(payload.size());
  size_t offset = 0;
  do {
    size_t chunk = std::min(payload.size() - offset, kMaxChunk);
    // Fill the open datagram's rest with a smaller chunk rather than start a new
    // datagram, unless too little room is left to be worth a record.
    size_t room = kMaxDatagram - open_.size();
    if (open_records_ >= kMaxRecordsPerDatagram || room < RecordSize(std::min<size_t>(chunk, 4096))) {
      seal();
      room = kMaxDatagram;
    }
    chunk = std::min(chunk, room - sizeof(RecordHeader));  // open_ stays 8-aligned, so this fits
    h.offset = static_cast<uint32_t>(offset);
    h.chunk_len = static_cast<uint32_t>(chunk);
    h.flags = keep | (offset == 0 ? kFlagFirst : 0) | (offset + chunk < payload.size() ? kFlagMore : 0);
    if (open_.capacity() < kMaxDatagram) open_.reserve(kMaxDatagram);
    AppendRecord(&open_, h, payload.substr(offset, chunk));
    ++open_records_;
    offset += chunk;
  } while (offset < payload.size());
}

OutChannel::FlushResult OutChannel::flush() {
  seal();
  FlushResult result = FlushResult::kDone;
  while (!ready_.empty()) {
    // Several datagrams waiting (a large message, or a queue that had to
    // wait): one sendmmsg for up to kMaxSendBatch of them.
    const size_t n = std::min(ready_.size(), kMaxSendBatch);
    iovec iov[kMaxSendBatch];
    mmsghdr msgs[kMaxSendBatch];
    if (n > 1) {  // the usual single datagram goes by send(): nothing to set up
      std::memset(msgs, 0, sizeof(mmsghdr) * n);
      for (size_t i = 0; i < n; ++i) {
        iov[i] = {ready_[i].data(), ready_[i].size()};
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
      }
    }
    auto r = RetryEintr([&] {
      return n == 1 ? ::send(fd_, ready_.front().data(), ready_.front().size(), MSG_DONTWAIT | MSG_NOSIGNAL)
                    : ::sendmmsg(fd_, msgs, static_cast<unsigned>(n), MSG_DONTWAIT | MSG_NOSIGNAL);
    });
    if (!r.ok()) {
      if (IsAgain(r.error) || r.error == ENOBUFS) return FlushResult::kAgain;
      // Unexpected: the master holds every socketpair end, so the peer cannot be
      // gone. Drop this datagram rather than wedge the channel forever.
      ++send_errors_;
      errno = r.error;
      PLOG(ERROR) << "send() of a " << ready_.front().size() << "-byte datagram on channel fd " << fd_ << " failed";
      result = FlushResult::kError;
      popFront();
      continue;
    }
    // send: one datagram went; sendmmsg: r.value of them (the rest, if any,
    // meets EAGAIN or its error on the next round).
    const size_t sent = n == 1 ? 1 : static_cast<size_t>(r.value);
    for (size_t i = 0; i < sent; ++i) popFront();
    datagrams_sent_ += sent;
  }
  return result;
}

void OutChannel::popFront() {
  std::string& dgram = ready_.front();
  pending_bytes_ -= dgram.size();
  if (spare_.size() < 4) spare_.push_back(std::move(dgram));
  ready_.pop_front();
}

InChannel::InChannel(int fd) : fd_(fd), bufs_(kMaxBatch, std::vector<char>(kMaxDatagram + 64)) {}

InChannel::RecvResult InChannel::recv(std::string_view* datagram, int* err) {
  switch (receive(1, err)) {
    case BatchResult::kAgain: return RecvResult::kAgain;
    case BatchResult::kError: return RecvResult::kError;
    case BatchResult::kDatagrams: break;
  }
  if (truncated_[0]) return RecvResult::kTruncated;
  *datagram = this->datagram(0);
  return RecvResult::kDatagram;
}

InChannel::BatchResult InChannel::receive(size_t max, int* err) {
  max = std::clamp<size_t>(max, 1, kMaxBatch);
  iovec iov[kMaxBatch];
  mmsghdr msgs[kMaxBatch];
  std::memset(msgs, 0, sizeof(msgs));
  for (size_t i = 0; i < max; ++i) {
    iov[i] = {bufs_[i].data(), bufs_[i].size()};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  count_ = 0;
  auto r = RetryEintr([&] { return ::recvmmsg(fd_, msgs, static_cast<unsigned>(max), MSG_DONTWAIT, nullptr); });
  if (!r.ok()) {
    *err = r.error;
    drained_ = IsAgain(r.error);
    return drained_ ? BatchResult::kAgain : BatchResult::kError;
  }
  count_ = static_cast<size_t>(r.value);
  for (size_t i = 0; i < count_; ++i) {
    lens_[i] = msgs[i].msg_len;
    truncated_[i] = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
  }
  drained_ = count_ < max;
  return count_ == 0 ? BatchResult::kAgain : BatchResult::kDatagrams;
}

std::string InChannel::describeError(int err) { return std::string("recvmmsg() failed: ") + std::strerror(err); }

Reassembler::Status Reassembler::feed(uint64_t key, const RecordHeader& h, std::string_view chunk,
                                      std::string_view* message, RecordHeader* discarded, bool* was_discarded) {
  const bool first = h.flags & kFlagFirst;
  const bool more = h.flags & kFlagMore;
  if (was_discarded != nullptr) *was_discarded = false;
  auto it = partial_.find(key);
  auto discard = [&] {
    if (discarded != nullptr) *discarded = it->second.header;
    if (was_discarded != nullptr) *was_discarded = true;
    partial_.erase(it);
    it = partial_.end();
  };
  if (first && it != partial_.end()) discard();  // its sender died mid-message
  if (first && !more) {  // the common case: a whole message in one record
    *message = chunk;
    return Status::kComplete;
  }
  if (first) {
    Partial& p = partial_[key];
    p.header = h;
    p.data.clear();
    p.data.reserve(h.total_len);
    p.data.append(chunk);
    return Status::kPartial;
  }
  if (it == partial_.end()) return Status::kOrphan;
  if (it->second.data.size() != h.offset || it->second.header.total_len != h.total_len ||
      it->second.header.seq != h.seq) {
    discard();
    return Status::kOrphan;
  }
  it->second.data.append(chunk);
  if (more) return Status::kPartial;
  done_ = std::move(it->second.data);
  partial_.erase(it);
  *message = done_;
  return Status::kComplete;
}

}  // namespace solar::ipc
