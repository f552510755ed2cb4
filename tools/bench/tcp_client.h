// TcpClient: one TCP connection of a load thread, for --proto frame32, line
// and raw. Non-blocking connect, then requests out through a write queue that
// resumes on EPOLLOUT, replies in through a ByteBuffer framed by the Codec.
// Replies on one connection come back in request order, so a reply always
// answers the oldest request in flight.
//
// After an error the connection is closed, its requests in flight are dropped
// (the error is counted once), and a new connection is made after
// kReconnectDelayNs -- except after a failed connect: a connection that cannot
// be made is not retried, so a dead target ends the run instead of spinning.
// Runs in: solar-bench load threads.
#pragma once

#include <cstdint>
#include <string>

#include "base/noncopyable.h"
#include "base/unique_fd.h"
#include "byte_buffer.h"
#include "client.h"
#include "request_pipeline.h"

namespace solar::bench {

class TcpClient : public Client, NonCopyable {
 public:
  // interval_ns / first_ns: the open-loop schedule (0 = closed loop).
  // connection_latency: see RequestPipeline (borrowed; may be null).
  TcpClient(ClientEnv& env, uint64_t interval_ns, uint64_t first_ns, Histogram* connection_latency = nullptr);
  ~TcpClient() override;

  void start() override;
  void tick(uint64_t now) override;
  bool finished() const override { return state_ == State::kDead || pipeline_.finished(); }

 private:
  enum class State { kWaiting, kConnecting, kConnected, kDead };

  static void OnRead(evutil_socket_t fd, short what, void* arg);
  static void OnWrite(evutil_socket_t fd, short what, void* arg);
  static void OnTimer(evutil_socket_t fd, short what, void* arg);

  void connect(uint64_t now);
  void connected(uint64_t now);
  void readReplies(uint64_t now);
  // Issues what the pipeline allows, writes it, and arms the pacing timer.
  void fill(uint64_t now);
  // Writes the queued output; false if that failed the connection.
  bool flush();
  void setWriteInterest(bool on);
  void armTimer(uint64_t at, uint64_t now);
  // Counts `count` errors of `kind`, closes, and schedules what comes next.
  void fail(ErrorKind kind, uint64_t count = 1);
  void closeSocket();

  ClientEnv& env_;
  RequestPipeline pipeline_;
  uint64_t replies_on_connection_ = 0;  // replies read on the current connection (--retry)
  State state_ = State::kWaiting;
  UniqueFd fd_;
  EventPtr read_event_;   // persistent while connected
  EventPtr write_event_;  // persistent; added only while connecting or output is pending
  EventPtr timer_;        // reconnect delay, or the next open-loop due time
  bool write_interest_ = false;
  uint64_t timer_at_ns_ = 0;  // when timer_ is armed for, 0 = not armed
  uint64_t connect_started_ns_ = 0;
  std::string out_;       // encoded requests not yet written
  size_t out_written_ = 0;
  ByteBuffer in_;
};

}  // namespace solar::bench
