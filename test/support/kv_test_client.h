// Test support: talking proto/kv.proto to a solar running builtin:kv, and a
// data directory its workers (user nobody) can write.
//
//   int fd = ConnectTcp(server.port());
//   kv::KvResponse r = KvCall(fd, KvPut("k", "v"));
//   EXPECT_EQ(r.status(), kv::OK);
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "kv.pb.h"

namespace solar::testing {

kv::KvRequest KvGet(const std::string& key);
kv::KvRequest KvPut(const std::string& key, const std::string& value);
kv::KvRequest KvDel(const std::string& key);
kv::KvRequest KvScan(const std::string& prefix, uint32_t limit = 0, const std::string& start_after = "");

// One frame32 exchange on a connected socket. A reply that does not come
// within timeout_ms, or does not parse, gives a response with status
// STATUS_UNSPECIFIED and the reason in error().
kv::KvResponse KvCall(int fd, const kv::KvRequest& request, int timeout_ms = 10000);
// The same with raw request bytes (malformed requests).
kv::KvResponse KvCallRaw(int fd, const std::string& payload, int timeout_ms = 10000);
// One datagram each way to 127.0.0.1:port.
kv::KvResponse KvCallUdp(int port, const kv::KvRequest& request, int timeout_ms = 5000);

// A fresh temp dir that the worker user (nobody, when the tests run as root)
// can write: where builtin:kv keeps its SQLite file. Removed by the destructor.
class KvDataDir {
 public:
  KvDataDir();
  ~KvDataDir();
  KvDataDir(const KvDataDir&) = delete;
  KvDataDir& operator=(const KvDataDir&) = delete;
  const std::string& path() const { return path_; }
  std::string sqlitePath() const { return path_ + "/kv.sqlite3"; }

 private:
  std::string path_;
};

// The worker section running builtin:kv with these settings (docs/kv.md), in
// the order given: KvWorker({{"backend", "postgres"}, {"postgres_dsn", dsn}})
// is worker { name: "builtin:kv" settings { key: "backend" value: "postgres" } ... }.
using KvSettingList = std::vector<std::pair<std::string, std::string>>;
std::string KvWorker(const KvSettingList& settings = {});

// The UDP port from the master's ready line ("udp on 127.0.0.1:PORT ..."); -1 if none.
int UdpPortFromLog(const std::string& log);

}  // namespace solar::testing
