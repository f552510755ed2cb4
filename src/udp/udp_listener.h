// The UDP roles (DESIGN.md "UDP path"; seed 003 §2).
//   UDP listener: reads datagrams in batches (recvmmsg) and puts each, tagged
//   with the client's address, on the SysV queue without ever blocking; a full
//   queue or an oversized datagram is dropped and counted, with a rate-limited
//   log line.
//   UDP worker: msgrcv loop -> Worker::process -> sendto on the inherited socket.
//   On stop it drains the queue before exiting.
// Runs in: UDP listener / UDP worker processes.
#pragma once

#include "app/child_context.h"

namespace solar {

int RunUdpListener(const ChildContext& ctx);
int RunUdpWorker(const ChildContext& ctx);

}  // namespace solar
