// builtin:echo — replies with the request's bytes. The first worker, and the
// one the tests and benchmarks drive.
#include "api/worker.h"

namespace {

class EchoWorker : public solar::Worker {
 public:
  // The reply is the request's own bytes: no copy, no allocation.
  void process(solar::Request& req, solar::Response& resp) override { resp.reference(req.payload()); }
};

}  // namespace

SOLAR_REGISTER_WORKER("echo", EchoWorker);
