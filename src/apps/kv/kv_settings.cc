#include "apps/kv/kv_settings.h"

#include <libpq-fe.h>

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <regex>
#include <utility>
#include <vector>

#include <google/protobuf/descriptor.h>

namespace solar::kv {
namespace {

// Bytes a KvRequest adds around a put's key and value (tags, lengths, id),
// rounded up generously.
constexpr size_t kRequestOverhead = 64;
// PostgreSQL refuses a btree entry above about a third of a page (2704 bytes
// with 8 KiB pages), so a longer key could be stored in SQLite and not in
// PostgreSQL. One limit for both keeps the backends interchangeable.
constexpr uint32_t kKeyBytesCeiling = 2048;
constexpr uint32_t kTimeoutCeilingMs = 600000;
constexpr size_t kUdpPayloadCeiling = 65507;  // 65535 - 8 (UDP) - 20 (IPv4)

using google::protobuf::EnumValueDescriptor;
using google::protobuf::FieldDescriptor;

std::string OutOfRange(const char* field, uint64_t value, uint64_t lo, uint64_t hi) {
  return std::string("settings.") + field + ": " + std::to_string(value) + " is out of range " + std::to_string(lo) +
         ".." + std::to_string(hi);
}

// Applies `value` unless it is 0 (the default); checks lo..hi.
template <typename T>
std::string Take(const char* field, uint64_t value, uint64_t lo, uint64_t hi, T* out) {
  if (value == 0) return "";
  if (value < lo || value > hi) return OutOfRange(field, value, lo, hi);
  *out = static_cast<T>(value);
  return "";
}

std::string CheckDsn(const char* field, const std::string& dsn) {
  char* why = nullptr;
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &why);
  if (options != nullptr) {
    PQconninfoFree(options);
    return "";
  }
  std::string m = why ? why : "cannot parse";
  PQfreemem(why);
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return std::string(field) + ": " + m;
}

// "backend, sqlite_path, ...": every key KvConfig has, in its order.
std::string KnownKeys() {
  const google::protobuf::Descriptor* d = KvConfig::descriptor();
  std::string out;
  for (int i = 0; i < d->field_count(); ++i) out += (i == 0 ? "" : ", ") + d->field(i)->name();
  return out;
}

// The enum's names other than the zero value's, lower case: "sqlite or postgres".
std::string EnumChoices(const google::protobuf::EnumDescriptor* e) {
  std::vector<std::string> names;
  for (int i = 0; i < e->value_count(); ++i) {
    if (e->value(i)->number() == 0) continue;
    std::string name = e->value(i)->name();
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) { return std::tolower(ch); });
    names.push_back(name);
  }
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) out += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return out;
}

}  // namespace

std::string ParseKvConfig(const std::map<std::string, std::string>& settings, KvConfig* out) {
  KvConfig c;
  const google::protobuf::Reflection* reflection = c.GetReflection();
  for (const auto& [key, value] : settings) {
    const FieldDescriptor* field = KvConfig::descriptor()->FindFieldByName(key);
    if (field == nullptr) return "settings." + key + ": unknown KV setting; known: " + KnownKeys();
    const std::string bad = "settings." + key + ": \"" + value + "\" ";
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        reflection->SetString(&c, field, value);
        break;
      case FieldDescriptor::CPPTYPE_UINT32: {
        if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos) {
          return bad + "is not a number (decimal digits, in the unit the key's name gives)";
        }
        const size_t digits = value.size() - std::min(value.find_first_not_of('0'), value.size());
        const uint64_t n = digits > 10 ? std::numeric_limits<uint64_t>::max() : std::stoull(value);
        if (n > std::numeric_limits<uint32_t>::max()) {
          return bad + "is out of range 0.." + std::to_string(std::numeric_limits<uint32_t>::max());
        }
        reflection->SetUInt32(&c, field, static_cast<uint32_t>(n));
        break;
      }
      case FieldDescriptor::CPPTYPE_ENUM: {
        const EnumValueDescriptor* chosen = nullptr;
        for (int i = 0; i < field->enum_type()->value_count(); ++i) {
          const EnumValueDescriptor* v = field->enum_type()->value(i);
          if (v->number() != 0 && strcasecmp(v->name().c_str(), value.c_str()) == 0) chosen = v;
        }
        if (chosen == nullptr) return bad + "must be " + EnumChoices(field->enum_type());
        reflection->SetEnum(&c, field, chosen);
        break;
      }
      default:  // a field type added to KvConfig without a reader here
        return "settings." + key + ": cannot be read (a field type this version does not handle)";
    }
  }
  *out = std::move(c);
  return "";
}

