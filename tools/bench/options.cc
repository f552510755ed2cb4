#include "options.h"

#include <getopt.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>

#include "workload.h"

namespace solar::bench {
namespace {

constexpr size_t kMaxTcpPayload = 64u << 20;  // far above solar's 4 MiB max_frame_bytes default
constexpr size_t kMaxUdpPayload = 65507;      // 65535 - 8 (UDP) - 20 (IPv4) header bytes
constexpr int kMaxConnections = 1'000'000;
constexpr int kMaxThreads = 1024;
constexpr int kMaxPipeline = 100'000;

bool ParseDouble(std::string_view text, double* out, size_t* used) {
  const std::string s(text);
  if (s.empty() || !(isdigit(static_cast<unsigned char>(s[0])) || s[0] == '.')) return false;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || end == s.c_str() || !std::isfinite(v) || v < 0) return false;
  *out = v;
  *used = static_cast<size_t>(end - s.c_str());
  return true;
}

bool ParseUint(std::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > 19) return false;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

bool ParseInt(std::string_view text, int lo, int hi, int* out) {
  double v = 0;
  if (!ParseCount(text, &v) || v != std::floor(v) || v < lo || v > hi) return false;
  *out = static_cast<int>(v);
  return true;
}

const char* const kProtoNames[] = {"frame32", "line", "raw", "udp"};

// One option: its names, whether it takes a value, and what to do with it.
// The handler returns an error message, or "" when the value was good.
struct Spec {
  char short_name;  // 0 when there is none
  const char* long_name;
  bool takes_value;
  std::function<std::string(const std::string& value, Options* o)> apply;
};

// The keys of a --kv-ledger file, one per line.
bool ReadLedger(const std::string& path, std::vector<std::string>* keys, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot read '" + path + "': " + std::strerror(errno);
    return false;
  }
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) keys->push_back(line);
  }
  if (keys->empty()) {
    *error = "'" + path + "' holds no keys";
    return false;
  }
  return true;
}

