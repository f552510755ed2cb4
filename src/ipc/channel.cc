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
    std::string& dgram = ready_.front();
    auto r = RetryEintr([&] { return ::send(fd_, dgram.data(), dgram.size(), MSG_DONTWAIT | MSG_NOSIGNAL); });
    if (!r.ok()) {
      if (IsAgain(r.error) || r.error == ENOBUFS) return FlushResult::kAgain;
      // Unexpected: the master holds every socketpair end, so the peer cannot be
      // gone. Drop this datagram rather than wedge the channel forever.
      ++send_errors_;
      errno = r.error;
      PLOG(ERROR) << "send() of a " << dgram.size() << "-byte datagram on channel fd " << fd_ << " failed";
      result = FlushResult::kError;
    } else {
      ++datagrams_sent_;
    }
    pending_bytes_ -= dgram.size();
    if (spare_.size() < 4) spare_.push_back(std::move(dgram));
    ready_.pop_front();
  }
  return result;
}

InChannel::RecvResult InChannel::recv(std::string_view* datagram, int* err) {
  iovec iov{buf_.data(), buf_.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  auto r = RetryEintr([&] { return ::recvmsg(fd_, &msg, MSG_DONTWAIT); });
  if (!r.ok()) {
    *err = r.error;
    return IsAgain(r.error) ? RecvResult::kAgain : RecvResult::kError;
  }
  if (msg.msg_flags & MSG_TRUNC) return RecvResult::kTruncated;
  *datagram = std::string_view(buf_.data(), static_cast<size_t>(r.value));
  return RecvResult::kDatagram;
}

std::string InChannel::describeError(int err) { return std::string("recvmsg() failed: ") + std::strerror(err); }

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
