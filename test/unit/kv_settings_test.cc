// KV settings (src/apps/kv/kv_settings.h): the defaults, the checks with
// messages that name the field, the value limit fitted to the frame limit,
// and a log description that never shows a password.
#include "apps/kv/kv_settings.h"

#include <google/protobuf/text_format.h>

#include <gtest/gtest.h>

namespace solar::kv {
namespace {

// Resolves settings from a text-format Config; returns the error ("" = ok).
std::string Resolve(const std::string& text, KvSettings* s, std::string* note = nullptr) {
  Config c;
  c.set_max_frame_bytes(4u << 20);
  EXPECT_TRUE(google::protobuf::TextFormat::MergeFromString(text, &c)) << text;
  std::string n;
  return ResolveKvSettings(c, s, note ? note : &n);
}

TEST(KvSettings, AnEmptySectionMeansSqliteUnderVarKv) {
  KvSettings s;
  ASSERT_EQ(Resolve("", &s), "");
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
  ASSERT_EQ(Resolve("state_dir: \"/var/lib/solar\"", &s), "");
  EXPECT_EQ(s.sqlite_path, "/var/lib/solar/kv/kv.sqlite3");
  ASSERT_EQ(Resolve("state_dir: \"/var/lib/solar\" kv { sqlite_path: \"/data/my.db\" }", &s), "");
  EXPECT_EQ(s.sqlite_path, "/data/my.db");
}

TEST(KvSettings, GivenFieldsOverrideTheDefaults) {
  KvSettings s;
  ASSERT_EQ(Resolve("kv { backend: POSTGRES postgres_dsn: \"host=db dbname=app\" table: \"sessions\" "
                    "reconnect_min_ms: 50 reconnect_max_ms: 60 max_key_bytes: 100 }",
                    &s),
            "");
  EXPECT_EQ(s.backend, KvConfig::POSTGRES);
  EXPECT_EQ(s.postgres_dsn, "host=db dbname=app");
  EXPECT_EQ(s.table, "sessions");
  EXPECT_EQ(s.reconnect_min_ms, 50u);
  EXPECT_EQ(s.max_key_bytes, 100u);
}

TEST(KvSettings, BadValuesAreRefusedWithTheFieldNamed) {
  KvSettings s;
  EXPECT_EQ(Resolve("kv { backend: POSTGRES }", &s).rfind("kv.postgres_dsn is required", 0), 0u);
  EXPECT_EQ(Resolve("kv { backend: POSTGRES postgres_dsn: \"host=x nosuchoption=1\" }", &s).rfind("kv.postgres_dsn: ", 0),
            0u);
  EXPECT_EQ(Resolve("kv { table: \"drop table; --\" }", &s).rfind("kv.table: ", 0), 0u);
  EXPECT_EQ(Resolve("kv { sqlite_synchronous: \"OFF\" }", &s).rfind("kv.sqlite_synchronous: ", 0), 0u);
  EXPECT_EQ(Resolve("kv { max_key_bytes: 4000 }", &s), "kv.max_key_bytes: 4000 is out of range 1..2048");
  EXPECT_EQ(Resolve("kv { reconnect_min_ms: 500 reconnect_max_ms: 100 }", &s),
            "kv.reconnect_min_ms (500) must not exceed reconnect_max_ms (100)");
}

TEST(KvSettings, AValueLimitAboveTheFrameLimitIsLoweredToFit) {
  KvSettings s;
  std::string note;
  ASSERT_EQ(Resolve("max_frame_bytes: 65536", &s, &note), "");
  EXPECT_EQ(s.max_value_bytes, 65536u - 1024 - 64);
  EXPECT_NE(note.find("kv.max_value_bytes lowered from 1048576"), std::string::npos) << note;
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
  EXPECT_EQ(Resolve("kv { backend: POSTGRES postgres_dsn: \"host=a\" postgres_read_dsn: \"host=b\" }", &s), "");
  EXPECT_EQ(s.postgres_read_dsn, "host=b");
  EXPECT_EQ(Resolve("kv { backend: POSTGRES postgres_dsn: \"host=a\" postgres_read_dsn: \"host=b bogus=1\" }", &s)
                .rfind("kv.postgres_read_dsn: ", 0),
            0u);
  EXPECT_EQ(Resolve("kv { postgres_read_dsn: \"host=b\" }", &s),
            "kv.postgres_read_dsn is set, but the backend is not POSTGRES");
}

}  // namespace
}  // namespace solar::kv
