// UdpClient: one connected UDP socket of a load thread (--proto udp). Each
// request is one datagram and each reply one datagram. Replies may come back
// in any order (solar's UDP workers serve one queue in parallel), so a reply
// is matched to whichever request in flight it answers.
//
// A request with no reply after --timeout is counted and the socket is
// replaced by a fresh one (a new local port): a late reply then cannot be
// taken for the answer to a later request. "Port unreachable" (ECONNREFUSED)
// counts as a connect error and ends this socket for the run.
// Runs in: solar-bench load threads.
#pragma once

#include <cstdint>

#include "base/noncopyable.h"
#include "base/unique_fd.h"
#include "client.h"
#include "request_pipeline.h"

namespace solar::bench {

class UdpClient : public Client, NonCopyable {
 public:
  // As TcpClient's.
  UdpClient(ClientEnv& env, uint64_t interval_ns, uint64_t first_ns, Histogram* connection_latency = nullptr);
  ~UdpClient() override;

  void start() override;
  void tick(uint64_t now) override;
  bool finished() const override { return dead_ || pipeline_.finished(); }

 private:
  static void OnRead(evutil_socket_t fd, short what, void* arg);
  static void OnWrite(evutil_socket_t fd, short what, void* arg);
  static void OnTimer(evutil_socket_t fd, short what, void* arg);

  bool open();
  void readReplies(uint64_t now);
  void fill(uint64_t now);
  // Sends the requests issued but not yet sent; false if the socket failed.
  bool flush(uint64_t now);
  void setWriteInterest(bool on);
  void armTimer(uint64_t at, uint64_t now);
  void fail(ErrorKind kind, uint64_t count = 1);
  void closeSocket();

  ClientEnv& env_;
  RequestPipeline pipeline_;
  bool dead_ = false;
  UniqueFd fd_;
  EventPtr read_event_;
  EventPtr write_event_;
  EventPtr timer_;
  bool write_interest_ = false;
  uint64_t timer_at_ns_ = 0;
  size_t unsent_ = 0;  // the newest `unsent_` requests of pipeline_ are not on the wire yet
};

}  // namespace solar::bench
