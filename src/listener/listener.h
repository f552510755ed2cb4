// The listener role: holds client connections in a libevent loop, frames each
// byte stream into whole requests, forwards them as tagged records to the
// connection's worker, and writes the replies back (DESIGN.md "TCP path").
// It never blocks: EAGAIN on a socketpair queues in the OutChannel, EAGAIN on
// a client queues in the connection's output buffer.
// Runs in: listener processes. Entry point: RunListener.
#pragma once

#include "app/child_context.h"

namespace solar {

// Runs until stopped; returns the process exit code.
int RunListener(const ChildContext& ctx);

}  // namespace solar
