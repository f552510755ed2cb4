#include "kv_workload.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include <memory>

namespace solar::bench {
namespace kvwire {
namespace {

// Field tags: (field number << 3) | wire type (0 varint, 2 length-delimited).
constexpr uint8_t kTagId = (1 << 3) | 0;        // KvRequest.id, KvResponse.id
constexpr uint8_t kTagGet = (2 << 3) | 2;       // KvRequest.get
constexpr uint8_t kTagPut = (3 << 3) | 2;       // KvRequest.put
constexpr uint8_t kTagKey = (1 << 3) | 2;       // Get.key, Put.key
constexpr uint8_t kTagValue = (2 << 3) | 2;     // Put.value
constexpr uint8_t kTagStatus = (2 << 3) | 0;    // KvResponse.status
constexpr uint8_t kTagRespValue = (4 << 3) | 2; // KvResponse.value

void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

void PutBytes(uint8_t tag, std::string_view bytes, std::string* out) {
  out->push_back(static_cast<char>(tag));
  PutVarint(bytes.size(), out);
  out->append(bytes);
}

// Reads from `in`, advancing it. false on truncation or overflow.
bool GetVarint(std::string_view* in, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64 && !in->empty(); shift += 7) {
    const uint8_t b = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    *v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

// One field: its number, wire type, and either its varint or its bytes.
struct Field {
  uint64_t number = 0;
  int type = 0;
  uint64_t varint = 0;
  std::string_view bytes;
};

bool GetField(std::string_view* in, Field* f) {
  uint64_t tag = 0;
  if (!GetVarint(in, &tag)) return false;
  f->number = tag >> 3;
  f->type = static_cast<int>(tag & 7);
  switch (f->type) {
    case 0: return GetVarint(in, &f->varint);
    case 1:
    case 5: {
      const size_t n = f->type == 1 ? 8 : 4;
      if (in->size() < n) return false;
      in->remove_prefix(n);
      return true;
    }
    case 2: {
      uint64_t n = 0;
      if (!GetVarint(in, &n) || n > in->size()) return false;
      f->bytes = in->substr(0, n);
      in->remove_prefix(n);
      return true;
    }
    default: return false;  // groups: not in kv.proto
  }
}

}  // namespace

std::string EncodeGet(uint64_t id, std::string_view key) {
  std::string out;
  out.push_back(static_cast<char>(kTagId));
  PutVarint(id, &out);
  out.push_back(static_cast<char>(kTagGet));
  PutVarint(1 + VarintSize(key.size()) + key.size(), &out);
  PutBytes(kTagKey, key, &out);
  return out;
}

std::string EncodePut(uint64_t id, std::string_view key, std::string_view value) {
  std::string out;
  out.reserve(key.size() + value.size() + 24);
  out.push_back(static_cast<char>(kTagId));
  PutVarint(id, &out);
  out.push_back(static_cast<char>(kTagPut));
  PutVarint(1 + VarintSize(key.size()) + key.size() + 1 + VarintSize(value.size()) + value.size(), &out);
  PutBytes(kTagKey, key, &out);
  PutBytes(kTagValue, value, &out);
  return out;
}

bool DecodeRequest(std::string_view in, RequestView* out) {
  *out = RequestView();
  bool has_op = false;
  Field f;
  while (!in.empty()) {
    if (!GetField(&in, &f)) return false;
    if (f.number == 1 && f.type == 0) {
      out->id = f.varint;
    } else if ((f.number == 2 || f.number == 3) && f.type == 2) {
      has_op = true;
      out->is_put = f.number == 3;
      std::string_view op = f.bytes;
      Field g;
      while (!op.empty()) {
        if (!GetField(&op, &g)) return false;
        if (g.number == 1 && g.type == 2) out->key = g.bytes;
      }
    }
  }
  return has_op;
}

bool DecodeResponse(std::string_view in, ResponseView* out) {
  *out = ResponseView();
  Field f;
  while (!in.empty()) {
    if (!GetField(&in, &f)) return false;
    if (f.number == 1 && f.type == 0) out->id = f.varint;
    if (f.number == 2 && f.type == 0) out->status = static_cast<int>(f.varint);
    if (f.number == 4 && f.type == 2) out->value = f.bytes;
  }
  return true;
}

}  // namespace kvwire

namespace {

constexpr size_t kLedgerFlushBytes = 4096;
constexpr size_t kAckedKept = 4096;

}  // namespace

KvWorkload::KvWorkload(const WorkloadParams& params)
    : get_ratio_(params.kv_get_ratio), keys_(params.kv_keys == 0 ? 1 : params.kv_keys),
      size_min_(params.size_min), size_max_(params.size_max), check_keys_(params.kv_check_keys),
      check_next_(params.kv_check_next) {
  if (!params.kv_ledger.empty()) {
    // O_APPEND: every thread's instance appends whole lines to the one file.
    ledger_fd_ = ::open(params.kv_ledger.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (ledger_fd_ < 0) std::perror(("solar-bench: opening the ledger " + params.kv_ledger).c_str());
  }
}

KvWorkload::~KvWorkload() {
  flushLedger();
  if (ledger_fd_ >= 0) ::close(ledger_fd_);
}

void KvWorkload::flushLedger() {
  size_t done = 0;
  while (ledger_fd_ >= 0 && done < ledger_pending_.size()) {
    const ssize_t n = ::write(ledger_fd_, ledger_pending_.data() + done, ledger_pending_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::perror("solar-bench: writing the ledger");
      break;
    }
    done += static_cast<size_t>(n);
  }
  ledger_pending_.clear();
}

void KvWorkload::acknowledged(std::string_view request) {
  if (ledger_fd_ < 0) return;
  kvwire::RequestView req;
  uint64_t h = 0;
  if (!kvwire::DecodeRequest(request, &req) || !req.is_put || !LedgerIndex(req.key, &h)) return;
  ledger_pending_.append(req.key.data(), req.key.size()).push_back('\n');
  if (acked_.size() < kAckedKept) {
    acked_.emplace_back(req.key);
  } else {
    acked_[acked_next_++ % kAckedKept].assign(req.key.data(), req.key.size());
  }
  if (ledger_pending_.size() >= kLedgerFlushBytes) flushLedger();
}

void KvWorkload::makeRequest(Rng& rng, std::string* request) {
  const uint64_t id = next_id_++;
  if (check_keys_ != nullptr) {
    const size_t i = check_next_->fetch_add(1, std::memory_order_relaxed);
    *request = kvwire::EncodeGet(id, (*check_keys_)[i % check_keys_->size()]);
    return;
  }
  if (ledger_fd_ >= 0) {
    const bool read_back = static_cast<double>(rng.next() >> 11) * 0x1.0p-53 < get_ratio_ && !acked_.empty();
    if (read_back) {
      *request = kvwire::EncodeGet(id, acked_[rng.uniform(0, acked_.size() - 1)]);
    } else {
      const uint64_t h = rng.next();
      *request = kvwire::EncodePut(id, LedgerKey(h), BenchValue(h, BenchValueSize(h, size_min_, size_max_)));
    }
    return;
  }
  const uint64_t index = rng.uniform(0, keys_ - 1);
  // 53 random bits give a uniform double in [0, 1).
  const bool is_get = static_cast<double>(rng.next() >> 11) * 0x1.0p-53 < get_ratio_;
  // A distinct id per request (above): over UDP, where replies can come back
  // in any order, checkReply pairs a reply with its request by id.
  const std::string key = BenchKey(index);
  *request = is_get ? kvwire::EncodeGet(id, key)
                    : kvwire::EncodePut(id, key, BenchValue(index, BenchValueSize(index, size_min_, size_max_)));
}

bool KvWorkload::KeyIndex(std::string_view key, uint64_t* index) {
  constexpr std::string_view kPrefix = "bench:";
  if (key.size() != kPrefix.size() + 10 || key.substr(0, kPrefix.size()) != kPrefix) return false;
  uint64_t v = 0;
  for (size_t i = kPrefix.size(); i < key.size(); ++i) {
    if (key[i] < '0' || key[i] > '9') return false;
    v = v * 10 + static_cast<uint64_t>(key[i] - '0');
  }
  *index = v;
  return true;
}

bool KvWorkload::LedgerIndex(std::string_view key, uint64_t* h) {
  constexpr std::string_view kPrefix = "ledger:";
  if (key.size() != kPrefix.size() + 16 || key.substr(0, kPrefix.size()) != kPrefix) return false;
  uint64_t v = 0;
  for (size_t i = kPrefix.size(); i < key.size(); ++i) {
    const char c = key[i];
    const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (digit < 0) return false;
    v = v * 16 + static_cast<uint64_t>(digit);
  }
  *h = v;
  return true;
}

ReplyCheck KvWorkload::checkReply(std::string_view request, std::string_view reply) const {
  kvwire::RequestView req;
  kvwire::ResponseView resp;
  if (!kvwire::DecodeRequest(request, &req) || !kvwire::DecodeResponse(reply, &resp) || resp.id != req.id) {
    return ReplyCheck::kMismatch;
  }
  if (req.is_put) return resp.status == kvwire::kStatusOk ? ReplyCheck::kOk : ReplyCheck::kMismatch;
  uint64_t index = 0;
  // A ledger key is read only after its put was acknowledged: it must be there.
  const bool ledger = LedgerIndex(req.key, &index);
  if (resp.status == kvwire::kStatusNotFound) return ledger ? ReplyCheck::kMismatch : ReplyCheck::kOk;
  if (resp.status != kvwire::kStatusOk || !(ledger || KeyIndex(req.key, &index))) return ReplyCheck::kMismatch;
  // The value must be what some writer of this key wrote. Its size may come
  // from another run's -s, so check the bytes against the reply's own length.
  return resp.value == BenchValue(index, resp.value.size()) ? ReplyCheck::kOk : ReplyCheck::kMismatch;
}

SOLAR_BENCH_REGISTER_WORKLOAD("kv", [](const WorkloadParams& params) {
  return std::unique_ptr<Workload>(std::make_unique<KvWorkload>(params));
});

}  // namespace solar::bench