std::vector<Spec> Specs() {
  auto bad = [](const char* what, const std::string& v, const char* expected) {
    return std::string("invalid ") + what + " '" + v + "': expected " + expected;
  };
  return {
      {'c', "connections", true,
       [=](const std::string& v, Options* o) {
         return ParseInt(v, 1, kMaxConnections, &o->connections) ? "" : bad("connections", v, "1..1000000");
       }},
      {'t', "threads", true,
       [=](const std::string& v, Options* o) {
         return ParseInt(v, 1, kMaxThreads, &o->threads) ? "" : bad("threads", v, "1..1024");
       }},
      {'P', "pipeline", true,
       [=](const std::string& v, Options* o) {
         return ParseInt(v, 1, kMaxPipeline, &o->pipeline) ? "" : bad("pipeline depth", v, "1..100000");
       }},
      {'s', "size", true,
       [=](const std::string& v, Options* o) {
         return ParseSizeRange(v, &o->size_min, &o->size_max) ? ""
                                                               : bad("size", v, "N or MIN-MAX bytes, 1 <= MIN <= MAX");
       }},
      {'d', "duration", true,
       [=](const std::string& v, Options* o) {
         o->duration_given = true;
         return ParseDuration(v, &o->duration_ns) && o->duration_ns > 0 ? "" : bad("duration", v, "e.g. 10s, 500ms, 2m");
       }},
      {'n', "requests", true,
       [=](const std::string& v, Options* o) {
         double n = 0;
         if (!ParseCount(v, &n) || n < 1 || n != std::floor(n) || n > 1e15) return bad("requests", v, "a count >= 1");
         o->requests = static_cast<uint64_t>(n);
         return std::string();
       }},
      {'w', "warmup", true,
       [=](const std::string& v, Options* o) {
         return ParseDuration(v, &o->warmup_ns) ? "" : bad("warm-up", v, "e.g. 1s, 0");
       }},
      {'R', "rate", true,
       [=](const std::string& v, Options* o) {
         return ParseCount(v, &o->rate) && o->rate > 0 && o->rate <= 1e9 ? ""
                                                                        : bad("rate", v, "requests/s > 0, e.g. 20000 or 20k");
       }},
      {0, "proto", true,
       [=](const std::string& v, Options* o) {
         for (int i = 0; i < 4; ++i) {
           if (v == kProtoNames[i]) {
             o->proto = static_cast<Proto>(i);
             return std::string();
           }
         }
         return bad("protocol", v, "frame32, line, raw or udp");
       }},
      {0, "workload", true,
       [=](const std::string& v, Options* o) {
         o->workload = v;
         if (WorkloadRegistry::Instance().contains(v)) return std::string();
         return bad("workload", v, WorkloadRegistry::Instance().namesForHelp().c_str());
       }},
      {0, "kv-get-ratio", true,
       [=](const std::string& v, Options* o) {
         size_t used = 0;
         return ParseDouble(v, &o->kv_get_ratio, &used) && used == v.size() && o->kv_get_ratio <= 1
                    ? ""
                    : bad("kv get ratio", v, "0..1, e.g. 0.9");
       }},
      {0, "kv-keys", true,
       [=](const std::string& v, Options* o) {
         double n = 0;
         if (!ParseCount(v, &n) || n < 1 || n != std::floor(n) || n > 1e12) return bad("kv keys", v, "a count >= 1");
         o->kv_keys = static_cast<uint64_t>(n);
         return std::string();
       }},
      {0, "retry", false,
       [=](const std::string&, Options* o) {
         o->retry = true;
         return std::string();
       }},
      {0, "timeline", true,
       [=](const std::string& v, Options* o) {
         o->timeline_path = v;
         std::ofstream probe(v, std::ios::trunc);
         if (!probe) return "timeline: cannot write '" + v + "': " + std::strerror(errno);
         return std::string();
       }},
      {0, "kv-ledger", true,
       [=](const std::string& v, Options* o) {
         o->kv_ledger = v;
         // Appended to by the load threads: find out now whether it can be.
         std::ofstream probe(v, std::ios::app);
         if (!probe) return "kv ledger: cannot append to '" + v + "': " + std::strerror(errno);
         return std::string();
       }},
      {0, "kv-check-ledger", true,
       [=](const std::string& v, Options* o) {
         o->kv_check_ledger = v;
         std::string error;
         auto keys = std::make_shared<std::vector<std::string>>();
         if (!ReadLedger(v, keys.get(), &error)) return "kv check ledger: " + error;
         o->kv_check_keys = std::move(keys);
         return std::string();
       }},
      {0, "timeout", true,
       [=](const std::string& v, Options* o) {
         return ParseDuration(v, &o->timeout_ns) && o->timeout_ns > 0 ? "" : bad("timeout", v, "e.g. 5s, 200ms");
       }},
      {0, "json", true,
       [=](const std::string& v, Options* o) {
         o->json_path = v;
         return v.empty() ? bad("--json", v, "a file name or -") : "";
       }},
      {0, "slow-connections", true,
       [=](const std::string& v, Options* o) {
         o->slow_connections_given = true;
         return ParseInt(v, 0, kMaxConnections, &o->slow_connections) ? ""
                                                                      : bad("slow connections", v, "0..1000000");
       }},
      {0, "slow-payload", true,
       [=](const std::string& v, Options* o) {
         o->slow_payload = v;
         return v.empty() ? bad("slow payload", v, "a non-empty request, e.g. sleep:200") : "";
       }},
      {0, "stall-threshold", true,
       [=](const std::string& v, Options* o) {
         o->stall_threshold_given = true;
         return ParseDuration(v, &o->stall_threshold_ns) ? "" : bad("stall threshold", v, "e.g. 20ms, 1s");
       }},
      {0, "seed", true,
       [=](const std::string& v, Options* o) { return ParseUint(v, &o->seed) ? "" : bad("seed", v, "an integer"); }},
      {'h', "help", false, [](const std::string&, Options* o) {
         o->help = true;
         return std::string();
       }},
      {0, "version", false, [](const std::string&, Options* o) {
         o->version = true;
         return std::string();
       }},
  };
}

// Checks that need more than one option.
std::string Validate(const Options& o) {
  if ((!o.kv_ledger.empty() || o.kv_check_keys) && o.workload != "kv") {
    return "--kv-ledger and --kv-check-ledger need --workload kv";
  }
  if (!o.kv_ledger.empty() && o.kv_check_keys) return "--kv-ledger and --kv-check-ledger do not go together";
  if (o.kv_check_keys && o.requests != 0 && o.requests != o.kv_check_keys->size()) {
    return "--kv-check-ledger sends one get per key: leave out -n";
  }
  if (o.threads > o.connections) {
    return "threads (" + std::to_string(o.threads) + ") must not exceed connections (" +
           std::to_string(o.connections) + ")";
  }
  const size_t limit = o.proto == Proto::kUdp ? kMaxUdpPayload : kMaxTcpPayload;
  if (o.size_max > limit) {
    return "size " + std::to_string(o.size_max) + " is larger than " + std::to_string(limit) +
           " bytes, the most " + (o.proto == Proto::kUdp ? "one UDP datagram" : "solar-bench") + " can carry";
  }
  if (o.rate > 0 && o.rate / o.connections > 1e7) {
    return "rate per connection above 10M requests/s; use more connections";
  }
  if (o.connections + o.slow_connections > kMaxConnections) {
    return "connections and slow connections together above 1000000";
  }
  if (o.slow_payload.size() > limit) {
    return "slow payload is larger than " + std::to_string(limit) + " bytes";
  }
  if (o.proto == Proto::kLine && o.slow_payload.find_first_of("\r\n") != std::string::npos) {
    return "slow payload must not contain a line break with --proto line";
  }
  return "";
}

}  // namespace

