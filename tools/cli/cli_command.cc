#include "cli_command.h"

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
         "\n"
         "Talks to a solar server running builtin:kv (proto/kv.proto).\n"
         "\n"
         "  -s, --server HOST:PORT  the server [$SOLAR_SERVER, else 127.0.0.1:7700]\n"
         "  -u, --udp               one datagram each way instead of a TCP frame32 connection\n"
         "  -t, --timeout MS        give up on an answer after MS milliseconds [5000]\n"
         "  -r, --raw               get: print the value exactly, no newline after it\n"
         "  -h, --help              this text\n"
         "\n"
         "Output: get prints the value; scan prints KEY<TAB>VALUE per line (KEY only with\n"
         "--keys-only), bytes other than printable ASCII as \\xNN and '\\' as \\\\; put and\n"
         "del print nothing. A truncated scan says on stderr how to continue.\n"
         "\n"
         "Exit status: 0 ok, 1 key not found, 2 usage error, 3 error reply (the message\n"
         "goes to stderr), 4 no answer (cannot connect, timed out).\n";
}

CliParse ParseCli(const std::vector<std::string>& args, const std::string& env_server) {
  CliParse p;
  CliCommand& c = p.command;
  if (!env_server.empty()) c.server = env_server;
  std::vector<std::string> words;
  long limit = -1;
  std::string start_after;
  bool keys_only = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= args.size()) {
        p.error = "option " + a + " needs a value";
        return false;
      }
      *out = args[++i];
      return true;
    };
    std::string v;
    if (a == "--") {
      words.insert(words.end(), args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    } else if (a == "-s" || a == "--server") {
      if (!value(&c.server)) return p;
    } else if (a == "-u" || a == "--udp") {
      c.udp = true;
    } else if (a == "-t" || a == "--timeout") {
      long ms = 0;
      if (!value(&v)) return p;
      if (!ParseNumber(v, 1, 3600000, &ms)) {
        p.error = "invalid timeout '" + v + "': milliseconds, 1..3600000";
        return p;
      }
      c.timeout_ms = static_cast<int>(ms);
    } else if (a == "-r" || a == "--raw") {
      c.raw = true;
    } else if (a == "-h" || a == "--help") {
      c.help = true;
      return p;
    } else if (a == "--limit") {
      if (!value(&v)) return p;
      if (!ParseNumber(v, 1, 1000000, &limit)) {
        p.error = "invalid limit '" + v + "': 1..1000000";
        return p;
      }
    } else if (a == "--start-after") {
      if (!value(&start_after)) return p;
    } else if (a == "--keys-only") {
      keys_only = true;
    } else if (a.size() > 1 && a[0] == '-' && a != "-") {
      p.error = "unknown option '" + a + "'";
      return p;
    } else {
      words.push_back(a);
    }
  }
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
