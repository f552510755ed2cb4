// Shared by the libFuzzer targets in test/fuzz/ (built by mk/fuzz.mk).
//
// A finding is a crash, a sanitizer report, or a broken invariant: FUZZ_CHECK
// aborts with the condition and where, so libFuzzer keeps the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include <glog/logging.h>

#define FUZZ_CHECK(cond)                                                                  \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)

namespace solar::fuzz {

// The code under test logs what it refuses; at thousands of inputs a second
// that is only noise. FATAL still aborts (and is then a finding).
inline void QuietLogs() {
  FLAGS_minloglevel = google::GLOG_FATAL;
  FLAGS_logtostderr = true;
}

// Reads little-endian integers off the front of the input, zero past its end.
class Bytes {
 public:
  Bytes(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t u8() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint16_t u16() { return static_cast<uint16_t>(u8() | (u8() << 8)); }
  const uint8_t* rest() const { return data_ + pos_; }
  size_t left() const { return size_ - pos_; }
  void skip(size_t n) { pos_ += n < left() ? n : left(); }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace solar::fuzz
