// KvSettings: the KV service's configuration with every default filled in and
// every value checked, taken from what the server tells a worker
// (WorkerInfo, the public API): the worker's own settings map
// (worker { settings { key: "backend" value: "postgres" } }, one key per
// field of KvConfig in proto/kv_config.proto), state_dir and the frame limit
// a reply must fit.
// Runs in: KV worker processes (onCheck, onStart), and unit tests. Pure: no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "api/worker.h"
#include "kv_config.pb.h"

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

// Reads the settings map into *out by KvConfig's field names: numbers in
// decimal digits, strings as written, backend by its value's name in any case
// ("postgres"). Returns "" on success, else one message naming the key:
// "settings.postgres_dns: unknown KV setting; known: backend, ...",
// "settings.max_key_bytes: \"1k\" is not a number (decimal digits)".
std::string ParseKvConfig(const std::map<std::string, std::string>& settings, KvConfig* out);

// Fills *out from a KV worker's WorkerInfo (settings, state_dir,
// max_frame_bytes). Returns "" on success, else one message naming the key:
// "settings.table: \"x-y\" is not a valid table name ([a-z_][a-z0-9_]*)".
// A max_value_bytes that a request frame could not carry is lowered to fit
// (and *note says so); a refusal at the listener would close the connection
// rather than give the clear TOO_LARGE reply.
std::string ResolveKvSettings(const WorkerInfo& info, KvSettings* out, std::string* note);

// "sqlite var/kv/kv.sqlite3" or "postgres host=... (password hidden)": for logs.
// A postgres_read_dsn is added: "postgres host=a,b ..., reads from host=...".
std::string DescribeBackend(const KvSettings& settings);
// A DSN with its password hidden, whichever way it is written.
std::string DescribeDsn(const std::string& postgres_dsn);

}  // namespace solar::kv
