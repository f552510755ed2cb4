#include "app/worker_start.h"

#include <unistd.h>

#include <exception>

#include <glog/logging.h>

#include "app/module_loader.h"
#include "config/config.h"

namespace solar {

StartedWorker StartWorker(const ChildContext& ctx, Transport transport) {
  const Config& config = *ctx.config;
  const char* role = transport == Transport::kTcp ? "worker " : "udp worker ";
  StartedWorker out;
  std::string error;
  out.worker = LoadWorker(config.worker(), &out.name, &error);
  if (!out.worker) {
    LOG(ERROR) << role << ctx.index << ": " << DescribeWorker(config.worker()) << ": " << error;
    return out;
  }
  WorkerInfo info = MakeWorkerInfo(config, ctx.config_path, out.name);
  info.slot = ctx.index;
  info.transport = transport;
  try {
    out.worker->onStart(info);
  } catch (const std::exception& e) {
    LOG(ERROR) << role << ctx.index << ": " << DescribeWorker(config.worker()) << ": onStart failed: " << e.what();
    out.worker.reset();
    return out;
  }
  if (config.max_requests() > 0) {
    // Jitter spreads recycling so the workers do not all restart together (seed 002).
    const uint64_t jitter = config.max_requests_jitter();
    out.recycle_after =
        config.max_requests() + (jitter ? static_cast<uint64_t>(getpid()) * 2654435761u % (jitter + 1) : 0);
  }
  return out;
}

}  // namespace solar
