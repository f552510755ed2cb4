// KvService: the KV protocol (proto/kv.proto) over a KvStore. Parses a
// request, checks it against the limits before touching the database, runs
// it, and always produces a KvResponse: a malformed message, an unknown
// operation, an oversized value, a missing key or a database outage each get
// a status and an error text, and the connection goes on.
//
// It also owns the connection's life: a lost connection is re-opened on a
// later request, with ReconnectBackoff between failed attempts, and requests
// meanwhile get UNAVAILABLE at once.
//
// Runs in: KV worker processes (one per process; one request at a time), and
// unit tests against a real SQLite or PostgreSQL.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "apps/kv/kv_settings.h"
#include "apps/kv/kv_store.h"
#include "apps/kv/reconnect_backoff.h"
#include "kv.pb.h"

namespace solar::kv {

class KvService {
 public:
  using Clock = std::function<int64_t()>;  // milliseconds, monotonic

  // `label` prefixes log lines ("kv worker 3").
  KvService(const KvSettings& settings, std::unique_ptr<KvStore> store, std::string label, Clock clock = nullptr);

  // The first open. A failure is returned (the caller decides whether it is
  // fatal) and starts the back-off like any later failure.
  StoreResult start();

  // One request's bytes in, the reply's bytes out. `reply_budget` is the
  // largest reply the transport carries (a frame, or one datagram).
  void handle(std::string_view payload, size_t reply_budget, std::string* reply);
  void handle(const KvRequest& request, size_t reply_budget, KvResponse* response);

  KvStore& store() { return *store_; }

  // Where single gets and scans go first (kv.postgres_read_dsn): opened on
  // the first read, with its own back-off; while it is down, reads use the
  // main store. Batches always use the main store.
  void setReadStore(std::unique_ptr<KvStore> store);

 private:
  struct Check {
    Status status = OK;
    std::string error;
  };
  Check checkKey(std::string_view key, const char* what) const;
  Check checkOp(const Get& op) const { return checkKey(op.key(), "key"); }
  Check checkOp(const Put& op) const;
  Check checkOp(const Del& op) const { return checkKey(op.key(), "key"); }
  Check checkOp(const Scan& op) const;
  Check checkBatch(const Batch& batch) const;

  // Each runs one operation and fills `out` (status, error and data); the
  // return value is the store's verdict, for the batch to stop on.
  StoreResult run(KvStore& store, const Get& op, size_t reply_budget, KvResponse* out);
  StoreResult run(const Put& op, KvResponse* out);
  StoreResult run(const Del& op, KvResponse* out);
  StoreResult run(KvStore& store, const Scan& op, size_t reply_budget, KvResponse* out);
  // A get or scan on the read store: false when it is down (or goes down on
  // this request), and the main store should answer instead.
  bool runOnReadStore(const KvRequest& request, size_t reply_budget, KvResponse* out);
  void runBatch(const Batch& batch, size_t reply_budget, KvResponse* out);

  // Opens the store when it is closed and the back-off allows; false (with
  // UNAVAILABLE in *out) when it stays closed.
  bool ensureOpen(KvResponse* out);
  // Records a store failure: fills `out`, and notes a lost connection.
  void fail(const StoreResult& r, KvResponse* out);

  const KvSettings settings_;
  std::unique_ptr<KvStore> store_;
  const std::string label_;
  Clock clock_;
  ReconnectBackoff backoff_;
  std::string last_error_;
  std::unique_ptr<KvStore> read_store_;
  ReconnectBackoff read_backoff_;
};

// Status of a store result: OK, NOT_FOUND, UNAVAILABLE or INTERNAL.
Status StatusOf(const StoreResult& r);

// The keys that start with `prefix` and come after `start_after` (if any):
// [max(prefix, start_after + "\0"), the prefix's successor).
KeyRange PrefixRange(std::string_view prefix, std::string_view start_after);

}  // namespace solar::kv