const char* ProtoName(Proto proto) { return kProtoNames[static_cast<int>(proto)]; }

bool ParseCount(std::string_view text, double* value) {
  double v = 0;
  size_t used = 0;
  if (!ParseDouble(text, &v, &used)) return false;
  const std::string_view suffix = text.substr(used);
  if (suffix == "k" || suffix == "K") {
    v *= 1e3;
  } else if (suffix == "M") {
    v *= 1e6;
  } else if (suffix == "G") {
    v *= 1e9;
  } else if (!suffix.empty()) {
    return false;
  }
  *value = v;
  return true;
}

bool ParseDuration(std::string_view text, uint64_t* nanos) {
  double v = 0;
  size_t used = 0;
  if (!ParseDouble(text, &v, &used)) return false;
  const std::string_view unit = text.substr(used);
  double scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1e9;
  } else if (unit == "ms") {
    scale = 1e6;
  } else if (unit == "us") {
    scale = 1e3;
  } else if (unit == "m") {
    scale = 60e9;
  } else if (unit == "h") {
    scale = 3600e9;
  } else {
    return false;
  }
  const double ns = v * scale;
  if (ns > 1e18) return false;
  *nanos = static_cast<uint64_t>(std::llround(ns));
  return true;
}

bool ParseSizeRange(std::string_view text, size_t* min, size_t* max) {
  const size_t dash = text.find('-');
  uint64_t lo = 0;
  uint64_t hi = 0;
  if (dash == std::string_view::npos) {
    if (!ParseUint(text, &lo)) return false;
    hi = lo;
  } else if (!ParseUint(text.substr(0, dash), &lo) || !ParseUint(text.substr(dash + 1), &hi)) {
    return false;
  }
  if (lo < 1 || lo > hi) return false;
  *min = static_cast<size_t>(lo);
  *max = static_cast<size_t>(hi);
  return true;
}

bool SplitHostPort(std::string_view text, std::string* host, std::string* port) {
  size_t colon;
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return false;
    *host = std::string(text.substr(1, close - 1));
    colon = close + 1;
  } else {
    colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    *host = std::string(text.substr(0, colon));
    if (host->find(':') != std::string::npos) return false;  // bare IPv6 needs brackets
  }
  uint64_t p = 0;
  if (host->empty() || !ParseUint(text.substr(colon + 1), &p) || p < 1 || p > 65535) return false;
  *port = std::to_string(p);
  return true;
}

ParseResult ParseOptions(const std::vector<std::string>& args) {
  ParseResult result;
  Options& o = result.options;
  const std::vector<Spec> specs = Specs();
  std::vector<std::string> positional;

  // getopt_long's tables from the specs: a long-only option gets a value
  // above any char. "-" returns the other words in order (as 1), so the
  // result does not depend on $POSIXLY_CORRECT; ":" reports a missing value
  // apart from an unknown option.
  std::string shorts = "-:";
  std::vector<option> longs;
  auto id = [&](size_t i) { return specs[i].short_name != 0 ? specs[i].short_name : 256 + static_cast<int>(i); };
  for (size_t i = 0; i < specs.size(); ++i) {
    const Spec& s = specs[i];
    if (s.short_name != 0) shorts += std::string(1, s.short_name) + (s.takes_value ? ":" : "");
    longs.push_back({s.long_name, s.takes_value ? required_argument : no_argument, nullptr, id(i)});
  }
  longs.push_back({nullptr, 0, nullptr, 0});
  // getopt wants argv as main() has it: a program name first, writable strings.
  std::vector<std::string> words = {"solar-bench"};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  const int argc = static_cast<int>(words.size());

  optind = 0;  // glibc: 0 starts a fresh scan (a previous call may have stopped inside "-xyz")
  opterr = 0;  // never print: the caller does
  for (int c; (c = getopt_long(argc, argv.data(), shorts.c_str(), longs.data(), nullptr)) != -1;) {
    if (c == 1) {
      positional.emplace_back(optarg);
      continue;
    }
    // The word getopt just finished; for a long option it is the whole "--name[=value]".
    const std::string arg = argv[static_cast<size_t>(optind - 1)];
    const bool long_form = arg.rfind("--", 0) == 0;
    const Spec* spec = nullptr;
    for (size_t i = 0; i < specs.size(); ++i) {
      if (id(i) == (c == ':' || c == '?' ? optopt : c)) spec = &specs[i];
    }
    const std::string short_form = "-" + std::string(1, static_cast<char>(optopt));
    if (c == ':') {
      result.error = "option '" + (long_form ? arg : short_form) + "' needs a value";
      return result;
    }
    if (c == '?') {
      // optopt 0: an unknown (or ambiguous) long option; a known one: a value
      // given to a flag (--help=yes); anything else: an unknown short option.
      if (optopt == 0) {
        result.error = "unknown option '" + arg + "'";
      } else if (spec != nullptr && long_form) {
        result.error = "option '" + arg + "' takes no value";
      } else {
        result.error = "unknown option '" + short_form + "'";
      }
      return result;
    }
    result.error = spec->apply(optarg != nullptr ? optarg : "", &o);
    if (!result.ok()) return result;
  }
  for (int i = optind; i < argc; ++i) positional.emplace_back(argv[static_cast<size_t>(i)]);  // after "--"

  if (o.help || o.version) return result;
  if (positional.empty()) {
    result.error = "missing target HOST:PORT";
    return result;
  }
  if (positional.size() > 1) {
    result.error = "more than one target: '" + positional[0] + "' and '" + positional[1] + "'";
    return result;
  }
  o.target = positional[0];
  if (!SplitHostPort(o.target, &o.host, &o.port)) {
    result.error = "invalid target '" + o.target + "': expected HOST:PORT or [IPV6]:PORT, port 1..65535";
    return result;
  }
  // A check reads every key once, and no more.
  if (o.kv_check_keys) o.requests = o.kv_check_keys->size();
  result.error = Validate(o);
  return result;
}

