// KV settings (src/apps/kv/kv_settings.h): the worker's settings map read by
// KvConfig's field names (proto/kv_config.proto), the defaults, the checks
// with messages that name the key, the value limit fitted to the frame limit,
// and a log description that never shows a password.
#include "apps/kv/kv_settings.h"

#include <gtest/gtest.h>

namespace solar::kv {
namespace {

using Settings = std::map<std::string, std::string>;

// Resolves settings as a KV worker gets them (WorkerInfo); returns the error
// ("" = ok).
std::string Resolve(const Settings& settings, KvSettings* s, std::string* note = nullptr,
                    const std::string& state_dir = "", size_t max_frame_bytes = 4u << 20) {
  WorkerInfo info;
  info.name = "builtin:kv";
  info.settings = settings;
  info.state_dir = state_dir;
  info.max_frame_bytes = max_frame_bytes;
  std::string n;
  return ResolveKvSettings(info, s, note ? note : &n);
}

TEST(KvSettings, NoSettingsMeansSqliteUnderVarKv) {
  KvSettings s;
  ASSERT_EQ(Resolve({}, &s), "");
  EXPECT_EQ(s.backend, KvConfig::SQLITE);
  EXPECT_EQ(s.sqlite_path, "var/kv/kv.sqlite3");
  EXPECT_EQ(s.sqlite_synchronous, "NORMAL");
  EXPECT_EQ(s.table, "kv");
  EXPECT_EQ(s.max_value_bytes, 1u << 20);
  EXPECT_EQ(s.max_tcp_reply_bytes, 4u << 20);
  EXPECT_EQ(s.max_udp_reply_bytes, 65507u);
}

TEST(KvSettings, WithoutASqlitePathTheDatabaseLivesInTheServersStateDir) {
  KvSettings s;
  ASSERT_EQ(Resolve({}, &s, nullptr, "/var/lib/solar"), "");
  EXPECT_EQ(s.sqlite_path, "/var/lib/solar/kv/kv.sqlite3");
  ASSERT_EQ(Resolve({{"sqlite_path", "/data/my.db"}}, &s, nullptr, "/var/lib/solar"), "");
  EXPECT_EQ(s.sqlite_path, "/data/my.db");
}

TEST(KvSettings, GivenKeysOverrideTheDefaults) {
  KvSettings s;
  ASSERT_EQ(Resolve({{"backend", "postgres"},
                     {"postgres_dsn", "host=db dbname=app"},
                     {"table", "sessions"},
                     {"reconnect_min_ms", "50"},
                     {"reconnect_max_ms", "60"},
                     {"max_key_bytes", "100"},
                     {"sqlite_busy_timeout_ms", "0"}},  // 0: the default, as a field left out
                    &s),
            "");
  EXPECT_EQ(s.backend, KvConfig::POSTGRES);
  EXPECT_EQ(s.postgres_dsn, "host=db dbname=app");
  EXPECT_EQ(s.table, "sessions");
  EXPECT_EQ(s.reconnect_min_ms, 50u);
  EXPECT_EQ(s.reconnect_max_ms, 60u);
  EXPECT_EQ(s.max_key_bytes, 100u);
  EXPECT_EQ(s.sqlite_busy_timeout_ms, 5000u);
}

TEST(KvSettings, EveryKvConfigFieldIsAKey) {
  // The keys are KvConfig's field names, so a field added to
  // proto/kv_config.proto is a setting at once.
  KvConfig c;
  ASSERT_EQ(ParseKvConfig({{"backend", "SQLite"},
                           {"sqlite_path", "/d/kv.db"},
                           {"sqlite_busy_timeout_ms", "1"},
                           {"sqlite_synchronous", "FULL"},
                           {"postgres_dsn", "host=a"},
                           {"postgres_read_dsn", "host=b"},
                           {"table", "t"},
                           {"connect_timeout_ms", "2"},
                           {"request_timeout_ms", "3"},
                           {"reconnect_min_ms", "4"},
                           {"reconnect_max_ms", "5"},
                           {"max_key_bytes", "6"},
                           {"max_value_bytes", "7"},
                           {"max_scan_limit", "8"},
                           {"max_batch_ops", "4294967295"}},
                          &c),
            "");
  EXPECT_EQ(c.backend(), KvConfig::SQLITE);
  EXPECT_EQ(c.sqlite_path(), "/d/kv.db");
  EXPECT_EQ(c.sqlite_busy_timeout_ms(), 1u);
  EXPECT_EQ(c.sqlite_synchronous(), "FULL");
  EXPECT_EQ(c.postgres_dsn(), "host=a");
  EXPECT_EQ(c.postgres_read_dsn(), "host=b");
  EXPECT_EQ(c.table(), "t");
  EXPECT_EQ(c.connect_timeout_ms(), 2u);
  EXPECT_EQ(c.request_timeout_ms(), 3u);
  EXPECT_EQ(c.reconnect_min_ms(), 4u);
  EXPECT_EQ(c.reconnect_max_ms(), 5u);
  EXPECT_EQ(c.max_key_bytes(), 6u);
  EXPECT_EQ(c.max_value_bytes(), 7u);
  EXPECT_EQ(c.max_scan_limit(), 8u);
  EXPECT_EQ(c.max_batch_ops(), 4294967295u);
}

TEST(KvSettings, TheBackendIsNamedInAnyCase) {
  KvSettings s;
  for (const char* name : {"postgres", "POSTGRES", "Postgres"}) {
    ASSERT_EQ(Resolve({{"backend", name}, {"postgres_dsn", "host=db"}}, &s), "") << name;
    EXPECT_EQ(s.backend, KvConfig::POSTGRES) << name;
  }
  ASSERT_EQ(Resolve({{"backend", "sqlite"}}, &s), "");
  EXPECT_EQ(s.backend, KvConfig::SQLITE);
}

TEST(KvSettings, AnUnknownKeyIsRefusedWithTheKnownKeysListed) {
  KvSettings s;
  EXPECT_EQ(Resolve({{"postgres_dns", "host=db"}}, &s),
            "settings.postgres_dns: unknown KV setting; known: backend, sqlite_path, sqlite_busy_timeout_ms, "
            "sqlite_synchronous, postgres_dsn, table, connect_timeout_ms, request_timeout_ms, reconnect_min_ms, "
            "reconnect_max_ms, max_key_bytes, max_value_bytes, max_scan_limit, max_batch_ops, postgres_read_dsn");
  // Keys are field names exactly: no other case, no old section prefix.
  EXPECT_EQ(Resolve({{"Table", "x"}}, &s).rfind("settings.Table: unknown KV setting; known: backend, ", 0), 0u);
  EXPECT_EQ(Resolve({{"kv.table", "x"}}, &s).rfind("settings.kv.table: unknown KV setting", 0), 0u);
}

TEST(KvSettings, AValueOfTheWrongFormIsRefusedWithTheKeyNamed) {
  KvSettings s;
  EXPECT_EQ(Resolve({{"backend", "mysql"}}, &s), "settings.backend: \"mysql\" must be sqlite or postgres");
  EXPECT_EQ(Resolve({{"backend", "BACKEND_UNSPECIFIED"}}, &s),
            "settings.backend: \"BACKEND_UNSPECIFIED\" must be sqlite or postgres");
  EXPECT_EQ(Resolve({{"backend", ""}}, &s), "settings.backend: \"\" must be sqlite or postgres");
  for (const char* bad : {"", "1k", "2s", "-1", "+5", " 5", "5 ", "0x10", "1.5", "1e3"}) {
    EXPECT_EQ(Resolve({{"connect_timeout_ms", bad}}, &s),
              std::string("settings.connect_timeout_ms: \"") + bad +
                  "\" is not a number (decimal digits, in the unit the key's name gives)")
        << bad;
  }
  EXPECT_EQ(Resolve({{"max_value_bytes", "4294967296"}}, &s),
            "settings.max_value_bytes: \"4294967296\" is out of range 0..4294967295");
  EXPECT_EQ(Resolve({{"max_value_bytes", "99999999999999999999999999"}}, &s),
            "settings.max_value_bytes: \"99999999999999999999999999\" is out of range 0..4294967295");
  EXPECT_EQ(Resolve({{"max_key_bytes", "000000000000000100"}}, &s), "");
  EXPECT_EQ(s.max_key_bytes, 100u);
}

TEST(KvSettings, BadValuesAreRefusedWithTheKeyNamed) {
  KvSettings s;
  EXPECT_EQ(Resolve({{"backend", "postgres"}}, &s).rfind("settings.postgres_dsn is required", 0), 0u);
  EXPECT_EQ(Resolve({{"backend", "postgres"}, {"postgres_dsn", "host=x nosuchoption=1"}}, &s)
                .rfind("settings.postgres_dsn: ", 0),
            0u);
  EXPECT_EQ(Resolve({{"table", "drop table; --"}}, &s).rfind("settings.table: ", 0), 0u);
  EXPECT_EQ(Resolve({{"sqlite_synchronous", "OFF"}}, &s).rfind("settings.sqlite_synchronous: ", 0), 0u);
  EXPECT_EQ(Resolve({{"max_key_bytes", "4000"}}, &s), "settings.max_key_bytes: 4000 is out of range 1..2048");
  EXPECT_EQ(Resolve({{"reconnect_min_ms", "500"}, {"reconnect_max_ms", "100"}}, &s),
            "settings.reconnect_min_ms (500) must not exceed reconnect_max_ms (100)");
}

TEST(KvSettings, AValueLimitAboveTheFrameLimitIsLoweredToFit) {
  KvSettings s;
  std::string note;
  ASSERT_EQ(Resolve({}, &s, &note, "", 65536), "");
  EXPECT_EQ(s.max_tcp_reply_bytes, 65536u);
  EXPECT_EQ(s.max_value_bytes, 65536u - 1024 - 64);
  EXPECT_NE(note.find("settings.max_value_bytes lowered from 1048576"), std::string::npos) << note;
  // A WorkerInfo that does not give the frame limit keeps the 4 MiB default.
  ASSERT_EQ(Resolve({}, &s, &note, "", 0), "");
  EXPECT_EQ(s.max_tcp_reply_bytes, 4u << 20);
  EXPECT_EQ(Resolve({{"max_key_bytes", "2000"}}, &s, &note, "", 2000).rfind("settings.max_key_bytes (2000) leaves", 0),
            0u);
}

TEST(KvSettings, TheBackendDescriptionHidesPasswords) {
  KvSettings s;
  s.backend = KvConfig::POSTGRES;
  s.postgres_dsn = "host=db user=app password=s3cret dbname=x";
  EXPECT_EQ(DescribeBackend(s), "postgres host=db user=app password=*** dbname=x");
  s.postgres_dsn = "password = 'a b\\' c' host=db";
  EXPECT_EQ(DescribeBackend(s), "postgres password=*** host=db");
  s.postgres_dsn = "postgresql://app:s3cret@db:5432/x";
  EXPECT_EQ(DescribeBackend(s), "postgres postgresql://app:***@db:5432/x");
  s.postgres_read_dsn = "host=a,b password=x target_session_attrs=prefer-standby";
  EXPECT_EQ(DescribeBackend(s), "postgres postgresql://app:***@db:5432/x, reads from host=a,b password=*** "
                                "target_session_attrs=prefer-standby");
  s.backend = KvConfig::SQLITE;
  EXPECT_EQ(DescribeBackend(s), "sqlite var/kv/kv.sqlite3");
}

TEST(KvSettings, AReadDsnIsCheckedLikeTheMainOneAndNeedsThePostgresBackend) {
  KvSettings s;
  EXPECT_EQ(Resolve({{"backend", "postgres"}, {"postgres_dsn", "host=a"}, {"postgres_read_dsn", "host=b"}}, &s), "");
  EXPECT_EQ(s.postgres_read_dsn, "host=b");
  EXPECT_EQ(Resolve({{"backend", "postgres"}, {"postgres_dsn", "host=a"}, {"postgres_read_dsn", "host=b bogus=1"}}, &s)
                .rfind("settings.postgres_read_dsn: ", 0),
            0u);
  EXPECT_EQ(Resolve({{"postgres_read_dsn", "host=b"}}, &s),
            "settings.postgres_read_dsn is set, but the backend is not postgres");
}

}  // namespace
}  // namespace solar::kv
