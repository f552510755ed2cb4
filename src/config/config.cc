#include "config/config.h"

#include <pwd.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <regex>
#include <tuple>
#include <utility>
#include <sstream>

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/text_format.h>

#include "base/socket_address.h"
#include "base/limits.h"
#include "ipc/msg_queue.h"

namespace solar {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::TextFormat;

// protobuf reports a bad value (an unknown enum name) at the token after it,
// which is on the next line when the value ends its line. Returns the position
// of the token just before (line, column), 0-based, or the input when none.
std::pair<int, int> PreviousToken(const std::string& text, int line, int column) {
  google::protobuf::io::ArrayInputStream in(text.data(), static_cast<int>(text.size()));
  struct Quiet : google::protobuf::io::ErrorCollector { void AddError(int, int, const std::string&) override {} } quiet;
  google::protobuf::io::Tokenizer tok(&in, &quiet);
  std::pair<int, int> prev{line, column};
  while (tok.Next()) {
    const auto& t = tok.current();
    if (t.line > line || (t.line == line && t.column >= column)) break;
    prev = {t.line, t.column};
  }
  return prev;
}


constexpr uint32_t kDefaultUdpWorkers = 2;

}  // namespace

uint32_t UsableCpus() {
  // The CPUs this process may run on (a container's cpuset, taskset), not
  // every CPU the machine has.
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<uint32_t>(n);
  }
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<uint32_t>(n) : 1;
}

// A listener needs about a third of the CPU a request costs with the default
// worker (builtin:kv on SQLite: listener 35%, workers 65%, measured from
// /proc on 2 cores), so one listener per three usable CPUs, rounded, keeps
// the listeners from being the bottleneck without adding processes that
// compete for the workers' cores (on 2 cores a second listener gained
// nothing for KV and lost a few % for echo). An echo-like worker leaves the
// listener most of the work (85%): set listeners higher for one.
uint32_t AutoListeners(uint32_t cpus) { return std::clamp<uint32_t>((cpus + 1) / 3, 1, 64); }

// One worker per usable CPU, and at least two: one request in process() at a
// time per worker, and a second worker keeps serving while one waits on its
// database or is being replaced.
uint32_t AutoWorkers(uint32_t cpus) { return std::clamp<uint32_t>(cpus, 2, 64); }

