#include "cli_command.h"

#include <getopt.h>

#include <cstdio>

namespace solar::cli {
namespace {

bool ParseNumber(const std::string& text, long lo, long hi, long* out) {
  if (text.empty() || text.size() > 9) return false;
  long v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v < lo || v > hi) return false;
  *out = v;
  return true;
}

}  // namespace

std::string CliUsage() {
  return "usage: solar-cli [options] get KEY\n"
         "       solar-cli [options] put KEY VALUE      (VALUE - reads it from stdin)\n"
         "       solar-cli [options] del KEY\n"
         "       solar-cli [options] scan PREFIX [--limit N] [--start-after KEY] [--keys-only]\n"
         "       solar-cli bench-direct-pg --help       (the comparison client, docs/kv.md)\n"
         "       solar-cli --version\n"
         "\n"
         "Talks to a solar server running builtin:kv (proto/kv.proto).\n"
         "\n"
         "  -s, --server HOST:PORT  the server [$SOLAR_SERVER, else 127.0.0.1:7700]\n"
         "  -u, --udp               one datagram each way instead of a TCP frame32 connection\n"
         "  -t, --timeout MS        give up on an answer after MS milliseconds [5000]\n"
         "  -r, --raw               get: print the value exactly, no newline after it\n"
         "  -h, --help              this text\n"
         "      --version           print the version and exit\n"
         "\n"
         "Output: get prints the value; scan prints KEY<TAB>VALUE per line (KEY only with\n"
         "--keys-only), bytes other than printable ASCII as \\xNN and '\\' as \\\\; put and\n"
         "del print nothing. A truncated scan says on stderr how to continue.\n"
         "\n"
         "Exit status: 0 ok, 1 key not found, 2 usage error, 3 error reply (the message\n"
         "goes to stderr), 4 no answer (cannot connect, timed out).\n";
}

std::string CliUsageHint() {
  const std::string usage = CliUsage();
  return usage.substr(0, usage.find("\n\n") + 1) + "Try 'solar-cli --help'.\n";
}

