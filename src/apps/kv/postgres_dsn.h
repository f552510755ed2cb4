// The DSN split per host, for PostgresStore's one-host-at-a-time connect
// (postgres_store.h: libpq's own walk over the hosts has no per-host timeout
// in non-blocking mode).
// Runs in: KV worker processes.
#pragma once

#include <string>
#include <vector>

#include "apps/kv/postgres_store.h"

namespace solar::kv {

// The DSN's options, one set per host of a multi-host DSN. A DSN libpq cannot
// parse, or whose host, hostaddr and port lists do not line up, stays whole
// (libpq then reports the problem when it connects).
void SplitHosts(const std::string& dsn, std::vector<PostgresStore::Options>* targets, std::vector<std::string>* names,
                bool* prefer_standby, bool* unparsed);

}  // namespace solar::kv
