// Findings of the fuzz targets (test/fuzz/, `make fuzz`), each kept as the
// smallest input that showed it, so it cannot come back unnoticed.
#include <string>

#include <gtest/gtest.h>

#include "apps/kv/kv_settings.h"

namespace solar::kv {
namespace {

// config_fuzz: libpq decodes a URI's query keywords, so
// "?passw%6Frd=..." sets the password while DescribeBackend's patterns, which
// look for the literal word, left it in the "serving postgres ..." log line.
TEST(FuzzRegressions, APercentEncodedPasswordKeywordInAUriIsHiddenFromTheLog) {
  KvSettings s;
  s.backend = KvConfig::POSTGRES;
  for (const char* dsn : {"postgresql://db/app?passw%6Frd=hunter2222", "postgres://db?%70assword=hunter2222&user=solar",
                          "postgresql://solar@db:5432/app?sslmode=disable&pass%77ord=hunter2222"}) {
    s.postgres_dsn = dsn;
    const std::string description = DescribeBackend(s);
    EXPECT_EQ(description.find("hunter2222"), std::string::npos) << dsn << " -> " << description;
    EXPECT_NE(description.find("password=***"), std::string::npos) << dsn << " -> " << description;
    EXPECT_NE(description.find("db"), std::string::npos) << dsn << " -> " << description;
  }
  // The forms the patterns handle keep their description as written.
  s.postgres_dsn = "postgresql://app:s3cret@db:5432/x?password=other1";
  EXPECT_EQ(DescribeBackend(s), "postgres postgresql://app:***@db:5432/x?password=***");
}

}  // namespace
}  // namespace solar::kv
