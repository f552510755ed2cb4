#include "apps/kv/kv_store.h"

#include <unistd.h>

#include "apps/kv/kv_settings.h"
#include "apps/kv/postgres_store.h"
#include "apps/kv/sqlite_store.h"

namespace solar::kv {

std::unique_ptr<KvStore> MakeKvStore(const KvSettings& s) {
  if (s.backend == KvConfig::POSTGRES) {
    return std::make_unique<PostgresStore>(s.postgres_dsn, s.table, s.connect_timeout_ms, s.request_timeout_ms,
                                           "solar-kv pid " + std::to_string(getpid()));
  }
  return std::make_unique<SqliteStore>(s.sqlite_path, s.table, s.sqlite_busy_timeout_ms, s.sqlite_synchronous);
}

std::unique_ptr<KvStore> MakeKvReadStore(const KvSettings& s) {
  if (s.backend != KvConfig::POSTGRES || s.postgres_read_dsn.empty()) return nullptr;
  return std::make_unique<PostgresStore>(s.postgres_read_dsn, s.table, s.connect_timeout_ms, s.request_timeout_ms,
                                         "solar-kv reads pid " + std::to_string(getpid()));
}

}  // namespace solar::kv
