// Buffer: a growable byte buffer with a read and a write index (muduo Buffer).
//
//   +-------------------+------------------+------------------+
//   | consumed (reused) |  readable bytes  |  writable bytes  |
//   +-------------------+------------------+------------------+
//   0              readIndex          writeIndex            size
//
// Runs in: listener (per-connection input and output).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string_view>
#include <vector>

namespace solar {

class Buffer {
 public:
  size_t readable() const { return write_ - read_; }
  const char* peek() const { return data_.data() + read_; }
  std::string_view view() const { return {peek(), readable()}; }
  char* writePtr() { return data_.data() + write_; }
  size_t writable() const { return data_.size() - write_; }

  void retrieve(size_t n) {
    read_ += std::min(n, readable());
    if (read_ == write_) read_ = write_ = 0;
  }
  void retrieveAll() { read_ = write_ = 0; }
  void hasWritten(size_t n) { write_ += n; }

  // Makes room for at least n more bytes: moves readable bytes to the front
  // when that is enough, else grows.
  void ensureWritable(size_t n) {
    if (writable() >= n) return;
    if (read_ + writable() >= n && read_ > 0) {
      size_t r = readable();
      std::memmove(data_.data(), peek(), r);
      read_ = 0;
      write_ = r;
      if (writable() >= n) return;
    }
    data_.resize(write_ + std::max(n, data_.size() / 2 + 1));
  }
  void append(std::string_view bytes) {
    ensureWritable(bytes.size());
    std::memcpy(writePtr(), bytes.data(), bytes.size());
    write_ += bytes.size();
  }
  // Gives memory back after a large frame: keeps at most `keep` bytes of capacity
  // when the buffer is empty.
  void shrinkIfEmpty(size_t keep) {
    if (readable() == 0 && data_.size() > keep) {
      std::vector<char>().swap(data_);
      read_ = write_ = 0;
    }
  }
  size_t capacity() const { return data_.size(); }

 private:
  std::vector<char> data_;
  size_t read_ = 0;
  size_t write_ = 0;
};

}  // namespace solar
