// KvSettings: the KV service's configuration with every default filled in and
// every value checked, taken from the server's Config (its `kv` section, plus
// the frame and datagram limits a reply must fit).
// Runs in: KV worker processes (onStart), and unit tests. Pure: no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "config.pb.h"

namespace solar::kv {

struct KvSettings {
  KvConfig::Backend backend = KvConfig::SQLITE;
  std::string sqlite_path = "var/kv/kv.sqlite3";
  uint32_t sqlite_busy_timeout_ms = 5000;
  std::string sqlite_synchronous = "NORMAL";
  std::string postgres_dsn;
  std::string postgres_read_dsn;  // "" = reads use postgres_dsn
  std::string table = "kv";
  uint32_t connect_timeout_ms = 2000;
  uint32_t request_timeout_ms = 5000;
  uint32_t reconnect_min_ms = 100;
  uint32_t reconnect_max_ms = 5000;
  size_t max_key_bytes = 1024;
  size_t max_value_bytes = 1 << 20;
  uint32_t max_scan_limit = 1000;
  uint32_t default_scan_limit = 100;
  uint32_t max_batch_ops = 1000;
  // The largest reply the transport carries: max_frame_bytes over TCP, one
  // datagram over UDP. A scan stops early (more = true) to stay under it.
  size_t max_tcp_reply_bytes = 4u << 20;
  size_t max_udp_reply_bytes = 65507;
};

// Fills *out from `config`. Returns "" on success, else one message naming the
// field: "kv.table: \"x-y\" is not a valid table name ([a-z_][a-z0-9_]*)".
// A max_value_bytes that a request frame could not carry is lowered to fit
// (and *note says so); a refusal at the listener would close the connection
// rather than give the clear TOO_LARGE reply.
std::string ResolveKvSettings(const Config& config, KvSettings* out, std::string* note);

// "sqlite var/kv/kv.sqlite3" or "postgres host=... (password hidden)": for logs.
// A postgres_read_dsn is added: "postgres host=a,b ..., reads from host=...".
std::string DescribeBackend(const KvSettings& settings);
// A DSN with its password hidden, whichever way it is written.
std::string DescribeDsn(const std::string& postgres_dsn);

}  // namespace solar::kv
