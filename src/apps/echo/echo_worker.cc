// builtin:echo — replies with the request's bytes. The first worker, and the
// one the tests and benchmarks drive.
#include "api/worker.h"

namespace {

class EchoWorker : public solar::Worker {
 public:
  // assign() reuses the reply buffer: no allocation per request.
  void process(solar::Request& req, solar::Response& resp) override { resp.assign(req.payload()); }
};

}  // namespace

SOLAR_REGISTER_WORKER("echo", EchoWorker);
