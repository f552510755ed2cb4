// solar-cli's command line: parsing into a KvRequest, and printing a reply.
//
//   solar-cli [-s HOST:PORT] [--udp] [--timeout MS] get KEY
//   solar-cli ... put KEY VALUE          (VALUE "-": read it from stdin)
//   solar-cli ... del KEY
//   solar-cli ... scan PREFIX [--limit N] [--start-after KEY] [--keys-only]
//
// Pure functions: no I/O, so the unit tests drive them with vectors and
// strings; main.cc does the reading, the network and the printing.
// Runs in: solar-cli (and unit tests).
#pragma once

#include <string>
#include <vector>

#include "kv.pb.h"

namespace solar::cli {

// Exit codes, for scripts.
inline constexpr int kExitOk = 0;
inline constexpr int kExitNotFound = 1;  // get/del of a missing key (as grep's "no match")
inline constexpr int kExitUsage = 2;
inline constexpr int kExitError = 3;      // the server answered with an error status
inline constexpr int kExitNoAnswer = 4;   // no connection, no reply, or an unparsable one

struct CliCommand {
  std::string server = "127.0.0.1:7700";
  bool udp = false;
  int timeout_ms = 5000;
  bool raw = false;           // get: print the value without a trailing newline
  bool value_from_stdin = false;  // put KEY -
  bool help = false;
  bool version = false;       // --version
  std::string verb;           // get put del scan
  kv::KvRequest request;
};

struct CliParse {
  CliCommand command;
  std::string error;  // "" on success
  bool ok() const { return error.empty(); }
};

// `args` excludes argv[0]. `env_server` is $SOLAR_SERVER ("" when unset); -s wins.
// getopt_long reads the options, so it is not reentrant (getopt's globals).
CliParse ParseCli(const std::vector<std::string>& args, const std::string& env_server);

std::string CliUsage();
// What a usage error prints after its message: CliUsage()'s synopsis (up to
// its first blank line) and where the rest is.
std::string CliUsageHint();

// What to print for a reply, and the exit code.
struct CliOutput {
  std::string out;  // for stdout
  std::string err;  // for stderr
  int code = kExitOk;
};
CliOutput FormatReply(const CliCommand& command, const kv::KvResponse& response);

// Bytes made safe for one line: printable ASCII stays, '\\' becomes "\\\\",
// anything else (tab, newline, non-ASCII) "\xNN". Scan output uses it so that
// KEY<TAB>VALUE lines always split cleanly.
std::string EscapeBytes(const std::string& bytes);

}  // namespace solar::cli