namespace {

// Backend, files and DSNs, the table.
std::string ResolveStorage(const KvConfig& c, const WorkerInfo& info, KvSettings* out) {
  KvSettings& s = *out;
  s.backend = c.backend() == KvConfig::BACKEND_UNSPECIFIED ? KvConfig::SQLITE : c.backend();
  if (!c.sqlite_path().empty()) {
    s.sqlite_path = c.sqlite_path();
  } else if (!info.state_dir.empty()) {
    s.sqlite_path = info.state_dir + "/kv/kv.sqlite3";  // the master made state_dir the workers'
  }
  if (!c.sqlite_synchronous().empty()) {
    if (c.sqlite_synchronous() != "NORMAL" && c.sqlite_synchronous() != "FULL") {
      return "settings.sqlite_synchronous: \"" + c.sqlite_synchronous() + "\" must be \"NORMAL\" or \"FULL\"";
    }
    s.sqlite_synchronous = c.sqlite_synchronous();
  }
  s.postgres_dsn = c.postgres_dsn();
  if (s.backend == KvConfig::POSTGRES && s.postgres_dsn.empty()) {
    return "settings.postgres_dsn is required with backend postgres (e.g. \"host=127.0.0.1 dbname=app user=solar\")";
  }
  s.postgres_read_dsn = c.postgres_read_dsn();
  if (!s.postgres_read_dsn.empty() && s.backend != KvConfig::POSTGRES) {
    return "settings.postgres_read_dsn is set, but the backend is not postgres";
  }
  if (s.backend == KvConfig::POSTGRES) {
    // A typo in the DSN is a configuration error, not an outage to retry.
    std::string e = CheckDsn("settings.postgres_dsn", s.postgres_dsn);
    if (e.empty() && !s.postgres_read_dsn.empty()) e = CheckDsn("settings.postgres_read_dsn", s.postgres_read_dsn);
    if (!e.empty()) return e;
  }
  if (!c.table().empty()) {
    static const std::regex kTable("[a-z_][a-z0-9_]{0,62}");
    if (!std::regex_match(c.table(), kTable)) {
      return "settings.table: \"" + c.table() + "\" is not a valid table name ([a-z_][a-z0-9_]*, at most 63)";
    }
    s.table = c.table();
  }
  return "";
}

// Timeouts and sizes, each in its range.
std::string ResolveLimits(const KvConfig& c, KvSettings* out) {
  KvSettings& s = *out;
  std::string e;
  if (!(e = Take("sqlite_busy_timeout_ms", c.sqlite_busy_timeout_ms(), 1, kTimeoutCeilingMs,
                 &s.sqlite_busy_timeout_ms)).empty() ||
      !(e = Take("connect_timeout_ms", c.connect_timeout_ms(), 1, kTimeoutCeilingMs, &s.connect_timeout_ms)).empty() ||
      !(e = Take("request_timeout_ms", c.request_timeout_ms(), 1, kTimeoutCeilingMs, &s.request_timeout_ms)).empty() ||
      !(e = Take("reconnect_min_ms", c.reconnect_min_ms(), 1, kTimeoutCeilingMs, &s.reconnect_min_ms)).empty() ||
      !(e = Take("reconnect_max_ms", c.reconnect_max_ms(), 1, kTimeoutCeilingMs, &s.reconnect_max_ms)).empty() ||
      !(e = Take("max_key_bytes", c.max_key_bytes(), 1, kKeyBytesCeiling, &s.max_key_bytes)).empty() ||
      !(e = Take("max_value_bytes", c.max_value_bytes(), 1, 1u << 30, &s.max_value_bytes)).empty() ||
      !(e = Take("max_scan_limit", c.max_scan_limit(), 1, 100000, &s.max_scan_limit)).empty() ||
      !(e = Take("max_batch_ops", c.max_batch_ops(), 1, 100000, &s.max_batch_ops)).empty()) {
    return e;
  }
  if (s.reconnect_min_ms > s.reconnect_max_ms) {
    return "settings.reconnect_min_ms (" + std::to_string(s.reconnect_min_ms) + ") must not exceed reconnect_max_ms (" +
           std::to_string(s.reconnect_max_ms) + ")";
  }
  s.default_scan_limit = std::min<uint32_t>(s.default_scan_limit, s.max_scan_limit);
  return "";
}

}  // namespace

