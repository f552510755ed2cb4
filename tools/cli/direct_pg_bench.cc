#include "direct_pg_bench.h"

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

bool Parse(const std::vector<std::string>& args, Options* o, std::string* error) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      *error = "";
      return false;
    }
    if (i + 1 >= args.size()) {
      *error = "option " + a + " needs a value (or is unknown)";
      return false;
    }
    const std::string v = args[++i];
    char* end = nullptr;
    if (a == "--dsn") {
      o->dsn = v;
    } else if (a == "--table") {
      o->table = v;
    } else if (a == "--json") {
      o->json = v;
    } else if (a == "-c" || a == "--clients") {
      o->clients = static_cast<int>(std::strtol(v.c_str(), &end, 10));
      if (*end || o->clients < 1 || o->clients > 1000) *error = "clients: 1..1000";
    } else if (a == "-d" || a == "--duration") {
      o->seconds = std::strtod(v.c_str(), &end);
      if (*end || o->seconds <= 0) *error = "duration: seconds > 0";
    } else if (a == "--get-ratio") {
      o->get_ratio = std::strtod(v.c_str(), &end);
      if (*end || o->get_ratio < 0 || o->get_ratio > 1) *error = "get-ratio: 0..1";
    } else if (a == "--keys") {
      o->keys = std::strtoull(v.c_str(), &end, 10);
      if (*end || o->keys < 1) *error = "keys: >= 1";
    } else if (a == "--value-size") {
      o->value_size = std::strtoull(v.c_str(), &end, 10);
      if (*end || o->value_size > (1u << 20)) *error = "value-size: 0..1048576";
    } else {
      *error = "unknown option '" + a + "'";
    }
    if (!error->empty()) return false;
  }
  if (o->dsn.empty()) *error = "--dsn is required";
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
    std::fprintf(stderr, "solar-cli bench-direct-pg: %s\n%s", error.c_str(), kUsage);
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
