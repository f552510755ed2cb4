#include "apps/kv/postgres_dsn.h"

#include <libpq-fe.h>

#include <algorithm>
#include <utility>

namespace solar::kv {
namespace {

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  size_t from = 0;
  for (;;) {
    const size_t comma = s.find(',', from);
    out.push_back(s.substr(from, comma == std::string::npos ? std::string::npos : comma - from));
    if (comma == std::string::npos) return out;
    from = comma + 1;
  }
}

// A DSN as libpq parses it: the per-host lists apart from everything else.
struct DsnParts {
  PostgresStore::Options common;
  std::vector<std::string> hosts, addrs, ports;
  std::string attrs;  // target_session_attrs
};

// False if libpq cannot parse the DSN.
bool ParseDsn(const std::string& dsn, DsnParts* out) {
  char* why = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(dsn.c_str(), &why);
  PQfreemem(why);
  if (parsed == nullptr) return false;
  for (PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string keyword = o->keyword;
    if (keyword == "host") {
      out->hosts = SplitList(o->val);
    } else if (keyword == "hostaddr") {
      out->addrs = SplitList(o->val);
    } else if (keyword == "port") {
      out->ports = SplitList(o->val);
    } else if (keyword == "target_session_attrs") {
      out->attrs = o->val;
    } else {
      out->common.emplace_back(keyword, o->val);
    }
  }
  PQconninfoFree(parsed);
  return true;
}

}  // namespace

void SplitHosts(const std::string& dsn, std::vector<PostgresStore::Options>* targets, std::vector<std::string>* names,
                bool* prefer_standby, bool* unparsed) {
  DsnParts p;
  if (!ParseDsn(dsn, &p)) {
    *unparsed = true;
    targets->push_back({{"dbname", dsn}});
    names->push_back("");
    return;
  }
  const size_t n = std::max(p.hosts.size(), p.addrs.size());
  const bool lined_up = (p.hosts.empty() || p.hosts.size() == n) && (p.addrs.empty() || p.addrs.size() == n) &&
                        (p.ports.size() <= 1 || p.ports.size() == n);
  *prefer_standby = n > 1 && lined_up && p.attrs == "prefer-standby";
  if (!*prefer_standby && !p.attrs.empty()) p.common.emplace_back("target_session_attrs", p.attrs);
  if (n <= 1 || !lined_up) {
    PostgresStore::Options whole = p.common;
    for (auto [keyword, list] : {std::pair<const char*, const std::vector<std::string>*>{"host", &p.hosts},
                                 {"hostaddr", &p.addrs}, {"port", &p.ports}}) {
      std::string joined;
      for (size_t i = 0; i < list->size(); ++i) joined += (i ? "," : "") + (*list)[i];
      if (!list->empty()) whole.emplace_back(keyword, joined);
    }
    targets->push_back(std::move(whole));
    names->push_back("");
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    PostgresStore::Options one = p.common;
    const std::string host = p.hosts.empty() ? "" : p.hosts[i];
    const std::string addr = p.addrs.empty() ? "" : p.addrs[i];
    const std::string port = p.ports.empty() ? "" : p.ports.size() == 1 ? p.ports[0] : p.ports[i];
    if (!host.empty()) one.emplace_back("host", host);
    if (!addr.empty()) one.emplace_back("hostaddr", addr);
    if (!port.empty()) one.emplace_back("port", port);
    targets->push_back(std::move(one));
    names->push_back((host.empty() ? addr.empty() ? "default host" : addr : host) + ":" +
                     (port.empty() ? "5432" : port));
  }
}

}  // namespace solar::kv
