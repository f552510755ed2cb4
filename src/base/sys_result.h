// SysResult: a syscall's value and its errno, kept together so that the caller
// decides what an error means (Envoy SysCallResult). The wrappers retry EINTR.
// Runs in: every process.
#pragma once

#include <errno.h>

#include <utility>

namespace solar {

template <typename T>
struct SysResult {
  T value;
  int error;  // 0 on success, else the errno of the failed call
  bool ok() const { return error == 0; }
};

// Calls fn() until it does not fail with EINTR. fn returns a value < 0 on error
// (the syscall convention). Returns {value, errno-or-0}.
template <typename Fn>
auto RetryEintr(Fn&& fn) -> SysResult<decltype(fn())> {
  for (;;) {
    auto v = fn();
    if (v >= 0) return {v, 0};
    if (errno != EINTR) return {v, errno};
  }
}

// EAGAIN/EWOULDBLOCK is a state, not a failure (nginx NGX_AGAIN).
inline bool IsAgain(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

}  // namespace solar
