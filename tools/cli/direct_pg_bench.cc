#include "direct_pg_bench.h"

#include <getopt.h>
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>

#include "../bench/kv_workload.h"

namespace solar::cli {
namespace {

struct Options {
  std::string dsn;
  std::string table = "kv";
  int clients = 10;
  double seconds = 5;
  double get_ratio = 0.9;
  uint64_t keys = 10000;
  size_t value_size = 100;
  std::string json;
};

struct ThreadResult {
  uint64_t gets = 0;
  uint64_t puts = 0;
  uint64_t errors = 0;
  std::string first_error;
  std::vector<uint32_t> latency_us;
};

double Seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

const char* kUsage =
    "usage: solar-cli bench-direct-pg --dsn DSN [-c CLIENTS] [-d SECONDS] [--get-ratio R]\n"
    "                                 [--keys N] [--value-size BYTES] [--table NAME] [--json FILE]\n"
    "\n"
    "The KV workload straight against PostgreSQL with a new connection per request,\n"
    "as a web tier without solar would run it. Defaults: -c 10 -d 5 --get-ratio 0.9\n"
    "--keys 10000 --value-size 100 --table kv.\n";

// Fills *o from `args`. False with *error set on a usage error, or with
// *error "" for --help.
bool Parse(const std::vector<std::string>& args, Options* o, std::string* error) {
  // getopt_long; every option but --help takes a value. "-" hands back stray
  // words in order (as 1) to refuse them; ":" tells a missing value apart.
  enum { kDsn = 256, kTable, kJson, kGetRatio, kKeys, kValueSize };
  static const option kLong[] = {{"dsn", required_argument, nullptr, kDsn},
                                 {"table", required_argument, nullptr, kTable},
                                 {"json", required_argument, nullptr, kJson},
                                 {"clients", required_argument, nullptr, 'c'},
                                 {"duration", required_argument, nullptr, 'd'},
                                 {"get-ratio", required_argument, nullptr, kGetRatio},
                                 {"keys", required_argument, nullptr, kKeys},
                                 {"value-size", required_argument, nullptr, kValueSize},
                                 {"help", no_argument, nullptr, 'h'},
                                 {nullptr, 0, nullptr, 0}};
  std::vector<std::string> words = {"solar-cli bench-direct-pg"};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  const int argc = static_cast<int>(words.size());
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv.data(), "-:c:d:h", kLong, nullptr)) != -1;) {
    const std::string arg = argv[static_cast<size_t>(optind - 1)];  // a long option's whole word
    const bool long_form = arg.rfind("--", 0) == 0;
    const std::string v = optarg != nullptr ? optarg : "";
    char* end = nullptr;
    switch (c) {
      case 'h':
        *error = "";
        return false;
      case kDsn: o->dsn = v; break;
      case kTable: o->table = v; break;
      case kJson: o->json = v; break;
      case 'c':
        o->clients = static_cast<int>(std::strtol(v.c_str(), &end, 10));
        if (v.empty() || *end || o->clients < 1 || o->clients > 1000) *error = "clients: 1..1000";
        break;
      case 'd':
        o->seconds = std::strtod(v.c_str(), &end);
        if (v.empty() || *end || o->seconds <= 0) *error = "duration: seconds > 0";
        break;
      case kGetRatio:
        o->get_ratio = std::strtod(v.c_str(), &end);
        if (v.empty() || *end || o->get_ratio < 0 || o->get_ratio > 1) *error = "get-ratio: 0..1";
        break;
      case kKeys:
        o->keys = std::strtoull(v.c_str(), &end, 10);
        if (v.empty() || *end || o->keys < 1) *error = "keys: >= 1";
        break;
      case kValueSize:
        o->value_size = std::strtoull(v.c_str(), &end, 10);
        if (v.empty() || *end || o->value_size > (1u << 20)) *error = "value-size: 0..1048576";
        break;
      case 1: *error = "unexpected argument '" + v + "'"; break;
      case ':':
        *error = "option '" + (long_form ? arg : std::string("-") + static_cast<char>(optopt)) + "' needs a value";
        break;
      default:  // '?': optopt 0 is an unknown long option; 'h' is --help=...
        if (optopt == 0) {
          *error = "unknown option '" + arg + "'";
        } else if (optopt == 'h' && long_form) {
          *error = "option '" + arg + "' takes no value";
        } else {
          *error = "unknown option '-" + std::string(1, static_cast<char>(optopt)) + "'";
        }
    }
    if (!error->empty()) return false;
  }
  if (optind < argc) *error = "unexpected argument '" + std::string(argv[static_cast<size_t>(optind)]) + "'";
  else if (o->dsn.empty()) *error = "--dsn is required";
  return error->empty();
}

