#include "kv_test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <regex>

#include "server_harness.h"

namespace solar::testing {

namespace {

// `s` as a text-format string literal, quotes included.
std::string Quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string KvWorker(const KvSettingList& settings) {
  std::string out = "worker {\n  name: \"builtin:kv\"\n";
  for (const auto& [key, value] : settings) {
    out += "  settings { key: " + Quoted(key) + " value: " + Quoted(value) + " }\n";
  }
  return out + "}\n";
}

kv::KvRequest KvGet(const std::string& key) {
  kv::KvRequest r;
  r.mutable_get()->set_key(key);
  return r;
}

kv::KvRequest KvPut(const std::string& key, const std::string& value) {
  kv::KvRequest r;
  r.mutable_put()->set_key(key);
  r.mutable_put()->set_value(value);
  return r;
}

kv::KvRequest KvDel(const std::string& key) {
  kv::KvRequest r;
  r.mutable_del()->set_key(key);
  return r;
}

kv::KvRequest KvScan(const std::string& prefix, uint32_t limit, const std::string& start_after) {
  kv::KvRequest r;
  r.mutable_scan()->set_prefix(prefix);
  r.mutable_scan()->set_limit(limit);
  r.mutable_scan()->set_start_after(start_after);
  return r;
}

kv::KvResponse KvCallRaw(int fd, const std::string& payload, int timeout_ms) {
  kv::KvResponse resp;
  std::string reply;
  if (!WriteAll(fd, Frame32(payload))) {
    resp.set_error("test client: write failed");
  } else if (!ReadFrame32(fd, &reply, timeout_ms)) {
    resp.set_error("test client: no reply frame within " + std::to_string(timeout_ms) + " ms");
  } else if (!resp.ParseFromString(reply)) {
    resp.Clear();
    resp.set_error("test client: reply does not parse");
  }
  return resp;
}

kv::KvResponse KvCall(int fd, const kv::KvRequest& request, int timeout_ms) {
  return KvCallRaw(fd, request.SerializeAsString(), timeout_ms);
}

kv::KvResponse KvCallUdp(int port, const kv::KvRequest& request, int timeout_ms) {
  kv::KvResponse resp;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const std::string bytes = request.SerializeAsString();
  if (fd < 0 || sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) {
    resp.set_error("test client: sendto failed");
  } else {
    pollfd p{fd, POLLIN, 0};
    std::string buf(65536, '\0');
    ssize_t n = -1;
    if (poll(&p, 1, timeout_ms) == 1) n = recv(fd, buf.data(), buf.size(), 0);
    if (n < 0 || !resp.ParseFromArray(buf.data(), static_cast<int>(n))) {
      resp.Clear();
      resp.set_error("test client: no UDP reply within " + std::to_string(timeout_ms) + " ms");
    }
  }
  if (fd >= 0) close(fd);
  return resp;
}

KvDataDir::KvDataDir() {
  char tmpl[] = "/tmp/solar-kv-data-XXXXXX";
  path_ = mkdtemp(tmpl) ? tmpl : "/tmp";
  if (geteuid() == 0) {
    if (const passwd* pw = getpwnam("nobody")) [[maybe_unused]] int rc = chown(path_.c_str(), pw->pw_uid, pw->pw_gid);
  }
}

KvDataDir::~KvDataDir() {
  if (path_.rfind("/tmp/solar-kv-data-", 0) == 0) [[maybe_unused]] int rc = std::system(("rm -rf '" + path_ + "'").c_str());
}

int UdpPortFromLog(const std::string& log) {
  std::smatch m;
  static const std::regex kUdp("udp on [^ ]*:([0-9]+)");
  return std::regex_search(log, m, kUdp) ? std::stoi(m[1]) : -1;
}

}  // namespace solar::testing
