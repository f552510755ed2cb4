// PostgresStore: the KV backend on PostgreSQL through libpq. One long-lived
// connection per worker process, opened after the privilege drop, with every
// statement prepared on it once.
//
// Every call is bounded: libpq runs non-blocking and each wait is a poll()
// with the connect or request timeout, so an unreachable or stopped server
// costs a request at most that long, never a hung worker. A call that times
// out or finds the connection broken closes it and returns kUnavailable; the
// caller (KvService) re-opens with back-off.
//
// A multi-host DSN ("host=a,b port=5432,5432 target_session_attrs=read-write",
// the shape of a Patroni cluster) is tried one host at a time, each with its
// own connect timeout, starting with the host that answered last: libpq's own
// walk over the hosts has no per-host timeout in non-blocking mode, so one
// host that silently drops packets would use up the whole attempt and the
// live primary behind it would never be tried. A write refused because the
// server has become read-only (a primary demoted under us) closes the
// connection like a lost one, so the next attempt finds the new primary.
// Runs in: KV worker processes.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "apps/kv/kv_store.h"

namespace solar::kv {

class PostgresStore : public KvStore {
 public:
  using Options = std::vector<std::pair<std::string, std::string>>;  // libpq keyword -> value

  // `application_name` shows in pg_stat_activity unless the DSN sets one.
  PostgresStore(std::string dsn, std::string table, uint32_t connect_timeout_ms, uint32_t request_timeout_ms,
                std::string application_name);
  ~PostgresStore() override;

  StoreResult open() override;
  bool isOpen() const override { return conn_ != nullptr; }
  void close() override;

  StoreResult get(std::string_view key, std::string* value) override;
  StoreResult put(std::string_view key, std::string_view value) override;
  StoreResult remove(std::string_view key) override;
  StoreResult scan(const KeyRange& range, size_t limit, bool keys_only, std::vector<ScanRow>* rows) override;
  StoreResult begin(bool writes) override;
  StoreResult commit() override;
  void rollback() override;

 private:
  struct ConnCloser {
    void operator()(PGconn* c) const { PQfinish(c); }
  };
  struct ResultClearer {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  using Result = std::unique_ptr<PGresult, ResultClearer>;

  // Waits until the socket is ready (`for_write` or for reading) or the
  // deadline passes. false on timeout or poll error.
  bool waitSocket(bool for_write, int64_t deadline_ms) const;
  // Sends what libpq queued, then reads until the whole answer is in, and
  // returns its last result (or the first error). On a broken connection or a
  // timeout the connection is closed and *failed is set.
  StoreResult finish(int64_t deadline_ms, const char* what, Result* last);
  // When a statement on a pooled connection fails because that connection
  // was already dead (a PostgreSQL restart ends idle connections), it is
  // retried once on a fresh one if that is safe: kAlways for reads and
  // idempotent writes (the upsert), kIfNotRun when running it twice would
  // change the answer (a delete's "not found").
  enum class Retry { kAlways, kIfNotRun };
  // A prepared statement with binary parameters and binary results.
  StoreResult execPrepared(const char* name, int n, const char* const* values, const int* lengths,
                           const int* formats, Result* out, Retry retry = Retry::kAlways);
  StoreResult execPreparedOnce(const char* name, int n, const char* const* values, const int* lengths,
                               const int* formats, Result* out);
  StoreResult execSimple(const std::string& sql, const char* what);
  StoreResult prepare(const char* name, const std::string& sql, int n, const Oid* types);
  // One host's connection attempt (all of libpq's options in `options`),
  // bounded by the connect timeout: "" when connected, else why not.
  std::string connectTo(const Options& options);
  StoreResult prepareSession();
  StoreResult classify(const PGresult* r, const char* what);
  StoreResult lost(const std::string& why);
  StoreResult timedOut(const std::string& why);  // lost(), and no retry of the statement

  const std::string dsn_;
  const std::string table_;
  const uint32_t connect_timeout_ms_;
  const uint32_t request_timeout_ms_;
  const std::string application_name_;
  // The DSN split per host: libpq's options for each, in the DSN's order (one
  // entry for a single-host DSN, or one libpq could not split).
  std::vector<Options> targets_;
  std::vector<std::string> target_names_;  // "a:5432", for messages
  // prefer-standby: a first pass over the hosts asks for a standby, a second
  // takes any (libpq's meaning of the option, kept across the split).
  bool prefer_standby_ = false;
  bool unparsed_ = false;  // PQconninfoParse refused the DSN: handed to libpq whole
  size_t preferred_ = 0;  // the target that connected last
  std::unique_ptr<PGconn, ConnCloser> conn_;
  // Set when the last statement provably did not run: it could not be sent,
  // or the server had ended the session first (SQLSTATE class 57P, operator
  // intervention: the FATAL a restart sends to idle connections).
  bool last_not_run_ = false;
  // Set when the last statement got no answer in time (this side gave up).
  bool last_timed_out_ = false;
};

}  // namespace solar::kv