// One request the way a web tier without a middle tier makes it.
bool OneRequest(const Options& o, bool is_get, uint64_t index, std::string* error) {
  PGconn* conn = PQconnectdb(o.dsn.c_str());
  bool ok = PQstatus(conn) == CONNECTION_OK;
  if (!ok) {
    *error = PQerrorMessage(conn);
  } else {
    const std::string key = bench::BenchKey(index);
    const std::string value = is_get ? std::string() : bench::BenchValue(index, o.value_size);
    const char* values[] = {key.data(), value.empty() ? "" : value.data()};
    const int lengths[] = {static_cast<int>(key.size()), static_cast<int>(value.size())};
    const int formats[] = {1, 1};
    const std::string sql = is_get ? "SELECT v FROM \"" + o.table + "\" WHERE k = $1"
                                   : "INSERT INTO \"" + o.table +
                                         "\" (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v";
    PGresult* r = PQexecParams(conn, sql.c_str(), is_get ? 1 : 2, nullptr, values, lengths, formats, 1);
    const ExecStatusType st = PQresultStatus(r);
    ok = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
    if (!ok) *error = PQresultErrorMessage(r);
    PQclear(r);
  }
  PQfinish(conn);
  return ok;
}

}  // namespace

int RunDirectPgBench(const std::vector<std::string>& args) {
  Options o;
  std::string error;
  if (!Parse(args, &o, &error)) {
    if (error.empty()) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    const std::string usage = kUsage;  // its synopsis: up to the blank line
    std::fprintf(stderr, "solar-cli bench-direct-pg: %s\n%sTry 'solar-cli bench-direct-pg --help'.\n", error.c_str(),
                 usage.substr(0, usage.find("\n\n") + 1).c_str());
    return 2;
  }
  std::vector<ThreadResult> results(static_cast<size_t>(o.clients));
  std::vector<std::thread> threads;
  const double start = Seconds();
  const double stop = start + o.seconds;
  for (int t = 0; t < o.clients; ++t) {
    threads.emplace_back([&, t] {
      ThreadResult& res = results[static_cast<size_t>(t)];
      std::mt19937_64 rng(1000 + static_cast<uint64_t>(t));
      std::uniform_int_distribution<uint64_t> pick(0, o.keys - 1);
      std::uniform_real_distribution<double> coin(0, 1);
      while (Seconds() < stop) {
        const bool is_get = coin(rng) < o.get_ratio;
        const double t0 = Seconds();
        std::string why;
        if (OneRequest(o, is_get, pick(rng), &why)) {
          (is_get ? res.gets : res.puts)++;
          res.latency_us.push_back(static_cast<uint32_t>((Seconds() - t0) * 1e6));
        } else if (res.errors++ == 0) {
          res.first_error = why;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double elapsed = Seconds() - start;

  ThreadResult all;
  for (ThreadResult& r : results) {
    all.gets += r.gets;
    all.puts += r.puts;
    all.errors += r.errors;
    if (all.first_error.empty()) all.first_error = r.first_error;
    all.latency_us.insert(all.latency_us.end(), r.latency_us.begin(), r.latency_us.end());
  }
  std::sort(all.latency_us.begin(), all.latency_us.end());
  auto pct = [&](double p) -> double {
    if (all.latency_us.empty()) return 0;
    return all.latency_us[std::min(all.latency_us.size() - 1, static_cast<size_t>(p * all.latency_us.size()))];
  };
  const double rps = static_cast<double>(all.gets + all.puts) / elapsed;
  std::printf("direct PostgreSQL, new connection per request: %d clients, %.1f s, get ratio %.2f, %llu keys, "
              "%zu-byte values\n",
              o.clients, elapsed, o.get_ratio, static_cast<unsigned long long>(o.keys), o.value_size);
  std::printf("requests/s %.0f  (gets %llu, puts %llu, errors %llu)  p50 %.0fus  p99 %.0fus\n", rps,
              static_cast<unsigned long long>(all.gets), static_cast<unsigned long long>(all.puts),
              static_cast<unsigned long long>(all.errors), pct(0.50), pct(0.99));
  if (all.errors > 0) std::printf("first error: %s\n", all.first_error.c_str());
  if (!o.json.empty()) {
    FILE* f = std::fopen(o.json.c_str(), "w");
    if (f) {
      std::fprintf(f,
                   "{\n  \"requests_per_second\": %.1f,\n  \"gets\": %llu,\n  \"puts\": %llu,\n  \"errors\": %llu,\n"
                   "  \"p50\": %.0f,\n  \"p99\": %.0f\n}\n",
                   rps, static_cast<unsigned long long>(all.gets), static_cast<unsigned long long>(all.puts),
                   static_cast<unsigned long long>(all.errors), pct(0.50), pct(0.99));
      std::fclose(f);
    }
  }
  return all.errors == 0 && all.gets + all.puts > 0 ? 0 : 1;
}

}  // namespace solar::cli