CliParse ParseCli(const std::vector<std::string>& args, const std::string& env_server) {
  CliParse p;
  CliCommand& c = p.command;
  if (!env_server.empty()) c.server = env_server;
  std::vector<std::string> words;
  long limit = -1;
  std::string start_after;
  bool keys_only = false;

  // getopt_long. "-" returns the words in order (as 1), so options may come
  // before or after them ("scan user: --limit 10") whatever $POSIXLY_CORRECT
  // says; ":" tells a missing value from an unknown option; "--" ends the
  // options (a key that starts with '-'). Long-only options get values above
  // any char.
  enum { kLimit = 256, kStartAfter, kKeysOnly, kVersion };
  static const option kLong[] = {{"server", required_argument, nullptr, 's'},
                                 {"udp", no_argument, nullptr, 'u'},
                                 {"timeout", required_argument, nullptr, 't'},
                                 {"raw", no_argument, nullptr, 'r'},
                                 {"help", no_argument, nullptr, 'h'},
                                 {"limit", required_argument, nullptr, kLimit},
                                 {"start-after", required_argument, nullptr, kStartAfter},
                                 {"keys-only", no_argument, nullptr, kKeysOnly},
                                 {"version", no_argument, nullptr, kVersion},
                                 {nullptr, 0, nullptr, 0}};
  std::vector<std::string> argv_words = {"solar-cli"};
  argv_words.insert(argv_words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& w : argv_words) argv.push_back(w.data());
  argv.push_back(nullptr);
  const int argc = static_cast<int>(argv_words.size());
  optind = 0;  // glibc: a fresh scan, whatever an earlier call left
  opterr = 0;  // never print: main() does
  for (int o; (o = getopt_long(argc, argv.data(), "-:s:ut:rh", kLong, nullptr)) != -1;) {
    const std::string arg = argv[static_cast<size_t>(optind - 1)];  // a long option's whole word
    const bool long_form = arg.rfind("--", 0) == 0;
    const std::string v = optarg != nullptr ? optarg : "";
    switch (o) {
      case 1: words.push_back(v); break;
      case 's': c.server = v; break;
      case 'u': c.udp = true; break;
      case 'r': c.raw = true; break;
      case 'h': c.help = true; return p;
      case kVersion: c.version = true; return p;
      case kKeysOnly: keys_only = true; break;
      case kStartAfter: start_after = v; break;
      case 't': {
        long ms = 0;
        if (!ParseNumber(v, 1, 3600000, &ms)) {
          p.error = "invalid timeout '" + v + "': milliseconds, 1..3600000";
          return p;
        }
        c.timeout_ms = static_cast<int>(ms);
        break;
      }
      case kLimit:
        if (!ParseNumber(v, 1, 1000000, &limit)) {
          p.error = "invalid limit '" + v + "': 1..1000000";
          return p;
        }
        break;
      case ':':
        p.error = "option " + (long_form ? arg : "-" + std::string(1, static_cast<char>(optopt))) + " needs a value";
        return p;
      default: {  // '?': optopt 0 is an unknown long option, a flag's id a value given to it (--udp=1)
        const bool flag = optopt == 'u' || optopt == 'r' || optopt == 'h' || optopt == kKeysOnly || optopt == kVersion;
        if (optopt == 0) {
          p.error = "unknown option '" + arg + "'";
        } else if (flag && long_form) {
          p.error = "option '" + arg + "' takes no value";
        } else {
          p.error = "unknown option '-" + std::string(1, static_cast<char>(optopt)) + "'";
        }
        return p;
      }
    }
  }
  for (int i = optind; i < argc; ++i) words.emplace_back(argv[static_cast<size_t>(i)]);  // after "--"
  if (words.empty()) {
    p.error = "missing command: get, put, del or scan";
    return p;
  }
  c.verb = words[0];
  const size_t want = c.verb == "put" ? 3 : c.verb == "scan" ? 0 : 2;
  if (c.verb != "get" && c.verb != "put" && c.verb != "del" && c.verb != "scan") {
    p.error = "unknown command '" + c.verb + "': get, put, del or scan";
    return p;
  }
  if (c.verb == "scan" ? words.size() > 2 : words.size() != want) {
    p.error = c.verb + " takes " +
              (c.verb == "put" ? "KEY VALUE" : c.verb == "scan" ? "at most one PREFIX" : "one KEY");
    return p;
  }
  if (c.verb != "scan" && (limit >= 0 || !start_after.empty() || keys_only)) {
    p.error = "--limit, --start-after and --keys-only go with scan";
    return p;
  }
  if (c.verb == "get") {
    c.request.mutable_get()->set_key(words[1]);
  } else if (c.verb == "del") {
    c.request.mutable_del()->set_key(words[1]);
  } else if (c.verb == "put") {
    c.request.mutable_put()->set_key(words[1]);
    if (words[2] == "-") {
      c.value_from_stdin = true;
    } else {
      c.request.mutable_put()->set_value(words[2]);
    }
  } else {
    kv::Scan* s = c.request.mutable_scan();
    if (words.size() == 2) s->set_prefix(words[1]);
    if (limit > 0) s->set_limit(static_cast<uint32_t>(limit));
    s->set_start_after(start_after);
    s->set_keys_only(keys_only);
  }
  return p;
}

std::string EscapeBytes(const std::string& bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (unsigned char ch : bytes) {
    if (ch == '\\') {
      out += "\\\\";
    } else if (ch >= 0x20 && ch < 0x7f) {
      out += static_cast<char>(ch);
    } else {
      char buf[5];
      std::snprintf(buf, sizeof(buf), "\\x%02x", ch);
      out += buf;
    }
  }
  return out;
}

CliOutput FormatReply(const CliCommand& command, const kv::KvResponse& r) {
  CliOutput o;
  if (r.status() != kv::OK) {
    o.code = r.status() == kv::NOT_FOUND ? kExitNotFound : kExitError;
    o.err = "solar-cli: " + kv::Status_Name(r.status()) + (r.error().empty() ? "" : ": " + r.error()) + "\n";
    return o;
  }
  if (command.verb == "get") {
    o.out = r.value();
    if (!command.raw) o.out += '\n';
  } else if (command.verb == "scan") {
    for (const kv::Entry& e : r.entries()) {
      o.out += EscapeBytes(e.key());
      if (!command.request.scan().keys_only()) o.out += '\t' + EscapeBytes(e.value());
      o.out += '\n';
    }
    if (r.more() && r.entries_size() > 0) {
      o.err = "solar-cli: more keys follow; continue with --start-after '" +
              EscapeBytes(r.entries(r.entries_size() - 1).key()) + "'\n";
    }
  }
  return o;
}

}  // namespace solar::cli
