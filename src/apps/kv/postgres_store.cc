#include "apps/kv/postgres_store.h"

#include <poll.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include <glog/logging.h>

#include "apps/kv/postgres_dsn.h"

namespace solar::kv {
namespace {

constexpr Oid kByteaOid = 17;
constexpr Oid kBoolOid = 16;
constexpr Oid kInt8Oid = 20;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// libpq's messages end in a newline (and may span lines): one log line each.
std::string OneLine(const char* m) {
  std::string s = m ? m : "";
  for (char& c : s) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s.empty() ? "unknown error" : s;
}

// A binary parameter's bytes: never a null pointer, which libpq reads as SQL NULL.
const char* Bytes(std::string_view s) { return s.empty() ? "" : s.data(); }

// SQLSTATE classes that say "not now" rather than "never": 08 connection
// exception, 53 insufficient resources (too many connections), 57 operator
// intervention (shutdown, cannot connect now, query cancelled), 40
// transaction rollback (serialization failure, deadlock).
bool IsTransient(const char* sqlstate) {
  if (sqlstate == nullptr || std::strlen(sqlstate) != 5) return false;
  const std::string cls(sqlstate, 2);
  return cls == "08" || cls == "53" || cls == "57" || cls == "40";
}

}  // namespace

PostgresStore::PostgresStore(std::string dsn, std::string table, uint32_t connect_timeout_ms,
                             uint32_t request_timeout_ms, std::string application_name)
    : dsn_(std::move(dsn)), table_(std::move(table)), connect_timeout_ms_(connect_timeout_ms),
      request_timeout_ms_(request_timeout_ms), application_name_(std::move(application_name)) {
  SplitHosts(dsn_, &targets_, &target_names_, &prefer_standby_, &unparsed_);
}

PostgresStore::~PostgresStore() { close(); }

void PostgresStore::close() { conn_.reset(); }

StoreResult PostgresStore::lost(const std::string& why) {
  close();
  return StoreResult::Unavailable(why);
}

bool PostgresStore::waitSocket(bool for_write, int64_t deadline_ms) const {
  for (;;) {
    const int64_t left = deadline_ms - NowMs();
    if (left <= 0) return false;
    pollfd p{PQsocket(conn_.get()), static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
    if (p.fd < 0) return false;
    const int r = poll(&p, 1, static_cast<int>(left));
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return false;
  }
}

std::string PostgresStore::connectTo(const Options& options) {
  std::vector<const char*> keys, values;
  bool named = false;
  for (const auto& [keyword, value] : options) {
    keys.push_back(keyword.c_str());
    values.push_back(value.c_str());
    named = named || keyword == "fallback_application_name";
  }
  if (!named) {
    keys.push_back("fallback_application_name");
    values.push_back(application_name_.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  // expand_dbname only for a DSN that PQconninfoParse refused: libpq then
  // says why, in its own words.
  conn_.reset(PQconnectStartParams(keys.data(), values.data(), unparsed_ ? 1 : 0));
  if (!conn_) return "libpq: out of memory";
  const int64_t deadline = NowMs() + connect_timeout_ms_;
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  while (PQstatus(conn_.get()) != CONNECTION_BAD && st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
    if (!waitSocket(st == PGRES_POLLING_WRITING, deadline)) {
      close();
      return "no answer within " + std::to_string(connect_timeout_ms_) + " ms";
    }
    st = PQconnectPoll(conn_.get());
  }
  if (PQstatus(conn_.get()) != CONNECTION_OK) {
    std::string why = OneLine(PQerrorMessage(conn_.get()));
    close();
    return why;
  }
  return "";
}

StoreResult PostgresStore::open() {
  close();
  std::string why;
  const size_t n = targets_.size();
  for (int pass = 0; pass < (prefer_standby_ ? 2 : 1); ++pass) {
    for (size_t k = 0; k < n; ++k) {
      const size_t i = (preferred_ + k) % n;
      Options options = targets_[i];
      if (prefer_standby_) options.emplace_back("target_session_attrs", pass == 0 ? "standby" : "any");
      const std::string failed = connectTo(options);
      if (failed.empty()) {
        if (i != preferred_ && n > 1) LOG(INFO) << "PostgreSQL: connected to " << target_names_[i];
        preferred_ = i;
        return prepareSession();
      }
      if (!why.empty()) why += "; ";
      why += n > 1 ? target_names_[i] + (prefer_standby_ && pass == 0 ? " (as a standby)" : "") + ": " + failed
                   : failed;
    }
  }
  return lost("cannot connect to PostgreSQL: " + why);
}

StoreResult PostgresStore::prepareSession() {
  if (PQsetnonblocking(conn_.get(), 1) != 0) return lost("libpq: PQsetnonblocking failed");
  // Server notices (e.g. "relation already exists, skipping") go to the log as
  // one line each, not raw to stderr.
  PQsetNoticeProcessor(
      conn_.get(),
      [](void*, const char* message) { LOG(INFO) << "PostgreSQL notice: " << OneLine(message); }, nullptr);

  // The server gives up on a statement when the client would (it would go on
  // running a query nobody waits for after the timeout closes the connection).
  StoreResult r = execSimple("SET statement_timeout = " + std::to_string(request_timeout_ms_), "set statement_timeout");
  // Create the table only when missing: CREATE ... IF NOT EXISTS would need
  // the CREATE privilege even then, which a least-privilege role lacks. The
  // advisory lock serialises workers starting together (concurrent CREATE
  // TABLE IF NOT EXISTS can fail on the catalog's unique index).
  Result exists;
  if (r.ok()) {
    std::string sql = "SELECT to_regclass('\"" + table_ + "\"') IS NOT NULL";
    if (PQsendQuery(conn_.get(), sql.c_str()) == 0) return lost("PostgreSQL: " + OneLine(PQerrorMessage(conn_.get())));
    r = finish(NowMs() + request_timeout_ms_, "look up table", &exists);
  }
  if (r.ok() && !(PQntuples(exists.get()) == 1 && PQgetvalue(exists.get(), 0, 0)[0] == 't')) {
    r = execSimple("BEGIN; SELECT pg_advisory_xact_lock(hashtext('solar_kv_create_table')); "
                   "CREATE TABLE IF NOT EXISTS \"" + table_ + "\" (k bytea PRIMARY KEY, v bytea NOT NULL); COMMIT",
                   "create table");
  }
  const std::string t = "\"" + table_ + "\"";
  const Oid one[] = {kByteaOid};
  const Oid two[] = {kByteaOid, kByteaOid};
  const Oid bounded[] = {kByteaOid, kByteaOid, kBoolOid, kInt8Oid};
  const Oid open_ended[] = {kByteaOid, kBoolOid, kInt8Oid};
  if (r.ok()) r = prepare("kv_get", "SELECT v FROM " + t + " WHERE k = $1", 1, one);
  if (r.ok()) {
    r = prepare("kv_put", "INSERT INTO " + t + " (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
                2, two);
  }
  if (r.ok()) r = prepare("kv_del", "DELETE FROM " + t + " WHERE k = $1", 1, one);
  if (r.ok()) {
    r = prepare("kv_scan_bounded",
                "SELECT k, CASE WHEN $3 THEN ''::bytea ELSE v END FROM " + t +
                    " WHERE k >= $1 AND k < $2 ORDER BY k LIMIT $4",
                4, bounded);
  }
  if (r.ok()) {
    r = prepare("kv_scan_open",
                "SELECT k, CASE WHEN $2 THEN ''::bytea ELSE v END FROM " + t + " WHERE k >= $1 ORDER BY k LIMIT $3",
                3, open_ended);
  }
  if (!r.ok()) close();
  return r;
}

StoreResult PostgresStore::finish(int64_t deadline_ms, const char* what, Result* last) {
  PGconn* c = conn_.get();
  const std::string timed_out =
      std::string("PostgreSQL did not answer (") + what + ") within " + std::to_string(request_timeout_ms_) + " ms";
  // Send everything libpq queued. While the socket is full, read too: the
  // server may be writing to us (a notice) and waiting on its own send.
  for (;;) {
    const int f = PQflush(c);
    if (f == 0) break;
    if (f < 0) return lost("connection to PostgreSQL lost: " + OneLine(PQerrorMessage(c)));
    if (!waitSocket(true, deadline_ms)) return timedOut(timed_out);
    if (PQconsumeInput(c) == 0) return lost("connection to PostgreSQL lost: " + OneLine(PQerrorMessage(c)));
  }
  Result error;
  Result result;
  for (;;) {
    while (PQisBusy(c)) {
      if (!waitSocket(false, deadline_ms)) return timedOut(timed_out);
      if (PQconsumeInput(c) == 0) return lost("connection to PostgreSQL lost: " + OneLine(PQerrorMessage(c)));
    }
    PGresult* r = PQgetResult(c);
    if (r == nullptr) break;
    const ExecStatusType s = PQresultStatus(r);
    if ((s == PGRES_FATAL_ERROR || s == PGRES_BAD_RESPONSE) && !error) {
      error.reset(r);
    } else {
      result.reset(r);
    }
  }
  if (PQstatus(c) == CONNECTION_BAD) {
    const char* state = error ? PQresultErrorField(error.get(), PG_DIAG_SQLSTATE) : nullptr;
    last_not_run_ = state != nullptr && std::strncmp(state, "57P", 3) == 0;
    return lost("connection to PostgreSQL lost: " +
                OneLine(error ? PQresultErrorMessage(error.get()) : PQerrorMessage(c)));
  }
  if (error) return classify(error.get(), what);
  if (last) *last = std::move(result);
  return StoreResult::Ok();
}

StoreResult PostgresStore::timedOut(const std::string& message) {
  last_timed_out_ = true;
  return lost(message);
}

StoreResult PostgresStore::classify(const PGresult* r, const char* what) {
  const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  const std::string m = std::string("PostgreSQL ") + what + ": " + OneLine(PQresultErrorMessage(r)) + " (SQLSTATE " +
                        (state ? state : "?") + ")";
  if (state != nullptr && std::strcmp(state, "25006") == 0) {
    // read_only_sql_transaction: this server took no writes (a standby, or a
    // primary that a failover demoted). Drop the connection, so that the next
    // attempt looks for the primary again (target_session_attrs=read-write).
    last_not_run_ = true;
    return lost(m + "; the server is read-only (a standby, or a demoted primary): reconnecting");
  }
  return IsTransient(state) ? StoreResult::Unavailable(m) : StoreResult::Error(m);
}

StoreResult PostgresStore::execSimple(const std::string& sql, const char* what) {
  if (!conn_) return StoreResult::Unavailable("not connected to PostgreSQL");
  if (PQsendQuery(conn_.get(), sql.c_str()) == 0) {
    return lost("connection to PostgreSQL lost: " + OneLine(PQerrorMessage(conn_.get())));
  }
  return finish(NowMs() + request_timeout_ms_, what, nullptr);
}

StoreResult PostgresStore::prepare(const char* name, const std::string& sql, int n, const Oid* types) {
  if (PQsendPrepare(conn_.get(), name, sql.c_str(), n, types) == 0) {
    return lost("connection to PostgreSQL lost: " + OneLine(PQerrorMessage(conn_.get())));
  }
  return finish(NowMs() + request_timeout_ms_, name, nullptr);
}

StoreResult PostgresStore::execPreparedOnce(const char* name, int n, const char* const* values, const int* lengths,
                                            const int* formats, Result* out) {
  last_not_run_ = false;
  last_timed_out_ = false;
  if (!conn_) return StoreResult::Unavailable("not connected to PostgreSQL");
  if (PQsendQueryPrepared(conn_.get(), name, n, values, lengths, formats, 1) == 0) {
    last_not_run_ = true;
    return lost("connection to PostgreSQL lost: " + OneLine(PQerrorMessage(conn_.get())));
  }
  return finish(NowMs() + request_timeout_ms_, name, out);
}

StoreResult PostgresStore::execPrepared(const char* name, int n, const char* const* values, const int* lengths,
                                        const int* formats, Result* out, Retry retry) {
  // Pooled and idle: no transaction of ours would be lost by a reconnect.
  const bool pooled = conn_ && PQtransactionStatus(conn_.get()) == PQTRANS_IDLE;
  StoreResult r = execPreparedOnce(name, n, values, lengths, formats, out);
  // Not after a timeout: the server may still be running the statement, and a
  // second try would hold the worker (and its client) for twice the timeout.
  if (r.ok() || conn_ || !pooled || last_timed_out_ || (retry == Retry::kIfNotRun && !last_not_run_)) return r;
  if (!open().ok()) return r;  // still down: the first error says why
  LOG(INFO) << "PostgreSQL: " << name << " failed on a connection that was already closed (" << r.message
            << "); retried once on a fresh connection";
  return execPreparedOnce(name, n, values, lengths, formats, out);
}

StoreResult PostgresStore::get(std::string_view key, std::string* value) {
  const char* values[] = {Bytes(key)};
  const int lengths[] = {static_cast<int>(key.size())};
  const int formats[] = {1};
  Result res;
  StoreResult r = execPrepared("kv_get", 1, values, lengths, formats, &res);
  if (!r.ok()) return r;
  if (PQntuples(res.get()) == 0) return StoreResult::NotFound();
  value->assign(PQgetvalue(res.get(), 0, 0), static_cast<size_t>(PQgetlength(res.get(), 0, 0)));
  return StoreResult::Ok();
}

StoreResult PostgresStore::put(std::string_view key, std::string_view value) {
  const char* values[] = {Bytes(key), Bytes(value)};
  const int lengths[] = {static_cast<int>(key.size()), static_cast<int>(value.size())};
  const int formats[] = {1, 1};
  return execPrepared("kv_put", 2, values, lengths, formats, nullptr);
}

StoreResult PostgresStore::remove(std::string_view key) {
  const char* values[] = {Bytes(key)};
  const int lengths[] = {static_cast<int>(key.size())};
  const int formats[] = {1};
  Result res;
  StoreResult r = execPrepared("kv_del", 1, values, lengths, formats, &res, Retry::kIfNotRun);
  if (!r.ok()) return r;
  return std::strcmp(PQcmdTuples(res.get()), "0") == 0 ? StoreResult::NotFound() : StoreResult::Ok();
}

StoreResult PostgresStore::scan(const KeyRange& range, size_t limit, bool keys_only, std::vector<ScanRow>* rows) {
  rows->clear();
  // The bool and the limit go as text (format 0); the keys as raw bytes.
  const std::string limit_text = std::to_string(limit);
  const char* flag = keys_only ? "t" : "f";
  Result res;
  StoreResult r;
  if (range.unbounded) {
    const char* values[] = {Bytes(range.lower), flag, limit_text.c_str()};
    const int lengths[] = {static_cast<int>(range.lower.size()), 0, 0};
    const int formats[] = {1, 0, 0};
    r = execPrepared("kv_scan_open", 3, values, lengths, formats, &res);
  } else {
    const char* values[] = {Bytes(range.lower), Bytes(range.upper), flag, limit_text.c_str()};
    const int lengths[] = {static_cast<int>(range.lower.size()), static_cast<int>(range.upper.size()), 0, 0};
    const int formats[] = {1, 1, 0, 0};
    r = execPrepared("kv_scan_bounded", 4, values, lengths, formats, &res);
  }
  if (!r.ok()) return r;
  const int n = PQntuples(res.get());
  rows->reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    rows->push_back({std::string(PQgetvalue(res.get(), i, 0), static_cast<size_t>(PQgetlength(res.get(), i, 0))),
                     std::string(PQgetvalue(res.get(), i, 1), static_cast<size_t>(PQgetlength(res.get(), i, 1)))});
  }
  return StoreResult::Ok();
}

StoreResult PostgresStore::begin(bool writes) { return execSimple("BEGIN", "begin"); }

StoreResult PostgresStore::commit() { return execSimple("COMMIT", "commit"); }

void PostgresStore::rollback() {
  if (conn_ && PQtransactionStatus(conn_.get()) != PQTRANS_IDLE) execSimple("ROLLBACK", "rollback");
}

}  // namespace solar::kv
