// ByteBuffer: a contiguous receive buffer with a read and a write index, so a
// reply split across reads is framed in place and whole replies are consumed
// without moving the rest (muduo Buffer, without the prepend area).
//
//   | consumed | readable() | writable (prepare/commit) |
//   0        begin_        end_                 data_.size()
//
// Runs in: solar-bench load threads.
#pragma once

#include <cstring>
#include <string_view>
#include <vector>

namespace solar::bench {

class ByteBuffer {
 public:
  std::string_view readable() const { return {data_.data() + begin_, end_ - begin_}; }
  bool empty() const { return begin_ == end_; }

  void consume(size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;  // the common case: everything read, start over for free
  }

  // Room for at least n more bytes at the end; moves the unread bytes to the
  // front (or grows) only when the tail is too short.
  char* prepare(size_t n) {
    if (data_.size() - end_ < n) {
      const size_t unread = end_ - begin_;
      if (begin_ > 0) std::memmove(data_.data(), data_.data() + begin_, unread);
      begin_ = 0;
      end_ = unread;
      if (data_.size() - end_ < n) data_.resize(end_ + n);
    }
    return data_.data() + end_;
  }
  size_t writable() const { return data_.size() - end_; }
  void commit(size_t n) { end_ += n; }

  void clear() { begin_ = end_ = 0; }

 private:
  std::vector<char> data_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace solar::bench
