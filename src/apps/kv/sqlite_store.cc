#include "apps/kv/sqlite_store.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace solar::kv {
namespace {

// A blob parameter that outlives the step (SQLITE_STATIC: no copy). An empty
// one must be a zero-length blob: a null pointer would bind NULL.
int BindBlob(sqlite3_stmt* s, int index, std::string_view bytes) {
  if (bytes.empty()) return sqlite3_bind_zeroblob(s, index, 0);
  return sqlite3_bind_blob(s, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC);
}

std::string ColumnBytes(sqlite3_stmt* s, int column) {
  const void* p = sqlite3_column_blob(s, column);
  const int n = sqlite3_column_bytes(s, column);
  return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}

// Resets a statement (and drops its bindings) however the call leaves it,
// so it never holds a read snapshot or a lock between requests.
class ResetOnExit {
 public:
  explicit ResetOnExit(sqlite3_stmt* s) : s_(s) {}
  ~ResetOnExit() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

 private:
  sqlite3_stmt* s_;
};

std::string UserName() {
  const passwd* pw = getpwuid(geteuid());
  return pw ? pw->pw_name : std::to_string(geteuid());
}

// WAL mode creates path-wal and path-shm beside the database, so the
// directory, not only the file, must be writable by the worker user.
std::string WritableHint(const std::string& dir) {
  if (access(dir.c_str(), W_OK | X_OK) == 0) return "";
  return "; directory " + dir + " is not writable by " + UserName() + " (e.g. install -d -o " + UserName() + " " + dir +
         ")";
}

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Create the file's own directory when it is missing (var/kv/ under a var/
// the worker user may write to). Only that one level: a missing parent
// above it is a configuration mistake better reported than papered over.
StoreResult MakeDatabaseDir(const std::string& dir) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 && errno == ENOENT && mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
    const std::string why = std::strerror(errno);
    return StoreResult::Error("cannot create directory " + dir + " for the SQLite database as user " + UserName() +
                              ": " + why + "; create it writable by that user, e.g. install -d -o " + UserName() +
                              " " + dir);
  }
  return StoreResult::Ok();
}

}  // namespace

SqliteStore::SqliteStore(std::string path, std::string table, uint32_t busy_timeout_ms, std::string synchronous)
    : path_(std::move(path)), table_(std::move(table)), busy_timeout_ms_(busy_timeout_ms),
      synchronous_(std::move(synchronous)) {}

SqliteStore::~SqliteStore() { close(); }

void SqliteStore::close() {
  for (Stmt* s : {&get_, &put_, &del_, &scan_bounded_, &scan_open_, &begin_read_, &begin_write_, &commit_, &rollback_}) {
    s->reset();
  }
  db_.reset();
}

StoreResult SqliteStore::failure(int rc, const char* what) const {
  std::string m = std::string("sqlite ") + what + ": " + (db_ ? sqlite3_errmsg(db_.get()) : sqlite3_errstr(rc));
  // BUSY: another process held the write lock past the busy timeout. The
  // request was not applied and a retry may well succeed.
  if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
    return StoreResult::Unavailable(m + " (busy timeout " + std::to_string(busy_timeout_ms_) + " ms)");
  }
  return StoreResult::Error(m);
}

StoreResult SqliteStore::exec(const std::string& sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return StoreResult::Ok();
  StoreResult r = failure(rc, sql.c_str());
  sqlite3_free(err);
  return r;
}