namespace {

// The accepted names of the enum field `field` (any message of the schema),
// "A, B or C" without the UNSPECIFIED zero value; "" when not an enum field.
std::string EnumNames(const std::string& field) {
  for (const auto* message : {Config::descriptor(), WorkerConfig::descriptor(), UdpConfig::descriptor()}) {
    const FieldDescriptor* f = message->FindFieldByName(field);
    if (f == nullptr || f->enum_type() == nullptr) continue;
    std::vector<std::string> names;
    for (int i = 0; i < f->enum_type()->value_count(); ++i) {
      if (f->enum_type()->value(i)->number() != 0) names.push_back(f->enum_type()->value(i)->name());
    }
    std::string out;
    for (size_t i = 0; i < names.size(); ++i) out += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
    return out;
  }
  return "";
}

// protobuf's message, plus what a person most likely meant.
std::string WithHint(const std::string& message) {
  static const std::regex kEnum(R"re(^Unknown enumeration value of "[^"]*" for field "([a-z_]+)")re");
  std::smatch m;
  if (std::regex_search(message, m, kEnum)) {
    const std::string names = EnumNames(m[1]);
    if (!names.empty()) return message + " Accepted: " + names + ".";
  }
  if (message.find("decimal point") != std::string::npos || message.find("Expected string") != std::string::npos ||
      message.find("Expected identifier") != std::string::npos) {
    return message + " (Addresses and other strings are quoted: listen: \"127.0.0.1:7700\".)";
  }
  if (message.find("Need space between number and identifier") != std::string::npos) {
    return message + " (Durations and sizes are plain numbers in the unit the field's name gives, without a "
                     "suffix: idle_timeout_ms: 10000, max_frame_bytes: 1048576.)";
  }
  return message;
}

class Collector : public google::protobuf::io::ErrorCollector {
 public:
  explicit Collector(std::string name, const std::string* text = nullptr) : name_(std::move(name)), text_(text) {}
  void AddError(int line, int column, const std::string& message) override {
    if (text_ != nullptr && message.rfind("Unknown enumeration value", 0) == 0)
      std::tie(line, column) = PreviousToken(*text_, line, column);
    if (first_.empty()) first_ = Where(line, column) + WithHint(message);
  }
  void AddWarning(int line, int column, const std::string& message) override {
    if (first_.empty()) first_ = Where(line, column) + message;
  }
  std::string Where(int line, int column) const {
    // protobuf counts from 0; editors and compilers from 1.
    return name_ + ":" + std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": ";
  }
  const std::string& first() const { return first_; }

 private:
  std::string name_;
  const std::string* text_;
  std::string first_;
};

// Finds where a field was written, for value errors; falls back to the file alone.
class Locator {
 public:
  Locator(const std::string& name, const TextFormat::ParseInfoTree& tree) : name_(name), tree_(tree) {}
  std::string at(const Config& c, const char* field, const char* sub = nullptr) const {
    const FieldDescriptor* f = c.GetDescriptor()->FindFieldByName(field);
    const TextFormat::ParseInfoTree* tree = &tree_;
    if (sub != nullptr && f != nullptr) {
      tree = tree_.GetTreeForNested(f, -1);
      f = f->message_type()->FindFieldByName(sub);
      if (tree == nullptr) return name_ + ": ";
    }
    if (f == nullptr) return name_ + ": ";
    auto loc = tree->GetLocation(f, -1);
    if (loc.line < 0) return name_ + ": (default) ";
    return name_ + ":" + std::to_string(loc.line + 1) + ":" + std::to_string(loc.column + 1) + ": ";
  }

 private:
  const std::string& name_;
  const TextFormat::ParseInfoTree& tree_;
};

bool Fail(const Config& c, const Locator& at, std::string* error, const char* field, const std::string& what,
          const char* sub = nullptr) {
  *error = at.at(c, field, sub) + what;
  return false;
}

// The addresses, process counts and the worker.
bool ValidateProcesses(const Config& c, const Locator& at, std::string* error) {
  auto fail = [&](const char* field, const std::string& what, const char* sub = nullptr) {
    return Fail(c, at, error, field, what, sub);
  };
  SocketAddress addr;
  std::string why;
  if (!ParseSocketAddress(c.listen(), &addr, &why)) return fail("listen", "listen: " + why);
  if (c.listeners() < 1 || c.listeners() > 64) return fail("listeners", "listeners must be 1..64");
  if (c.workers() < 1 || c.workers() > kMaxWorkerSlots)
    return fail("workers", "workers must be 1.." + std::to_string(kMaxWorkerSlots));
  if (c.protocol() == PROTOCOL_UNSPECIFIED) return fail("protocol", "protocol must be FRAME32, LINE or RAW");
  if (c.dispatch() == DISPATCH_UNSPECIFIED)
    return fail("dispatch", "dispatch must be ROUND_ROBIN, LEAST_CONNECTIONS or PER_REQUEST");
  if (c.worker_scheduling() == WORKER_SCHEDULING_UNSPECIFIED)
    return fail("worker_scheduling", "worker_scheduling must be BATCH or NORMAL");
  if (c.max_in_flight_per_connection() < 1 || c.max_in_flight_per_connection() > 1024)
    return fail("max_in_flight_per_connection", "max_in_flight_per_connection must be 1..1024");
  if (c.worker().module().empty() &&
      (c.worker().name().rfind("builtin:", 0) != 0 || c.worker().name().size() <= 8))
    return fail("worker", "worker name must be \"builtin:NAME\" (or give a module)", "name");
  if (c.worker().watch() && c.worker().module().empty())
    return fail("worker", "watch needs a module to watch", "watch");
  if (c.max_workers() > kMaxWorkerSlots)
    return fail("max_workers", "max_workers must be at most " + std::to_string(kMaxWorkerSlots));
  if (c.max_workers() != 0 && c.workers() > c.max_workers())
    return fail("workers", "workers (" + std::to_string(c.workers()) + ") is above max_workers (" +
                               std::to_string(c.max_workers()) + ")");
  if (!c.admin_listen().empty()) {
    SocketAddress admin;
    if (!ParseSocketAddress(c.admin_listen(), &admin, &why)) return fail("admin_listen", "admin_listen: " + why);
    if (admin.port() != 0 && admin.toString() == addr.toString())
      return fail("admin_listen", "admin_listen (" + admin.toString() + ") is the listen address: give it another port");
  }
  return true;
}

// Timeouts, sizes, the user and the files.
bool ValidateLimits(const Config& c, const Locator& at, std::string* error) {
  auto fail = [&](const char* field, const std::string& what, const char* sub = nullptr) {
    return Fail(c, at, error, field, what, sub);
  };
  if (c.daemonize() && c.log_dir().empty())
    return fail("daemonize", "daemonize needs log_dir: a daemon's stderr goes to /dev/null");
  if (c.reload_start_timeout_ms() < 100)
    return fail("reload_start_timeout_ms", "reload_start_timeout_ms must be >= 100");
  if (c.user().empty()) return fail("user", "user must name a system user");
  if (getpwnam(c.user().c_str()) == nullptr) return fail("user", "no such user \"" + c.user() + "\"");
  if (c.pid_file().empty()) return fail("pid_file", "pid_file must be set");
  if (c.max_frame_bytes() < 1 || c.max_frame_bytes() > (1u << 30))
    return fail("max_frame_bytes", "max_frame_bytes must be 1..1073741824");
  if (c.max_connections() < 1) return fail("max_connections", "max_connections must be at least 1");
  if (c.backlog() < 1) return fail("backlog", "backlog must be at least 1");
  if (c.graceful_timeout_ms() < 100) return fail("graceful_timeout_ms", "graceful_timeout_ms must be >= 100");
  if (c.respawn_backoff_max_ms() < 100)
    return fail("respawn_backoff_max_ms", "respawn_backoff_max_ms must be >= 100");
  if (c.request_read_timeout_ms() != 0 && c.request_read_timeout_ms() < 100)
    return fail("request_read_timeout_ms", "request_read_timeout_ms must be 0 (never) or >= 100");
  if (c.send_timeout_ms() != 0 && c.send_timeout_ms() < 100)
    return fail("send_timeout_ms", "send_timeout_ms must be 0 (never) or >= 100");
  if (c.output_high_water_bytes() < 65536)
    return fail("output_high_water_bytes", "output_high_water_bytes must be >= 65536");
  return true;
}

bool ValidateUdp(const Config& c, const Locator& at, std::string* error) {
  auto fail = [&](const char* field, const std::string& what, const char* sub = nullptr) {
    return Fail(c, at, error, field, what, sub);
  };
  if (c.has_udp()) {
    const UdpConfig& u = c.udp();
    SocketAddress addr;
    std::string why;
    if (!ParseSocketAddress(u.listen(), &addr, &why)) return fail("udp", "udp.listen: " + why, "listen");
    if (u.workers() < 1 || u.workers() > 1024) return fail("udp", "udp.workers must be 1..1024", "workers");
    if (u.max_datagram_bytes() < 1 || u.max_datagram_bytes() > 65507)
      return fail("udp", "udp.max_datagram_bytes must be 1..65507", "max_datagram_bytes");
    if (u.queue_bytes() < 65536) return fail("udp", "udp.queue_bytes must be >= 65536", "queue_bytes");
    // The queue counts each message's header too: a queue that cannot hold one
    // largest datagram would drop every one of that size as "queue full".
    const uint64_t largest = uint64_t{u.max_datagram_bytes()} + sizeof(ipc::UdpMessageHeader);
    if (u.queue_bytes() < largest)
      return fail("udp",
                  "udp.queue_bytes (" + std::to_string(u.queue_bytes()) + ") cannot hold one datagram of " +
                      "udp.max_datagram_bytes (" + std::to_string(u.max_datagram_bytes()) + ") plus its " +
                      std::to_string(sizeof(ipc::UdpMessageHeader)) + "-byte queue header: raise queue_bytes to " +
                      std::to_string(largest) + " or lower max_datagram_bytes",
                  "queue_bytes");
    if (u.workers() > c.max_workers())
      return fail("udp", "udp.workers is above max_workers (" + std::to_string(c.max_workers()) + ")", "workers");
  }
  return true;
}

bool Validate(const Config& c, const Locator& at, std::string* error) {
  return ValidateProcesses(c, at, error) && ValidateLimits(c, at, error) && ValidateUdp(c, at, error);
}

// A field the schema has retired (`reserved` in proto/config.proto), written
// at the top level of `text`: protobuf skips those without a word, so a file
// from before would start with its settings silently ignored. Returns the
// error ("NAME:LINE:COL: ..."), or "" when there is none. `text` has parsed.
std::string RetiredField(const std::string& text, const std::string& name) {
  google::protobuf::io::ArrayInputStream in(text.data(), static_cast<int>(text.size()));
  struct Quiet : google::protobuf::io::ErrorCollector { void AddError(int, int, const std::string&) override {} } quiet;
  using Tok = google::protobuf::io::Tokenizer;
  Tok tok(&in, &quiet);
  tok.set_comment_style(Tok::SH_COMMENT_STYLE);
  int depth = 0;
  bool value_next = false;  // at depth 0, after ':' (and a '-'): a value, not a field name
  while (tok.Next()) {
    const Tok::Token& t = tok.current();
    if (t.type == Tok::TYPE_SYMBOL) {
      if (t.text == "{" || t.text == "<" || t.text == "[") ++depth;
      if (t.text == "}" || t.text == ">" || t.text == "]") --depth;
      value_next = depth == 0 && (t.text == ":" || (t.text == "-" && value_next));
      continue;
    }
    if (depth == 0 && !value_next && t.type == Tok::TYPE_IDENTIFIER && Config::descriptor()->IsReservedName(t.text)) {
      const std::string where = name + ":" + std::to_string(t.line + 1) + ":" + std::to_string(t.column + 1) + ": ";
      if (t.text == "kv") {
        // The one place the core names an app: a migration hint for files
        // written before the KV settings became the worker's own.
        return where +
               "\"kv\" is no longer a section of the config: builtin:kv's settings are the worker's own now, "
               "one entry per field, named as before: worker { name: \"builtin:kv\" settings { key: \"backend\" "
               "value: \"postgres\" } settings { key: \"postgres_dsn\" value: \"host=...\" } } (docs/kv.md)";
      }
      return where + "\"" + t.text + "\" is no longer a field of the config (proto/config.proto)";
    }
    value_next = false;
  }
  return "";
}

}  // namespace

bool ParseConfig(const std::string& text, const std::string& name, Config* out, std::string* error) {
  Config config;
  {
    TextFormat::Parser defaults;
    Collector collector("<embedded defaults>");
    defaults.RecordErrorsTo(&collector);
    if (!defaults.ParseFromString(kDefaultConfigText, &config)) {
      *error = collector.first();  // a build bug; tests catch it
      return false;
    }
  }
  {
    // Parse (not Merge) refuses a singular field given twice, at its second line.
    TextFormat::Parser strict;
    Collector strict_errors(name, &text);
    strict.RecordErrorsTo(&strict_errors);
    Config scratch;
    if (!strict.ParseFromString(text, &scratch)) {
      *error = strict_errors.first().empty() ? name + ": cannot parse" : strict_errors.first();
      return false;
    }
    if (std::string retired = RetiredField(text, name); !retired.empty()) {
      *error = retired;
      return false;
    }
    // A module without a name means "the worker the module registers", not the
    // default built-in's name.
    if (!scratch.worker().module().empty() && scratch.worker().name().empty()) config.mutable_worker()->clear_name();
  }
  TextFormat::Parser parser;
  Collector collector(name, &text);
  TextFormat::ParseInfoTree tree;
  parser.RecordErrorsTo(&collector);
  parser.WriteLocationsTo(&tree);
  if (!parser.MergeFromString(text, &config)) {
    *error = collector.first().empty() ? name + ": cannot parse" : collector.first();
    return false;
  }
  // Not given (the embedded defaults leave them out): fit the machine.
  const uint32_t cpus = UsableCpus();
  if (!config.has_listeners()) config.set_listeners(AutoListeners(cpus));
  if (!config.has_workers()) {
    const uint32_t fit = AutoWorkers(cpus);
    config.set_workers(config.max_workers() != 0 ? std::min(fit, config.max_workers()) : fit);
  }
  if (config.max_workers() == 0) {
    config.set_max_workers(std::min<uint32_t>(kMaxWorkerSlots, std::max<uint32_t>(16, 2 * config.workers())));
  }
  if (config.has_udp()) {  // the udp section's own defaults, for what it leaves out
    UdpConfig* u = config.mutable_udp();
    if (u->workers() == 0) u->set_workers(kDefaultUdpWorkers);
    if (u->queue_bytes() == 0) u->set_queue_bytes(4u << 20);
    if (u->max_datagram_bytes() == 0) u->set_max_datagram_bytes(65507);
  }
  if (!Validate(config, Locator(name, tree), error)) return false;
  *out = std::move(config);
  return true;
}

bool LoadConfig(const std::string& path, Config* out, std::string* error) {
  if (path.empty()) return ParseConfig("", "<embedded defaults>", out, error);
  std::ifstream in(path);
  if (!in) {
    *error = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseConfig(ss.str(), path, out, error);
}

void AbsolutizePaths(Config* config) {
  char buf[4096];
  if (getcwd(buf, sizeof(buf)) == nullptr) return;
  const std::string cwd(buf);
  auto absolute = [&](const std::string& p) { return p.empty() || p[0] == '/' ? p : cwd + "/" + p; };
  config->set_pid_file(absolute(config->pid_file()));
  config->set_log_dir(absolute(config->log_dir()));
  config->mutable_worker()->set_module(absolute(config->worker().module()));
  config->set_state_dir(absolute(ResolveStateDir(*config, geteuid() == 0)));
}

}  // namespace solar
