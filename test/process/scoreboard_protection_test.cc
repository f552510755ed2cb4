// The scoreboard split by writer, from the outside: a worker's code cannot
// write the master's page of the shared memory, nor make it writable again.
#include <unistd.h>

#include <gtest/gtest.h>

#include "clients.h"
#include "server_harness.h"

namespace solar::testing {
namespace {

constexpr char kConfig[] = "workers: 2\nworker { name: \"builtin:debug\" }\n";

TEST(ScoreboardProtection, AWorkerCannotMakeTheMastersPageWritable) {
  ServerHarness server(kConfig);
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  ASSERT_GE(fd, 0);
  std::string reply;
  ASSERT_TRUE(WriteAll(fd, Frame32("scoreboard:mprotect")) && ReadFrame32(fd, &reply)) << server.log();
  EXPECT_EQ(reply, "refused EACCES");
  // It is still serving: the refusal cost it nothing.
  ASSERT_TRUE(WriteAll(fd, Frame32("ping")) && ReadFrame32(fd, &reply));
  EXPECT_EQ(reply, "ping");
  close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST(ScoreboardProtection, AWorkerCannotWriteTheMastersPage) {
  ServerHarness server(kConfig);
  ASSERT_TRUE(server.start()) << server.log();
  int fd = ConnectTcp(server.port());
  ASSERT_GE(fd, 0);
  std::string reply;
  ASSERT_TRUE(WriteAll(fd, Frame32("scoreboard:write")) && ReadFrame32(fd, &reply)) << server.log();
  EXPECT_EQ(reply, "refused EFAULT");
  close(fd);
  // Every slot serves as before (the master's page was not touched: it still
  // supervises and answers).
  for (int i = 0; i < 4; ++i) {
    int c = ConnectTcp(server.port());
    ASSERT_GE(c, 0);
    ASSERT_TRUE(WriteAll(c, Frame32("hello")) && ReadFrame32(c, &reply)) << server.log();
    EXPECT_EQ(reply, "hello");
    close(c);
  }
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace solar::testing
