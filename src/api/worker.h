// PUBLIC API. solar::Worker: implement process() to write business logic.
//
//   class MyWorker : public solar::Worker {
//     void onStart(const solar::WorkerInfo&) override;   // open DB connections here
//     void process(solar::Request& req, solar::Response& resp) override;
//   };
//   SOLAR_REGISTER_WORKER("myapp", MyWorker);
//
// Runs in: worker processes only, after the privilege drop. One request at a
// time per process: process() may block (a database call); other workers serve
// meanwhile. Includes nothing internal.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "api/request.h"
#include "api/response.h"

namespace solar {

struct WorkerInfo {
  int slot = 0;             // 0..workers-1 (TCP) or 0..udp workers-1 (UDP)
  Transport transport = Transport::kTcp;
  std::string name;         // the registered name, e.g. "echo"
  std::string config_path;  // the config file the server was started with ("" = defaults)
  // The server's effective configuration (protobuf text format,
  // proto/config.proto), as the master read it before dropping privileges.
  // For information only: a worker's own settings are `settings` below.
  std::string config_text;
  // An absolute directory this worker's user can write, kept across restarts
  // (config state_dir): put files that outlive a process here.
  std::string state_dir;
  // worker { settings { key: "..." value: "..." } } from the config: this
  // worker's own settings (database DSN, ...), passed on as written; the
  // server does not interpret them. The master read the file before dropping
  // privileges, so it may stay root-only when it holds a password.
  std::map<std::string, std::string> settings;
  // The config's max_frame_bytes: the largest request or reply a TCP
  // connection carries (a bigger reply closes the connection, or becomes an
  // error reply), so a worker that builds large replies stops short of it.
  // 0 = not known (a WorkerInfo not made by the server).
  size_t max_frame_bytes = 0;
};

struct ConnectionInfo {
  ConnectionId id;
  ClientAddress peer;
};

class Worker {
 public:
  virtual ~Worker() = default;

  // Called once after the process has dropped privileges, before any request.
  // Throwing (or returning false from a derived check) makes the worker exit
  // with an error, and the master logs it.
  virtual void onStart(const WorkerInfo&) {}
  // Called by `solar -t`, at start-up and before a HUP applies, in a throwaway
  // process (no onStart, no requests): check this worker's own settings in
  // info.settings and throw std::exception with a clear message to refuse.
  // A message naming a key as "settings.KEY: ..." is shown at that entry's
  // line of the config file.
  virtual void onCheck(const WorkerInfo&) {}
  // Called once on a graceful stop, after the last request.
  virtual void onStop() {}
  // A TCP connection assigned to this worker opened / closed.
  virtual void onConnect(const ConnectionInfo&) {}
  virtual void onClose(const ConnectionInfo&) {}

  // One whole request. Fill `resp`; leave it empty for an empty reply.
  virtual void process(Request& req, Response& resp) = 0;
};

using WorkerFactory = std::function<std::unique_ptr<Worker>()>;

// The layout of Worker and WorkerInfo. A module is compiled with the value it
// saw; solar refuses one built against another (its virtual functions would
// not line up), with a message saying to rebuild it. Bump it whenever a
// virtual function or a WorkerInfo field is added, or Request/Response change
// layout (4: Response::error; 5: WorkerInfo::max_frame_bytes; 6:
// Response::reference).
inline constexpr int kWorkerApiVersion = 6;

// Adds a factory under `name` (no prefix: "echo" is found as "builtin:echo").
// Returns true; used by SOLAR_REGISTER_WORKER at static-initialisation time.
bool RegisterWorker(const char* name, WorkerFactory factory, int api_version);

}  // namespace solar

#define SOLAR_REGISTER_WORKER_CONCAT2(a, b) a##b
#define SOLAR_REGISTER_WORKER_CONCAT(a, b) SOLAR_REGISTER_WORKER_CONCAT2(a, b)
#define SOLAR_REGISTER_WORKER(name, cls)                                               \
  static const bool SOLAR_REGISTER_WORKER_CONCAT(solar_registered_worker_, __LINE__) = \
      ::solar::RegisterWorker(                                                         \
          name, [] { return std::unique_ptr<::solar::Worker>(std::make_unique<cls>()); }, ::solar::kWorkerApiVersion)
