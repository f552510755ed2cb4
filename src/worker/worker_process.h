// The worker role: receives records from its socketpair, reassembles chunked
// requests, calls Worker::process one request at a time, and sends each reply
// on the listener's socketpair. While a reply is queued (EAGAIN) it stops
// reading requests, so what it holds stays small and is listed in its
// scoreboard slot for the master to act on if it dies (DESIGN.md "TCP path").
// Runs in: worker processes. Entry point: RunWorker.
#pragma once

#include "app/child_context.h"

namespace solar {

int RunWorker(const ChildContext& ctx);

}  // namespace solar
