// SqliteStore: the embedded KV backend. One SQLite file shared by every KV
// worker process: WAL mode, so readers never wait for the writer and a crash
// of any process loses no committed write; a busy timeout, so a writer waits
// for another process's write lock instead of failing at once.
// Runs in: KV worker processes; opened in onStart, after the privilege drop,
// so the file is created by (and must be writable by) the worker user.
#pragma once

#include <sqlite3.h>

#include <memory>
#include <string>

#include "apps/kv/kv_store.h"

namespace solar::kv {

class SqliteStore : public KvStore {
 public:
  SqliteStore(std::string path, std::string table, uint32_t busy_timeout_ms, std::string synchronous);
  ~SqliteStore() override;

  StoreResult open() override;
  bool isOpen() const override { return db_ != nullptr; }
  void close() override;

  StoreResult get(std::string_view key, std::string* value) override;
  StoreResult put(std::string_view key, std::string_view value) override;
  StoreResult remove(std::string_view key) override;
  StoreResult scan(const KeyRange& range, size_t limit, bool keys_only, std::vector<ScanRow>* rows) override;
  StoreResult begin(bool writes) override;
  StoreResult commit() override;
  void rollback() override;

 private:
  struct DbCloser {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  struct StmtFinalizer {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

  StoreResult exec(const std::string& sql);
  // exec, retried while another process holds the lock (open() only).
  StoreResult execSetup(const std::string& sql);
  StoreResult prepare(const std::string& sql, Stmt* out);
  // On a freshly opened handle: WAL, the table, and every statement prepared.
  StoreResult setUp();
  // Runs a statement that returns no rows (a write, BEGIN, COMMIT).
  StoreResult stepDone(sqlite3_stmt* stmt);
  StoreResult failure(int rc, const char* what) const;

  const std::string path_;
  const std::string table_;
  const uint32_t busy_timeout_ms_;
  const std::string synchronous_;
  std::unique_ptr<sqlite3, DbCloser> db_;
  // Declared after db_, so they are finalized before the database closes.
  Stmt get_, put_, del_, scan_bounded_, scan_open_, begin_read_, begin_write_, commit_, rollback_;
};

}  // namespace solar::kv
