// A worker's own settings (issue 10): worker { settings { key value } } reaches
// WorkerInfo::settings as written, a HUP hands new values to the new workers,
// and WorkerInfo::state_dir and max_frame_bytes tell the worker the server's
// state directory and frame limit (what builtin:kv needs besides its settings).
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "clients.h"
#include "server_harness.h"

namespace solar::testing {
namespace {

std::string Ask(int port, const std::string& what) {
  int fd = ConnectTcp(port);
  std::string reply;
  if (fd < 0 || !WriteAll(fd, Frame32(what)) || !ReadFrame32(fd, &reply, 5000)) reply = "<no reply>";
  if (fd >= 0) close(fd);
  return reply;
}

TEST(WorkerSettings, SettingsReachTheWorkerAndAHupHandsOverNewValues) {
  const std::string before =
      "workers: 2\nworker {\n  name: \"builtin:debug\"\n  settings { key: \"dsn\" value: \"host=db1 dbname=orders\" }\n"
      "  settings { key: \"feature\" value: \"on\" }\n}\nmax_frame_bytes: 65536\n";
  ServerHarness server(before);
  ASSERT_TRUE(server.start()) << server.log();
  for (int i = 0; i < 2; ++i) {  // both workers (round-robin)
    EXPECT_EQ(Ask(server.port(), "setting:dsn"), "host=db1 dbname=orders");
  }
  EXPECT_EQ(Ask(server.port(), "setting:feature"), "on");
  EXPECT_EQ(Ask(server.port(), "setting:missing"), "(unset)");
  EXPECT_EQ(Ask(server.port(), "state_dir"), server.dir() + "/state");
  EXPECT_EQ(Ask(server.port(), "max_frame_bytes"), "65536");

  // The harness wrote its own defaults before `extra`: keep them, change the setting.
  std::ifstream in(server.configPath());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string from = "host=db1 dbname=orders", to = "host=db2 dbname=orders";
  text.replace(text.find(from), from.size(), to);
  std::ofstream(server.configPath()) << text;
  const size_t mark = server.log().size();
  ASSERT_EQ(kill(server.pid(), SIGHUP), 0);
  ASSERT_TRUE(server.waitForLog("reload (HUP) done", std::chrono::seconds(20), mark)) << server.log();
  for (int i = 0; i < 2; ++i) EXPECT_EQ(Ask(server.port(), "setting:dsn"), "host=db2 dbname=orders");
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace solar::testing