StoreResult SqliteStore::execSetup(const std::string& sql) {
  // Workers starting together race to create the file and switch it to WAL.
  // SQLite answers some of those collisions with SQLITE_BUSY at once, without
  // calling the busy handler (it would risk a deadlock), so wait here instead,
  // within the same busy timeout.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_timeout_ms_);
  for (;;) {
    StoreResult r = exec(sql);
    if (r.code != StoreResult::kUnavailable || std::chrono::steady_clock::now() >= deadline) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

StoreResult SqliteStore::prepare(const std::string& sql, Stmt* out) {
  sqlite3_stmt* s = nullptr;
  const int rc = sqlite3_prepare_v3(db_.get(), sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  out->reset(s);
  return rc == SQLITE_OK ? StoreResult::Ok() : failure(rc, "prepare");
}

StoreResult SqliteStore::open() {
  close();
  const std::string dir = DirName(path_);
  if (StoreResult made = MakeDatabaseDir(dir); !made.ok()) return made;

  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path_.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  db_.reset(raw);  // even on failure: the handle holds the message and must be closed
  if (rc != SQLITE_OK) {
    // The usual cause: the worker user (nobody) cannot write the directory,
    // which WAL mode needs for its -wal and -shm files as well.
    StoreResult r = StoreResult::Error("cannot open SQLite database " + path_ + " as user " + UserName() + ": " +
                                       (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)) + WritableHint(dir));
    db_.reset();
    return r;
  }
  sqlite3_busy_timeout(db_.get(), static_cast<int>(busy_timeout_ms_));
  sqlite3_extended_result_codes(db_.get(), 1);

  StoreResult r = setUp();
  if (!r.ok()) {
    r.message = "opening " + path_ + " as user " + UserName() + ": " + r.message + WritableHint(dir);
    close();
  }
  return r;
}

StoreResult SqliteStore::setUp() {
  // WAL: one writer and many readers across processes, readers never block.
  // The switch needs a moment's exclusive lock; the busy timeout covers a
  // race between workers starting together.
  StoreResult r = execSetup("PRAGMA journal_mode=WAL");
  if (r.ok()) r = execSetup("PRAGMA synchronous=" + synchronous_);
  // WITHOUT ROWID: the table is its key's b-tree, no second index.
  if (r.ok()) {
    r = execSetup("CREATE TABLE IF NOT EXISTS \"" + table_ +
                  "\" (k BLOB PRIMARY KEY NOT NULL, v BLOB NOT NULL) WITHOUT ROWID");
  }
  const std::string t = "\"" + table_ + "\"";
  if (r.ok()) r = prepare("SELECT v FROM " + t + " WHERE k = ?1", &get_);
  if (r.ok()) r = prepare("INSERT INTO " + t + " (k, v) VALUES (?1, ?2) ON CONFLICT (k) DO UPDATE SET v = excluded.v", &put_);
  if (r.ok()) r = prepare("DELETE FROM " + t + " WHERE k = ?1", &del_);
  if (r.ok()) {
    r = prepare("SELECT k, CASE WHEN ?3 THEN x'' ELSE v END FROM " + t +
                    " WHERE k >= ?1 AND k < ?2 ORDER BY k LIMIT ?4",
                &scan_bounded_);
  }
  if (r.ok()) {
    r = prepare("SELECT k, CASE WHEN ?3 THEN x'' ELSE v END FROM " + t + " WHERE k >= ?1 ORDER BY k LIMIT ?4",
                &scan_open_);
  }
  if (r.ok()) r = prepare("BEGIN", &begin_read_);
  if (r.ok()) r = prepare("BEGIN IMMEDIATE", &begin_write_);
  if (r.ok()) r = prepare("COMMIT", &commit_);
  if (r.ok()) r = prepare("ROLLBACK", &rollback_);
  return r;
}

StoreResult SqliteStore::stepDone(sqlite3_stmt* stmt) {
  ResetOnExit reset(stmt);
  const int rc = sqlite3_step(stmt);
  return rc == SQLITE_DONE ? StoreResult::Ok() : failure(rc, "step");
}

StoreResult SqliteStore::get(std::string_view key, std::string* value) {
  sqlite3_stmt* s = get_.get();
  ResetOnExit reset(s);
  BindBlob(s, 1, key);
  const int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    *value = ColumnBytes(s, 0);
    return StoreResult::Ok();
  }
  return rc == SQLITE_DONE ? StoreResult::NotFound() : failure(rc, "get");
}

StoreResult SqliteStore::put(std::string_view key, std::string_view value) {
  BindBlob(put_.get(), 1, key);
  BindBlob(put_.get(), 2, value);
  return stepDone(put_.get());
}

StoreResult SqliteStore::remove(std::string_view key) {
  BindBlob(del_.get(), 1, key);
  StoreResult r = stepDone(del_.get());
  if (r.ok() && sqlite3_changes(db_.get()) == 0) return StoreResult::NotFound();
  return r;
}

StoreResult SqliteStore::scan(const KeyRange& range, size_t limit, bool keys_only, std::vector<ScanRow>* rows) {
  sqlite3_stmt* s = range.unbounded ? scan_open_.get() : scan_bounded_.get();
  ResetOnExit reset(s);
  BindBlob(s, 1, range.lower);
  if (!range.unbounded) BindBlob(s, 2, range.upper);
  sqlite3_bind_int(s, 3, keys_only ? 1 : 0);
  sqlite3_bind_int64(s, 4, static_cast<sqlite3_int64>(limit));
  rows->clear();
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) rows->push_back({ColumnBytes(s, 0), ColumnBytes(s, 1)});
  if (rc != SQLITE_DONE) {
    rows->clear();
    return failure(rc, "scan");
  }
  return StoreResult::Ok();
}

StoreResult SqliteStore::begin(bool writes) { return stepDone(writes ? begin_write_.get() : begin_read_.get()); }

StoreResult SqliteStore::commit() { return stepDone(commit_.get()); }

void SqliteStore::rollback() {
  // After a failed COMMIT (BUSY) the transaction is still open; after most
  // other errors SQLite has already rolled back and this is a no-op.
  if (db_ && !sqlite3_get_autocommit(db_.get())) stepDone(rollback_.get());
}

}  // namespace solar::kv