ParseResult ParseOptions(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return ParseOptions(args);
}

std::string UsageText() {
  return "usage: solar-bench [options] HOST:PORT\n"
         "\n"
         "Load-tests a TCP or UDP request/reply server and checks every reply.\n"
         "\n"
         "  -c, --connections N   connections (UDP: sockets) [10]\n"
         "  -t, --threads N       threads, one event loop each; <= connections [1]\n"
         "  -P, --pipeline N      requests in flight per connection [1]\n"
         "  -s, --size N|MIN-MAX  request payload bytes, fixed or uniform in a range [50]\n"
         "  -d, --duration T      measured time after the warm-up, e.g. 10s, 500ms, 2m [10s]\n"
         "  -n, --requests N      stop after N measured requests (with -d: whichever comes first)\n"
         "  -w, --warmup T        run this long first without recording [0]\n"
         "  -R, --rate N          open loop: N requests/s over all connections, latency\n"
         "                        measured from each request's intended send time\n"
         "      --proto P         frame32 | line | raw | udp [frame32]\n"
         "      --workload NAME   what to send and how to check replies: " +
         WorkloadRegistry::Instance().namesForHelp() +
         " [echo]\n"
         "      --kv-get-ratio R  kv: share of gets, the rest puts; values sized by -s [0.9]\n"
         "      --kv-keys N       kv: distinct keys, uniformly chosen [10000]\n"
         "      --kv-ledger FILE  kv: puts write fresh keys and each acknowledged one is\n"
         "                        appended to FILE; gets read back acknowledged keys\n"
         "      --kv-check-ledger FILE\n"
         "                        kv: get every key of FILE once; a missing or wrong\n"
         "                        value fails the request (a lost write)\n"
         "      --timeout T       a request (or connect) without an answer this long fails [5s]\n"
         "      --json FILE|-     also write the results as JSON (- = stdout; the text goes to stderr)\n"
         "      --retry           resend the requests in flight once, on a new connection,\n"
         "                        when a connection that already carried replies closes\n"
         "                        before any byte of the next reply (idempotent requests)\n"
         "      --timeline FILE   every 100 ms a line: wall-clock ms, ms since the start,\n"
         "                        replies so far, errors so far\n"
         "      --slow-connections N\n"
         "                        head of line: N more connections, each looping the slow\n"
         "                        payload, one request in flight, counted apart from the\n"
         "                        -c ones; adds the stalled-connection report [0]\n"
         "      --slow-payload P  what the slow connections send; the reply must echo it,\n"
         "                        or be slept:MS for sleep:MS (builtin:debug) [sleep:200]\n"
         "      --stall-threshold T\n"
         "                        a -c connection whose own median latency is above T is\n"
         "                        stalled; adds the stalled-connection report [20ms]\n"
         "      --seed N          seed of the payload generator [1]\n"
         "  -h, --help            this text\n"
         "      --version         print the version and exit\n"
         "\n"
         "Exit status: 0 if every request succeeded, 1 if any failed (or none completed),\n"
         "2 on a usage error.\n";
}

}  // namespace solar::bench
