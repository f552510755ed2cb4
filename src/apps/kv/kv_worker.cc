// builtin:kv — the database-fronting KV service (proto/kv.proto, docs/kv.md).
//
// Each worker process opens its own database connection in onStart, after the
// privilege drop, and keeps it for its life with the statements prepared: the
// web tier never holds database credentials and never pays a connection per
// request (seed 003). Over TCP a request is one frame32 frame, over UDP one
// datagram; the reply is one KvResponse the same way.
//
// Everything of the service lives in src/apps/kv/ and registers once, below,
// so the directory can also be built as a module on its own. Like any app it
// depends on the public API (src/api/) only: its settings come from
// WorkerInfo::settings (worker { settings { key: ... value: ... } }), read by
// the KV schema of proto/kv_config.proto (docs/kv.md).
#include <glog/logging.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "api/worker.h"
#include "apps/kv/kv_service.h"
#include "apps/kv/kv_settings.h"

namespace solar::kv {
namespace {

class KvWorker : public Worker {
 public:
  void onStart(const WorkerInfo& info) override {
    const std::string role = std::string(info.transport == Transport::kUdp ? "kv udp worker " : "kv worker ") +
                             std::to_string(info.slot);
    std::string note;
    settings_ = Resolve(info, &note);
    if (!note.empty()) LOG(WARNING) << role << ": " << note;

    service_ = std::make_unique<KvService>(settings_, MakeKvStore(settings_), role);
    if (auto reads = MakeKvReadStore(settings_)) service_->setReadStore(std::move(reads));
    StoreResult r = service_->start();
    if (r.ok()) {
      LOG(INFO) << role << ": serving " << DescribeBackend(settings_);
    } else if (settings_.backend == KvConfig::SQLITE) {
      // A file that cannot be opened will not open by waiting (permissions,
      // a missing directory): fail loudly, and the master logs it.
      throw std::runtime_error(r.message);
    } else {
      // A database server may come up after solar: serve UNAVAILABLE and
      // keep trying with back-off rather than refuse to start.
      LOG(WARNING) << role << ": " << r.message << "; answering UNAVAILABLE until it can connect ("
                   << DescribeBackend(settings_) << ")";
    }
  }

  // solar -t, start-up and HUP: bad KV settings are refused before any worker starts.
  void onCheck(const WorkerInfo& info) override {
    std::string note;
    Resolve(info, &note);
  }

  void process(Request& req, Response& resp) override {
    const size_t budget =
        req.transport() == Transport::kUdp ? settings_.max_udp_reply_bytes : settings_.max_tcp_reply_bytes;
    service_->handle(req.payload(), budget, &resp.body());
  }

  void onStop() override { service_.reset(); }

 private:
  // The worker's own settings, as the master read them from the config file
  // before dropping privileges (the file may be readable by root only, and
  // should be when it holds a database password); the frame limit and
  // state_dir from the same WorkerInfo.
  static KvSettings Resolve(const WorkerInfo& info, std::string* note) {
    KvSettings settings;
    const std::string error = ResolveKvSettings(info, &settings, note);
    // "settings.KEY: ..." without the file: solar -t puts FILE:LINE:COL in front.
    if (!error.empty()) throw std::runtime_error(error);
    return settings;
  }

  KvSettings settings_;
  std::unique_ptr<KvService> service_;
};

}  // namespace
}  // namespace solar::kv

SOLAR_REGISTER_WORKER("kv", solar::kv::KvWorker);
