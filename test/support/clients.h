// Test support: a many-connection pipelining frame32 client that checks every
// reply byte for byte and in order, on one poll loop.
#pragma once

#include <atomic>
#include <cstddef>
#include <string>

namespace solar::testing {

struct PipelineResult {
  size_t sent = 0;        // requests written in full
  size_t answered = 0;    // replies received and equal to their request
  size_t mismatches = 0;  // replies that differ from their request
  size_t closed = 0;      // connections closed by the server before all replies came
  bool timed_out = false;
  std::string first_error;
};

struct PipelineOptions {
  int connections = 100;
  int requests_per_connection = 20;
  size_t min_size = 1;
  size_t max_size = 64 * 1024;
  int timeout_ms = 60000;
  unsigned seed = 1;
  std::atomic<size_t>* progress = nullptr;  // if set, the answered count as it grows
};

PipelineResult RunPipelined(int port, const PipelineOptions& options);

}  // namespace solar::testing
