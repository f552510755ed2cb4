// KvStore: the one small interface both database backends implement
// (SqliteStore, PostgresStore). It speaks in keys and values, never SQL; the
// statements are prepared once per connection, in open().
//
// Runs in: KV worker processes, one store per process, one call at a time
// (Worker::process is never re-entered), so no locking.
//
// Return contract: every call returns a StoreResult. kUnavailable means the
// call did not complete and may be retried later (the database is unreachable,
// restarting, busy, or did not answer in time); after it, isOpen() tells
// whether the connection itself is gone (then the caller re-opens it with
// back-off). kError means the database refused the statement for another
// reason. `message` says what happened, for the client and the log.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace solar::kv {

struct KvSettings;

struct StoreResult {
  enum Code { kOk, kNotFound, kUnavailable, kError };
  Code code = kOk;
  std::string message;

  bool ok() const { return code == kOk; }
  static StoreResult Ok() { return {}; }
  static StoreResult NotFound() { return {kNotFound, "key not found"}; }
  static StoreResult Unavailable(std::string m) { return {kUnavailable, std::move(m)}; }
  static StoreResult Error(std::string m) { return {kError, std::move(m)}; }
};

// Keys k with lower <= k, and k < upper unless `unbounded`.
struct KeyRange {
  std::string lower;
  std::string upper;
  bool unbounded = false;
};

struct ScanRow {
  std::string key;
  std::string value;
};

class KvStore {
 public:
  virtual ~KvStore() = default;

  // Connects (or opens the file), creates the table when missing, prepares
  // every statement. Bounded by the connect timeout. Closes any previous
  // connection first.
  virtual StoreResult open() = 0;
  virtual bool isOpen() const = 0;
  virtual void close() = 0;

  virtual StoreResult get(std::string_view key, std::string* value) = 0;
  virtual StoreResult put(std::string_view key, std::string_view value) = 0;
  // kNotFound when the key did not exist.
  virtual StoreResult remove(std::string_view key) = 0;
  // Up to `limit` rows in key order; the caller asks for one more than it
  // returns to learn whether more exist. keys_only leaves values empty.
  virtual StoreResult scan(const KeyRange& range, size_t limit, bool keys_only, std::vector<ScanRow>* rows) = 0;

  // A write transaction around a batch. rollback() is safe to call after any
  // failure, including a lost connection.
  // `writes`: the batch has puts or dels (SQLite then takes the write lock at
  // once, so two processes never deadlock upgrading a read lock).
  virtual StoreResult begin(bool writes) = 0;
  virtual StoreResult commit() = 0;
  virtual void rollback() = 0;
};

// The backend `settings` names, not yet opened.
std::unique_ptr<KvStore> MakeKvStore(const KvSettings& settings);
// The store for reads (kv.postgres_read_dsn), or nullptr when none is set.
std::unique_ptr<KvStore> MakeKvReadStore(const KvSettings& settings);

}  // namespace solar::kv
