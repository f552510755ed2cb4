#include "report.h"

#include <cinttypes>
#include <cstdarg>
#include <cstdio>

#include "stall_summary.h"

namespace solar::bench {
namespace {

constexpr ErrorKind kAllErrorKinds[] = {ErrorKind::kConnect, ErrorKind::kClosed, ErrorKind::kTimeout,
                                        ErrorKind::kMismatch, ErrorKind::kServer};

std::string Printf(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string Printf(const char* format, ...) {
  char buf[512];
  va_list args;
  va_start(args, format);
  vsnprintf(buf, sizeof(buf), format, args);
  va_end(args);
  return buf;
}

std::string PercentileLabel(double p) { return p == 99.9 ? "p99.9" : Printf("p%.0f", p); }
std::string PercentileKey(double p) { return p == 99.9 ? "p99_9" : Printf("p%.0f", p); }

// JSON string escaping for the few free-text fields (target, workload).
std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += Printf("\\u%04x", c);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string Micros(uint64_t ns) { return Printf("%.3f", static_cast<double>(ns) / 1e3); }

std::string SizeText(const Options& o) {
  return o.size_min == o.size_max ? Printf("%zu B", o.size_min) : Printf("%zu-%zu B", o.size_min, o.size_max);
}

// The slow payload as typed, quoted; bytes that are not printable as \xNN.
std::string Quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    out += u < 0x20 || u >= 0x7f || c == '"' || c == '\\' ? Printf("\\x%02x", u) : std::string(1, c);
  }
  return out + "\"";
}

// "24 connections" / "1 connection" (UDP: sockets).
std::string ConnectionCount(const Options& o, int n) {
  const char* noun = o.proto == Proto::kUdp ? "socket" : "connection";
  return Printf("%d %s%s", n, noun, n == 1 ? "" : "s");
}

// The head-of-line lines of the text report: the slow connections' requests,
// and how many -c connections stalled.
std::string FormatHeadOfLine(const Options& o, const RunResult& r) {
  std::string out;
  if (o.slow_connections > 0) {
    const Histogram& h = r.slow.latency;
    out += Printf("Slow       %s requests", WithCommas(r.slow.requests).c_str());
    if (h.count() > 0) {
      out += Printf(", p50 %s, max %s", FormatLatency(h.valueAtPercentile(50)).c_str(),
                    FormatLatency(h.max()).c_str());
    }
    out += Printf(", errors %s\n", WithCommas(r.slow.totalErrors()).c_str());
  }
  const StallSummary s = SummarizeStalls(r.connection_medians_ns, o.stall_threshold_ns);
  out += Printf("Stalled    %d/%d %s (%.1f%%) with a median latency > %s", s.stalled, s.connections,
                o.proto == Proto::kUdp ? "sockets" : "connections", s.share() * 100,
                FormatLatency(o.stall_threshold_ns).c_str());
  if (s.silent > 0) out += Printf(", %d of them without a reply", s.silent);
  if (s.silent < s.connections) {  // some connection had replies
    out += Printf("; medians %s .. %s", FormatLatency(s.lowest_median_ns).c_str(),
                  FormatLatency(s.highest_median_ns).c_str());
  }
  return out + "\n";
}

}  // namespace

