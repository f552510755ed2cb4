#include "apps/kv/kv_service.h"

#include <glog/logging.h>

#include <chrono>

namespace solar::kv {
namespace {

// Room for a response's own fields (id, status, error text, `more`) beside
// its data, and per scan entry for tags and length prefixes.
constexpr size_t kResponseOverhead = 512;
constexpr size_t kEntryOverhead = 16;

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void SetError(Status status, std::string error, KvResponse* out) {
  out->set_status(status);
  out->set_error(std::move(error));
}

std::string Bytes(size_t n) { return std::to_string(n) + (n == 1 ? " byte" : " bytes"); }

}  // namespace

Status StatusOf(const StoreResult& r) {
  switch (r.code) {
    case StoreResult::kOk: return OK;
    case StoreResult::kNotFound: return NOT_FOUND;
    case StoreResult::kUnavailable: return UNAVAILABLE;
    case StoreResult::kError: return INTERNAL;
  }
  return INTERNAL;
}

KeyRange PrefixRange(std::string_view prefix, std::string_view start_after) {
  KeyRange range;
  range.lower = std::string(prefix);
  // The smallest key after start_after is start_after + "\0".
  if (!start_after.empty()) {
    std::string after = std::string(start_after) + '\0';
    if (after > range.lower) range.lower = std::move(after);
  }
  // The prefix's successor: drop trailing 0xff bytes, then add one to the
  // last byte ("ab" -> "ac", "a\xff" -> "b"). None exists for "" or all 0xff.
  std::string upper(prefix);
  while (!upper.empty() && static_cast<unsigned char>(upper.back()) == 0xff) upper.pop_back();
  if (upper.empty()) {
    range.unbounded = true;
  } else {
    upper.back() = static_cast<char>(static_cast<unsigned char>(upper.back()) + 1);
    range.upper = std::move(upper);
  }
  return range;
}

KvService::KvService(const KvSettings& settings, std::unique_ptr<KvStore> store, std::string label, Clock clock)
    : settings_(settings), store_(std::move(store)), label_(std::move(label)),
      clock_(clock ? std::move(clock) : Clock(SteadyMs)),
      backoff_(settings.reconnect_min_ms, settings.reconnect_max_ms),
      read_backoff_(settings.reconnect_min_ms, settings.reconnect_max_ms) {}

void KvService::setReadStore(std::unique_ptr<KvStore> store) { read_store_ = std::move(store); }

bool KvService::runOnReadStore(const KvRequest& request, size_t reply_budget, KvResponse* out) {
  if (!read_store_->isOpen()) {
    if (!read_backoff_.due(clock_())) return false;
    StoreResult r = read_store_->open();
    if (!r.ok()) {
      read_backoff_.failed(clock_());
      LOG(WARNING) << label_ << ": read connection: " << r.message << "; reads use the main connection, next attempt in "
                   << read_backoff_.delayMs() << " ms";
      return false;
    }
    read_backoff_.succeeded();
    LOG(INFO) << label_ << ": read connection open";
  }
  const StoreResult r = request.has_get() ? run(*read_store_, request.get(), reply_budget, out)
                                          : run(*read_store_, request.scan(), reply_budget, out);
  if (r.code == StoreResult::kUnavailable) {
    LOG(WARNING) << label_ << ": read connection: " << r.message << "; this read goes to the main connection";
    out->Clear();
    out->set_id(request.id());
    return false;
  }
  if (r.code == StoreResult::kError) fail(r, out);
  return true;
}

StoreResult KvService::start() {
  StoreResult r = store_->open();
  if (r.ok()) {
    backoff_.succeeded();
  } else {
    backoff_.failed(clock_());
    last_error_ = r.message;
  }
  return r;
}

bool KvService::ensureOpen(KvResponse* out) {
  if (store_->isOpen()) return true;
  const int64_t now = clock_();
  if (!backoff_.due(now)) {
    SetError(UNAVAILABLE,
             "database unavailable: " + last_error_ + " (next connection attempt in " +
                 std::to_string(backoff_.waitMs(now)) + " ms)",
             out);
    return false;
  }
  StoreResult r = store_->open();
  if (r.ok()) {
    backoff_.succeeded();
    LOG(INFO) << label_ << ": database connection open again";
    return true;
  }
  backoff_.failed(clock_());
  last_error_ = r.message;
  LOG(WARNING) << label_ << ": " << r.message << "; next attempt in " << backoff_.delayMs() << " ms";
  SetError(UNAVAILABLE, "database unavailable: " + r.message, out);
  return false;
}

void KvService::fail(const StoreResult& r, KvResponse* out) {
  SetError(StatusOf(r), r.message, out);
  if (r.code == StoreResult::kUnavailable && !store_->isOpen()) {
    // The next request re-opens at once (the back-off starts only when an
    // attempt fails): after a database restart one request fails, not many.
    last_error_ = r.message;
    LOG(WARNING) << label_ << ": database connection lost: " << r.message;
  } else if (r.code == StoreResult::kError) {
    LOG_EVERY_N(WARNING, 100) << label_ << ": " << r.message << " (logged every 100th)";
  }
}

KvService::Check KvService::checkKey(std::string_view key, const char* what) const {
  if (key.empty()) return {INVALID_ARGUMENT, std::string(what) + " is empty"};
  if (key.size() > settings_.max_key_bytes) {
    return {TOO_LARGE, std::string(what) + " is " + Bytes(key.size()) + "; the limit is " +
                           Bytes(settings_.max_key_bytes)};
  }
  return {};
}

KvService::Check KvService::checkOp(const Put& op) const {
  Check c = checkKey(op.key(), "key");
  if (c.status != OK) return c;
  if (op.value().size() > settings_.max_value_bytes) {
    return {TOO_LARGE, "value is " + Bytes(op.value().size()) + "; the limit is " + Bytes(settings_.max_value_bytes)};
  }
  return {};
}

KvService::Check KvService::checkOp(const Scan& op) const {
  if (op.prefix().size() > settings_.max_key_bytes) {
    return {TOO_LARGE, "prefix is " + Bytes(op.prefix().size()) + "; the key limit is " +
                           Bytes(settings_.max_key_bytes)};
  }
  if (op.start_after().size() > settings_.max_key_bytes) {
    return {TOO_LARGE, "start_after is " + Bytes(op.start_after().size()) + "; the key limit is " +
                           Bytes(settings_.max_key_bytes)};
  }
  if (op.limit() > settings_.max_scan_limit) {
    return {INVALID_ARGUMENT, "scan limit " + std::to_string(op.limit()) + " is above the maximum " +
                                  std::to_string(settings_.max_scan_limit)};
  }
  return {};
}

KvService::Check KvService::checkBatch(const Batch& batch) const {
  if (static_cast<uint32_t>(batch.ops_size()) > settings_.max_batch_ops) {
    return {INVALID_ARGUMENT, "batch has " + std::to_string(batch.ops_size()) + " ops; the limit is " +
                                  std::to_string(settings_.max_batch_ops)};
  }
  for (int i = 0; i < batch.ops_size(); ++i) {
    const Op& op = batch.ops(i);
    Check c;
    switch (op.op_case()) {
      case Op::kGet: c = checkOp(op.get()); break;
      case Op::kPut: c = checkOp(op.put()); break;
      case Op::kDel: c = checkOp(op.del()); break;
      case Op::kScan: c = checkOp(op.scan()); break;
      case Op::OP_NOT_SET: c = {INVALID_ARGUMENT, "no operation (get, put, del or scan), or one this server does not know"};
    }
    if (c.status != OK) {
      c.error = "batch op " + std::to_string(i) + ": " + c.error;
      return c;
    }
  }
  return {};
}

void KvService::handle(std::string_view payload, size_t reply_budget, std::string* reply) {
  KvRequest request;
  KvResponse response;
  if (!request.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    SetError(INVALID_ARGUMENT,
             "malformed request: " + Bytes(payload.size()) + " that do not parse as a solar.kv.KvRequest", &response);
  } else {
    handle(request, reply_budget, &response);
  }
  response.SerializeToString(reply);
}

void KvService::handle(const KvRequest& request, size_t reply_budget, KvResponse* out) {
  out->Clear();
  out->set_id(request.id());
  Check c;
  switch (request.op_case()) {
    case KvRequest::kGet: c = checkOp(request.get()); break;
    case KvRequest::kPut: c = checkOp(request.put()); break;
    case KvRequest::kDel: c = checkOp(request.del()); break;
    case KvRequest::kScan: c = checkOp(request.scan()); break;
    case KvRequest::kBatch: c = checkBatch(request.batch()); break;
    case KvRequest::OP_NOT_SET:
      // Also what a newer client's operation looks like here: an unknown field.
      c = {INVALID_ARGUMENT, "no operation: the request sets none of get, put, del, scan, batch (or one this "
                             "server does not know)"};
  }
  if (c.status != OK) return SetError(c.status, std::move(c.error), out);
  // Before the main store is looked at: reads from a standby go on while the
  // primary is down.
  if (read_store_ && (request.has_get() || request.has_scan()) && runOnReadStore(request, reply_budget, out)) return;
  if (!ensureOpen(out)) return;

  StoreResult r;
  switch (request.op_case()) {
    case KvRequest::kGet: r = run(*store_, request.get(), reply_budget, out); break;
    case KvRequest::kPut: r = run(request.put(), out); break;
    case KvRequest::kDel: r = run(request.del(), out); break;
    case KvRequest::kScan: r = run(*store_, request.scan(), reply_budget, out); break;
    case KvRequest::kBatch: return runBatch(request.batch(), reply_budget, out);
    case KvRequest::OP_NOT_SET: break;
  }
  if (r.code == StoreResult::kUnavailable || r.code == StoreResult::kError) fail(r, out);
}

StoreResult KvService::run(KvStore& store, const Get& op, size_t reply_budget, KvResponse* out) {
  std::string value;
  StoreResult r = store.get(op.key(), &value);
  if (r.code == StoreResult::kNotFound) {
    SetError(NOT_FOUND, "key not found", out);
  } else if (r.ok() && value.size() + kResponseOverhead > reply_budget) {
    // Only over UDP: a put's value always fits a TCP frame.
    SetError(TOO_LARGE,
             "value is " + Bytes(value.size()) + ", more than one reply carries here (" + Bytes(reply_budget) +
                 "); use TCP",
             out);
  } else if (r.ok()) {
    out->set_status(OK);
    out->set_value(std::move(value));
  }
  return r;
}

StoreResult KvService::run(const Put& op, KvResponse* out) {
  StoreResult r = store_->put(op.key(), op.value());
  if (r.ok()) out->set_status(OK);
  return r;
}

StoreResult KvService::run(const Del& op, KvResponse* out) {
  StoreResult r = store_->remove(op.key());
  if (r.ok()) out->set_status(OK);
  if (r.code == StoreResult::kNotFound) SetError(NOT_FOUND, "key not found", out);
  return r;
}

StoreResult KvService::run(KvStore& store, const Scan& op, size_t reply_budget, KvResponse* out) {
  const size_t limit = op.limit() == 0 ? settings_.default_scan_limit : op.limit();
  std::vector<ScanRow> rows;
  // One row more than asked for says whether there are more.
  StoreResult r = store.scan(PrefixRange(op.prefix(), op.start_after()), limit + 1, op.keys_only(), &rows);
  if (!r.ok()) return r;
  size_t used = kResponseOverhead;
  size_t i = 0;
  for (; i < rows.size() && i < limit; ++i) {
    const size_t entry = rows[i].key.size() + rows[i].value.size() + kEntryOverhead;
    if (used + entry > reply_budget) break;
    used += entry;
    Entry* e = out->add_entries();
    e->set_key(std::move(rows[i].key));
    e->set_value(std::move(rows[i].value));
  }
  if (i == 0 && !rows.empty()) {
    SetError(TOO_LARGE,
             "the first matching entry is " + Bytes(rows[0].key.size() + rows[0].value.size()) +
                 ", more than one reply carries here (" + Bytes(reply_budget) + "); use TCP or keys_only",
             out);
    return r;
  }
  out->set_more(rows.size() > i);
  out->set_status(OK);
  return r;
}

void KvService::runBatch(const Batch& batch, size_t reply_budget, KvResponse* out) {
  bool writes = false;
  for (const Op& op : batch.ops()) writes = writes || op.has_put() || op.has_del();
  StoreResult r = store_->begin(writes);
  if (!r.ok()) {
    store_->rollback();
    return fail(r, out);
  }
  for (int i = 0; i < batch.ops_size(); ++i) {
    const Op& op = batch.ops(i);
    KvResponse* result = out->add_results();
    switch (op.op_case()) {
      case Op::kGet: r = run(*store_, op.get(), reply_budget, result); break;
      case Op::kPut: r = run(op.put(), result); break;
      case Op::kDel: r = run(op.del(), result); break;
      case Op::kScan: r = run(*store_, op.scan(), reply_budget, result); break;
      case Op::OP_NOT_SET: break;  // refused by checkBatch
    }
    if (r.code == StoreResult::kUnavailable || r.code == StoreResult::kError) {
      store_->rollback();
      out->clear_results();
      r.message = "batch op " + std::to_string(i) + ": " + r.message + " (nothing applied)";
      return fail(r, out);
    }
  }
  // Known only now: whether the results fit one reply. Refuse the batch
  // rather than apply it and be unable to say so.
  if (out->ByteSizeLong() + kResponseOverhead > reply_budget) {
    store_->rollback();
    const size_t size = out->ByteSizeLong();
    out->clear_results();
    return SetError(TOO_LARGE,
                    "batch results would be " + Bytes(size) + ", more than one reply carries here (" +
                        Bytes(reply_budget) + "); nothing applied",
                    out);
  }
  r = store_->commit();
  if (!r.ok()) {
    store_->rollback();
    out->clear_results();
    // A commit whose answer was lost may have landed: say so rather than guess.
    r.message = "batch commit: " + r.message + (store_->isOpen() ? " (nothing applied)" : " (outcome unknown)");
    return fail(r, out);
  }
  out->set_status(OK);
}

}  // namespace solar::kv