std::string ResolveKvSettings(const WorkerInfo& info, KvSettings* out, std::string* note) {
  KvSettings s;
  KvConfig c;
  note->clear();
  if (std::string e = ParseKvConfig(info.settings, &c); !e.empty()) return e;
  if (std::string e = ResolveStorage(c, info, &s); !e.empty()) return e;
  if (std::string e = ResolveLimits(c, &s); !e.empty()) return e;

  if (info.max_frame_bytes > 0) s.max_tcp_reply_bytes = info.max_frame_bytes;
  if (s.max_tcp_reply_bytes <= s.max_key_bytes + kRequestOverhead) {
    return "settings.max_key_bytes (" + std::to_string(s.max_key_bytes) + ") leaves no room for a value in max_frame_bytes (" +
           std::to_string(s.max_tcp_reply_bytes) + ")";
  }
  const size_t fits = s.max_tcp_reply_bytes - s.max_key_bytes - kRequestOverhead;
  if (s.max_value_bytes > fits) {
    *note = "settings.max_value_bytes lowered from " + std::to_string(s.max_value_bytes) + " to " + std::to_string(fits) +
            " so that a put fits max_frame_bytes (" + std::to_string(s.max_tcp_reply_bytes) + ")";
    s.max_value_bytes = fits;
  }
  s.max_udp_reply_bytes = kUdpPayloadCeiling;
  *out = s;
  return "";
}

namespace {

// The options libpq reads from `dsn`, "keyword" -> value, in its order; false
// when it cannot parse it.
bool ParseDsn(const std::string& dsn, std::vector<std::pair<std::string, std::string>>* options) {
  char* why = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(dsn.c_str(), &why);
  PQfreemem(why);
  if (parsed == nullptr) return false;
  for (PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
    if (o->val != nullptr) options->emplace_back(o->keyword, o->val);
  }
  PQconninfoFree(parsed);
  return true;
}

std::string PasswordOf(const std::vector<std::pair<std::string, std::string>>& options) {
  for (const auto& [keyword, value] : options) {
    if (keyword == "password") return value;
  }
  return "";
}

}  // namespace

std::string DescribeBackend(const KvSettings& settings) {
  if (settings.backend == KvConfig::SQLITE) return "sqlite " + settings.sqlite_path;
  std::string out = "postgres " + DescribeDsn(settings.postgres_dsn);
  if (!settings.postgres_read_dsn.empty()) out += ", reads from " + DescribeDsn(settings.postgres_read_dsn);
  return out;
}

std::string DescribeDsn(const std::string& postgres_dsn) {
  // Never log a password: "password=..." in key/value form, "user:pw@" in a URI.
  static const std::regex kKeyword(R"(password\s*=\s*('([^'\\]|\\.)*'|\S+))");
  static const std::regex kUri(R"(^(postgres(ql)?://[^:/@]*):[^@]*@)");
  std::string dsn = std::regex_replace(postgres_dsn, kKeyword, "password=***");
  dsn = std::regex_replace(dsn, kUri, "$1:***@");
  // The patterns miss forms libpq still reads a password from (a URI's query
  // may percent-encode the keyword: ?passw%6Frd=...; found by
  // test/fuzz/config_fuzz.cc). When what is left still carries one, describe
  // the options libpq read instead, with the password hidden.
  std::vector<std::pair<std::string, std::string>> original, left;
  if (!ParseDsn(postgres_dsn, &original) || PasswordOf(original).empty()) return dsn;
  if (ParseDsn(dsn, &left) && PasswordOf(left) == "***") return dsn;
  std::string out;
  for (const auto& [keyword, value] : original) {
    out += (out.empty() ? "" : " ") + keyword + "=" + (keyword == "password" ? "***" : value);
  }
  return out;
}

}  // namespace solar::kv
