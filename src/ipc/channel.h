// Datagram channels over a UNIX SOCK_DGRAM socketpair end.
//
// OutChannel packs records into datagrams of up to kMaxDatagram bytes and sends
// them without blocking. On EAGAIN (the receiver's queue is full: its length is
// net.unix.max_dgram_qlen) the datagrams stay queued here, in order, and
// flush() resumes when the socket is writable: sending never blocks an event
// loop and never drops (DESIGN.md "The record").
//
// InChannel receives one datagram at a time and checks for truncation.
//
// Runs in: listener, worker, master. Single-threaded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/noncopyable.h"
#include "ipc/record.h"

namespace solar::ipc {

class OutChannel : NonCopyable {
 public:
  // Borrows `fd`; the caller keeps it open for the channel's life.
  explicit OutChannel(int fd) : fd_(fd) {}

  // Queues one whole message; messages above kMaxChunk are split into chunks.
  // `h` gives type, flags (kFlagNoReply, kFlagCloseAfter), ids, seq and address;
  // chunk_len, total_len, offset and the chunk flags are filled in here.
  void append(RecordHeader h, std::string_view payload);

  enum class FlushResult { kDone, kAgain, kError };
  // Sends queued datagrams until done or EAGAIN. kError: a datagram failed
  // with an unexpected errno (logged, counted, dropped) but others were sent.
  FlushResult flush();

  bool hasPending() const { return !ready_.empty() || !open_.empty(); }
  // Forgets every queued datagram (their requests will never be sent).
  void clear() {
    open_.clear();
    open_records_ = 0;
    ready_.clear();
    pending_bytes_ = 0;
  }
  size_t pendingBytes() const { return pending_bytes_ + open_.size(); }
  uint64_t datagramsSent() const { return datagrams_sent_; }
  uint64_t sendErrors() const { return send_errors_; }
  int fd() const { return fd_; }

 private:
  static constexpr size_t kMaxSendBatch = 8;  // datagrams per sendmmsg
  void seal();
  void popFront();  // the front datagram is done with (sent, or dropped)

  int fd_;
  std::string open_;  // the datagram being filled
  size_t open_records_ = 0;
  std::deque<std::string> ready_;  // sealed, waiting to be sent
  size_t pending_bytes_ = 0;
  std::vector<std::string> spare_;  // reused buffers: no allocation per datagram
  uint64_t datagrams_sent_ = 0;
  uint64_t send_errors_ = 0;
};

class InChannel : NonCopyable {
 public:
  // Datagrams taken by one receive() (recvmmsg): a pass over a busy socketpair
  // costs one syscall per batch, and a short batch tells that the queue is
  // empty, with no EAGAIN probe read.
  static constexpr size_t kMaxBatch = 8;

  explicit InChannel(int fd);

  enum class RecvResult { kDatagram, kAgain, kTruncated, kError };
  // Receives one datagram without blocking; view valid until the next call.
  RecvResult recv(std::string_view* datagram, int* err);

  enum class BatchResult { kDatagrams, kAgain, kError };
  // Receives up to `max` (1..kMaxBatch) waiting datagrams in one call. The
  // views (datagram(i)) stay valid until the next receive. kError: *err.
  BatchResult receive(size_t max, int* err);
  size_t count() const { return count_; }
  std::string_view datagram(size_t i) const { return {bufs_[i].data(), lens_[i]}; }
  bool truncated(size_t i) const { return truncated_[i]; }
  // The last receive() got fewer than it asked for: the socket was empty.
  bool drained() const { return drained_; }

  enum class ReadResult { kRecords, kBad };
  // Calls fn(header, payload) for each valid record of datagram i, in order.
  // kBad: a truncated datagram or an invalid record (those before it were
  // delivered; the rest cannot be located); *why says what, for the caller's
  // log line and counter.
  template <typename Fn>
  ReadResult records(size_t i, const Limits& limits, Fn&& fn, std::string* why) const {
    if (truncated_[i]) {
      *why = "truncated datagram";
      return ReadResult::kBad;
    }
    const std::string_view dgram = datagram(i);
    RecordReader reader(dgram.data(), dgram.size(), limits);
    RecordHeader h;
    std::string_view payload;
    while (reader.next(&h, &payload)) fn(h, payload);
    if (reader.error() == ParseError::kNone) return ReadResult::kRecords;
    *why = std::string("invalid record (") + ParseErrorName(reader.error()) + "); rest of datagram dropped";
    return ReadResult::kBad;
  }
  static std::string describeError(int err);
  int fd() const { return fd_; }

 private:
  int fd_;
  std::vector<std::vector<char>> bufs_;  // kMaxBatch buffers of kMaxDatagram + 64 (a longer one is truncated)
  size_t lens_[kMaxBatch] = {};
  bool truncated_[kMaxBatch] = {};
  size_t count_ = 0;
  bool drained_ = false;
};

// Puts chunked messages back together. Keys identify a sender+connection.
class Reassembler : NonCopyable {
 public:
  enum class Status { kComplete, kPartial, kOrphan };
  // kComplete: *message is the whole message (valid until the next feed).
  // kOrphan: a continuation with no start (its start went to a dead process):
  // the chunk is dropped. A first chunk arriving while another message is
  // partial under `key`, or a continuation that does not fit, discards the
  // partial: *discarded (if given) gets its first header and is set true.
  Status feed(uint64_t key, const RecordHeader& h, std::string_view chunk, std::string_view* message,
              RecordHeader* discarded = nullptr, bool* was_discarded = nullptr);
  void drop(uint64_t key) { partial_.erase(key); }
  // Removes the partial message under `key`; true and *first = its first
  // chunk's header when there was one (the caller may have to un-hold it).
  bool take(uint64_t key, RecordHeader* first) {
    auto it = partial_.find(key);
    if (it == partial_.end()) return false;
    *first = it->second.header;
    partial_.erase(it);
    return true;
  }
  size_t partials() const { return partial_.size(); }
  template <typename Fn>
  void forEachPartial(Fn&& fn) const {
    for (const auto& [key, p] : partial_) fn(key, p.header);
  }

 private:
  struct Partial {
    RecordHeader header;  // of the first chunk
    std::string data;
  };
  std::unordered_map<uint64_t, Partial> partial_;
  std::string done_;
};

}  // namespace solar::ipc