std::string FormatLatency(uint64_t ns) {
  if (ns < 1000) return Printf("%" PRIu64 "ns", ns);
  if (ns < 1'000'000) return Printf("%.1fus", static_cast<double>(ns) / 1e3);
  if (ns < 1'000'000'000) return Printf("%.2fms", static_cast<double>(ns) / 1e6);
  return Printf("%.2fs", static_cast<double>(ns) / 1e9);
}

std::string WithCommas(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string FormatReport(const Options& o, const RunResult& r) {
  const Stats& s = r.stats;
  const Histogram& h = s.latency;
  std::string out;
  out += Printf("Target     %s  %s, workload %s, %s\n", o.target.c_str(), ProtoName(o.proto), o.workload.c_str(),
                SizeText(o).c_str());
  out += Printf("Load       %d %s, %d thread%s, pipeline %d, ", o.connections,
                o.proto == Proto::kUdp ? "sockets" : "connections", o.threads, o.threads == 1 ? "" : "s", o.pipeline);
  out += o.rate > 0 ? Printf("open loop at %s req/s\n", WithCommas(static_cast<uint64_t>(o.rate)).c_str())
                    : std::string("closed loop\n");
  if (o.slow_connections > 0) {
    out += Printf("           + %s looping %s, one request in flight each (counted apart)\n",
                  ConnectionCount(o, o.slow_connections).c_str(), Quoted(o.slow_payload).c_str());
  }
  out += Printf("Time       %.2fs measured", r.seconds);
  if (r.warmup_ns > 0) out += Printf(" after %.2fs warm-up", static_cast<double>(r.warmup_ns) / 1e9);
  if (r.interrupted) out += " (interrupted)";
  out += "\n\n";

  out += Printf("Requests   %s  (%s/s)\n", WithCommas(s.requests).c_str(),
                WithCommas(static_cast<uint64_t>(r.requestsPerSecond() + 0.5)).c_str());
  out += Printf("Transfer   %.2f MB/s  (sent %.2f MB, received %.2f MB)\n", r.megabytesPerSecond(),
                static_cast<double>(s.bytes_sent) / 1e6, static_cast<double>(s.bytes_received) / 1e6);
  out += "Latency    ";
  out += Printf("%9s", "min");
  for (double p : kReportedPercentiles) out += Printf("%9s", PercentileLabel(p).c_str());
  out += Printf("%9s%9s\n           ", "max", "mean");
  // Nothing measured shows as "-", not as a latency of 0.
  auto cell = [&h](uint64_t ns) { return Printf("%9s", h.count() == 0 ? "-" : FormatLatency(ns).c_str()); };
  out += cell(h.min());
  for (double p : kReportedPercentiles) out += cell(h.valueAtPercentile(p));
  out += cell(h.max()) + cell(static_cast<uint64_t>(h.mean() + 0.5)) + "\n";
  out += Printf("Errors     %s", WithCommas(s.totalErrors()).c_str());
  const char* sep = "  (";
  for (ErrorKind kind : kAllErrorKinds) {
    out += Printf("%s%s %s", sep, ErrorKindName(kind), WithCommas(s.error(kind)).c_str());
    sep = ", ";
  }
  out += ")\n";
  if (o.retry) {
    out += Printf("Retry      %s connections closed by the server, %s requests resent\n",
                  WithCommas(s.server_closes).c_str(), WithCommas(s.resent).c_str());
  }
  if (o.perConnectionReport()) out += FormatHeadOfLine(o, r);
  return out;
}

std::string FormatJson(const Options& o, const RunResult& r) {
  // One field per line: scripts/bench.sh reads it with sed, no jq needed.
  const Stats& s = r.stats;
  const Histogram& h = s.latency;
  std::string out = "{\n";
  out += "  \"target\": " + JsonString(o.target) + ",\n";
  out += Printf("  \"proto\": \"%s\",\n", ProtoName(o.proto));
  out += "  \"workload\": " + JsonString(o.workload) + ",\n";
  out += Printf("  \"connections\": %d,\n  \"threads\": %d,\n  \"pipeline\": %d,\n", o.connections, o.threads,
                o.pipeline);
  out += Printf("  \"size_min\": %zu,\n  \"size_max\": %zu,\n", o.size_min, o.size_max);
  out += Printf("  \"target_rate\": %.3f,\n", o.rate);
  out += Printf("  \"warmup_seconds\": %.3f,\n", static_cast<double>(r.warmup_ns) / 1e9);
  out += Printf("  \"seconds\": %.6f,\n", r.seconds);
  out += Printf("  \"interrupted\": %s,\n", r.interrupted ? "true" : "false");
  out += Printf("  \"requests\": %" PRIu64 ",\n", s.requests);
  out += Printf("  \"requests_per_second\": %.3f,\n", r.requestsPerSecond());
  out += Printf("  \"megabytes_per_second\": %.6f,\n", r.megabytesPerSecond());
  out += Printf("  \"bytes_sent\": %" PRIu64 ",\n  \"bytes_received\": %" PRIu64 ",\n", s.bytes_sent,
                s.bytes_received);
  out += "  \"latency_us\": {\n";
  out += "    \"min\": " + Micros(h.min()) + ",\n";
  for (double p : kReportedPercentiles) {
    out += "    \"" + PercentileKey(p) + "\": " + Micros(h.valueAtPercentile(p)) + ",\n";
  }
  out += "    \"max\": " + Micros(h.max()) + ",\n";
  out += Printf("    \"mean\": %.3f\n", h.mean() / 1e3);
  out += "  },\n";
  out += "  \"errors\": {\n";
  out += Printf("    \"total\": %" PRIu64, s.totalErrors());
  for (ErrorKind kind : kAllErrorKinds) out += Printf(",\n    \"%s\": %" PRIu64, ErrorKindName(kind), s.error(kind));
  out += "\n  }";
  if (o.retry) {
    out += Printf(",\n  \"retry\": {\"server_closes\": %" PRIu64 ", \"resent\": %" PRIu64 "}", s.server_closes,
                  s.resent);
  }
  // After everything else, with names of their own: scripts that take the
  // first "p50" or "requests" keep getting the -c connections' figures.
  if (o.perConnectionReport()) {
    const Histogram& slow = r.slow.latency;
    out += ",\n  \"head_of_line\": {\n";
    out += Printf("    \"slow_connections\": %d,\n", o.slow_connections);
    out += "    \"slow_payload\": " + JsonString(o.slow_payload) + ",\n";
    out += Printf("    \"slow_requests\": %" PRIu64 ",\n", r.slow.requests);
    out += Printf("    \"slow_errors\": %" PRIu64 ",\n", r.slow.totalErrors());
    out += "    \"slow_p50_us\": " + Micros(slow.valueAtPercentile(50)) + ",\n";
    out += "    \"slow_max_us\": " + Micros(slow.max()) + ",\n";
    const StallSummary st = SummarizeStalls(r.connection_medians_ns, o.stall_threshold_ns);
    out += "    \"stall_threshold_us\": " + Micros(o.stall_threshold_ns) + ",\n";
    out += Printf("    \"judged_connections\": %d,\n", st.connections);
    out += Printf("    \"stalled_connections\": %d,\n", st.stalled);
    out += Printf("    \"stalled_share\": %.6f,\n", st.share());
    out += Printf("    \"silent_connections\": %d,\n", st.silent);
    out += "    \"highest_median_us\": " + Micros(st.highest_median_ns) + ",\n";
    // One per -c connection, in connection order; null: no measured reply.
    out += "    \"connection_medians_us\": [";
    for (size_t i = 0; i < r.connection_medians_ns.size(); ++i) {
      const uint64_t median = r.connection_medians_ns[i];
      out += (i == 0 ? "" : ", ") + (median == kNoMedian ? std::string("null") : Micros(median));
    }
    out += "]\n  }";
  }
  out += "\n}\n";
  return out;
}

std::string FormatProgress(double elapsed_s, bool warming_up, double interval_rate, const Stats& so_far) {
  return Printf("solar-bench: %5.0fs %s %10s req/s  p99 %8s  errors %s\n", elapsed_s, warming_up ? "warm-up " : "running ",
                WithCommas(static_cast<uint64_t>(interval_rate + 0.5)).c_str(),
                so_far.latency.count() > 0 ? FormatLatency(so_far.latency.valueAtPercentile(99)).c_str() : "-",
                WithCommas(so_far.totalErrors()).c_str());
}

int ExitCodeFor(const RunResult& result) {
  return result.stats.totalErrors() == 0 && result.stats.requests > 0 ? 0 : 1;
}

}  // namespace solar::bench
