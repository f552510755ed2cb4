// Config loading and validation (src/config/config.h): embedded defaults, file
// overrides, and "NAME:LINE:COL: what" errors (1-based, as editors count).
#include "config/config.h"

#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace solar {
namespace {

// A config file under /tmp, removed when the test ends.
class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    char path[] = "/tmp/solar_config_test_XXXXXX";
    int fd = mkstemp(path);
    EXPECT_GE(fd, 0);
    close(fd);
    path_ = path;
    std::ofstream(path_) << text;
  }
  ~TempFile() { unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

bool StartsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// Parses `text` as "x.conf" and returns the error ("" on success).
std::string ErrorOf(const std::string& text) {
  Config c;
  std::string error;
  if (ParseConfig(text, "x.conf", &c, &error)) return "";
  EXPECT_FALSE(error.empty());
  return error;
}

TEST(Config, ListenersAndWorkersLeftOutFitTheCpusThisProcessMayUse) {
  Config c;
  std::string error;
  ASSERT_TRUE(ParseConfig("", "x.conf", &c, &error)) << error;
  EXPECT_EQ(c.listeners(), AutoListeners(UsableCpus()));
  EXPECT_EQ(c.workers(), AutoWorkers(UsableCpus()));
  ASSERT_TRUE(ParseConfig("listeners: 3\nworkers: 5\n", "x.conf", &c, &error)) << error;
  EXPECT_EQ(c.listeners(), 3u);  // given: kept
  EXPECT_EQ(c.workers(), 5u);
}

TEST(Config, AutoCountsAreOneListenerPerThreeCpusAndOneWorkerPerCpu) {
  EXPECT_EQ(AutoListeners(1), 1u);
  EXPECT_EQ(AutoListeners(2), 1u);  // measured: a second listener on 2 cores gains nothing
  EXPECT_EQ(AutoListeners(4), 1u);
  EXPECT_EQ(AutoListeners(8), 3u);
  EXPECT_EQ(AutoListeners(1000), 64u);
  EXPECT_EQ(AutoWorkers(1), 2u);  // one can wait on its database while the other serves
  EXPECT_EQ(AutoWorkers(2), 2u);
  EXPECT_EQ(AutoWorkers(12), 12u);
  EXPECT_EQ(AutoWorkers(1000), 64u);
}

TEST(Config, EmbeddedDefaultsParseAndValidate) {
  Config c;
  std::string error;
  ASSERT_TRUE(LoadConfig("", &c, &error)) << error;
  EXPECT_EQ(c.listen(), "127.0.0.1:7700");
  EXPECT_EQ(c.listeners(), 1u);
  EXPECT_EQ(c.workers(), 2u);
  EXPECT_EQ(c.protocol(), FRAME32);
  EXPECT_EQ(c.dispatch(), ROUND_ROBIN);
  EXPECT_EQ(c.worker_scheduling(), NORMAL);  // BATCH costs p99 (README, Design)
  EXPECT_EQ(c.worker().name(), "builtin:kv");  // issue 6: make run serves KV
  EXPECT_EQ(c.user(), "nobody");
  EXPECT_EQ(c.max_frame_bytes(), 4194304u);
  EXPECT_GE(c.respawn_backoff_max_ms(), 100u);
}

TEST(Config, EmptyTextGivesTheDefaults) {
  Config from_load, from_parse;
  std::string error;
  ASSERT_TRUE(LoadConfig("", &from_load, &error)) << error;
  ASSERT_TRUE(ParseConfig("", "x.conf", &from_parse, &error)) << error;
  EXPECT_EQ(from_load.SerializeAsString(), from_parse.SerializeAsString());
}

TEST(Config, FileOverridesOnlyTheFieldsItNames) {
  TempFile file("# comment\nworkers: 5\nprotocol: LINE\nlisten: \"[::1]:0\"\nworker { name: \"builtin:echo\" }\n");
  Config c;
  std::string error;
  ASSERT_TRUE(LoadConfig(file.path(), &c, &error)) << error;
  EXPECT_EQ(c.workers(), 5u);
  EXPECT_EQ(c.protocol(), LINE);
  EXPECT_EQ(c.listen(), "[::1]:0");
  EXPECT_EQ(c.listeners(), 1u);  // untouched: the default
  EXPECT_EQ(c.dispatch(), ROUND_ROBIN);
  EXPECT_EQ(c.max_frame_bytes(), 4194304u);
}

TEST(Config, MissingFileIsReportedWithItsPath) {
  Config c;
  std::string error;
  EXPECT_FALSE(LoadConfig("/nonexistent/solar.conf", &c, &error));
  EXPECT_TRUE(StartsWith(error, "/nonexistent/solar.conf: cannot open")) << error;
}

TEST(Config, FailedParseLeavesTheOutputUntouched) {
  Config c;
  c.set_workers(77);
  std::string error;
  EXPECT_FALSE(ParseConfig("workers: 0\n", "x.conf", &c, &error));
  EXPECT_EQ(c.workers(), 77u);
}

TEST(Config, SyntaxErrorNamesFileLineAndColumn) {
  // Line 3, the "2" at column 11 should have been preceded by ':'.
  std::string error = ErrorOf("workers: 3\n\nlisteners 2\n");
  EXPECT_TRUE(StartsWith(error, "x.conf:3:11: ")) << error;
}

TEST(Config, SyntaxErrorInLoadedFileNamesThePath) {
  TempFile file("workers: 3\n  listen: \"1.2.3.4:5\"\n  backlog: oops\n");
  Config c;
  std::string error;
  EXPECT_FALSE(LoadConfig(file.path(), &c, &error));
  EXPECT_TRUE(StartsWith(error, file.path() + ":3:12: ")) << error;
}

TEST(Config, UnclosedBlockIsReportedAtTheEnd) {
  std::string error = ErrorOf("worker {\n  name: \"builtin:echo\"\n");
  EXPECT_TRUE(StartsWith(error, "x.conf:3:")) << error;
}

TEST(Config, UnknownFieldIsNamedWithItsLine) {
  std::string error = ErrorOf("workers: 3\nwrokers: 4\n");
  // protobuf places this error just after the name (column 8), on the right line.
  EXPECT_TRUE(StartsWith(error, "x.conf:2:")) << error;
  EXPECT_NE(error.find("wrokers"), std::string::npos) << error;
}

TEST(Config, ZeroWorkersFailsAtTheField) {
  std::string error = ErrorOf("listeners: 2\n  workers: 0\n");
  EXPECT_EQ(error, "x.conf:2:3: workers must be 1..256");
}

TEST(Config, NonsenseListenAddressFailsAtTheField) {
  std::string error = ErrorOf("\n\nlisten: \"nonsense\"\n");
  EXPECT_TRUE(StartsWith(error, "x.conf:3:1: listen: ")) << error;
  EXPECT_NE(error.find("nonsense"), std::string::npos) << error;
}

TEST(Config, UnspecifiedProtocolFailsAtTheField) {
  std::string error = ErrorOf("workers: 1\nprotocol: PROTOCOL_UNSPECIFIED\n");
  EXPECT_TRUE(StartsWith(error, "x.conf:2:1: protocol must be")) << error;
}

TEST(Config, UnknownProtocolNameIsAParseErrorNamingTheValue) {
  std::string error = ErrorOf("protocol: HTTP");
  EXPECT_TRUE(StartsWith(error, "x.conf:1:")) << error;
  EXPECT_NE(error.find("HTTP"), std::string::npos) << error;
}

TEST(Config, UnknownEnumValueIsReportedOnItsOwnLine) {
  // The value ends its line; the error must not point at the next field.
  std::string error = ErrorOf("protocol: HTTP\nworkers: 3\n");
  EXPECT_TRUE(StartsWith(error, "x.conf:1:")) << error;
}

TEST(Config, UnspecifiedDispatchFailsAtTheField) {
  std::string error = ErrorOf("dispatch: DISPATCH_UNSPECIFIED\n");
  EXPECT_TRUE(StartsWith(error, "x.conf:1:1: dispatch must be")) << error;
}

TEST(Config, UnspecifiedWorkerSchedulingFailsAtTheField) {
  std::string error = ErrorOf("workers: 2\nworker_scheduling: WORKER_SCHEDULING_UNSPECIFIED\n");
  EXPECT_EQ(error, "x.conf:2:1: worker_scheduling must be BATCH or NORMAL");
}

TEST(Config, UnknownUserFailsAtTheField) {
  std::string error = ErrorOf("workers: 1\nlisteners: 2\n\n   user: \"no-such-user-xyz\"\n");
  EXPECT_EQ(error, "x.conf:4:4: no such user \"no-such-user-xyz\"");
}

TEST(Config, ZeroMaxFrameBytesFailsAtTheField) {
  std::string error = ErrorOf("max_frame_bytes: 0\n");
  EXPECT_EQ(error, "x.conf:1:1: max_frame_bytes must be 1..1073741824");
}

TEST(Config, UdpQueueThatCannotHoldOneLargestDatagramIsRefused) {
  // 65,507 bytes + the 32-byte queue header is more than 65,536: every
  // datagram of the documented maximum would be dropped as "queue full".
  std::string error =
      ErrorOf("udp {\n  listen: \"127.0.0.1:0\"\n  queue_bytes: 65536\n  max_datagram_bytes: 65507\n}\n");
  EXPECT_TRUE(StartsWith(error, "x.conf:3:3: udp.queue_bytes (65536) cannot hold one datagram")) << error;
  EXPECT_NE(error.find("raise queue_bytes to 65539"), std::string::npos) << error;
  EXPECT_EQ(ErrorOf("udp { listen: \"127.0.0.1:0\" queue_bytes: 65539 max_datagram_bytes: 65507 }\n"), "");
  EXPECT_EQ(ErrorOf("udp { listen: \"127.0.0.1:0\" queue_bytes: 65536 max_datagram_bytes: 65504 }\n"), "");
}

TEST(Config, RequestReadTimeoutIsZeroOrAtLeastATenthOfASecond) {
  EXPECT_EQ(ErrorOf("request_read_timeout_ms: 0\n"), "");
  EXPECT_EQ(ErrorOf("request_read_timeout_ms: 100\n"), "");
  EXPECT_EQ(ErrorOf("request_read_timeout_ms: 10\n"),
            "x.conf:1:1: request_read_timeout_ms must be 0 (never) or >= 100");
}

TEST(Config, StateDirDefaultsByPrivilegeAndKeepsAnExplicitOne) {
  Config c;
  std::string error;
  ASSERT_TRUE(ParseConfig("", "x.conf", &c, &error)) << error;
  EXPECT_EQ(ResolveStateDir(c, /*as_root=*/true), "/var/lib/solar");
  EXPECT_EQ(ResolveStateDir(c, /*as_root=*/false), "var");
  c.set_state_dir("/srv/solar");
  EXPECT_EQ(ResolveStateDir(c, true), "/srv/solar");
  EXPECT_EQ(ResolveStateDir(c, false), "/srv/solar");
}

TEST(Config, RootAsTheWorkerUserIsWarnedAbout) {
  Config c;
  std::string error;
  ASSERT_TRUE(ParseConfig("user: \"root\"\n", "x.conf", &c, &error)) << error;
  auto warnings = ConfigWarnings(c, /*as_root=*/true);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("runs as root with all capabilities"), std::string::npos) << warnings[0];
  EXPECT_TRUE(ConfigWarnings(c, /*as_root=*/false).empty());  // nothing is dropped then anyway
  ASSERT_TRUE(ParseConfig("", "x.conf", &c, &error)) << error;
  EXPECT_TRUE(ConfigWarnings(c, true).empty());
}

TEST(Config, BadWorkerNameFailsAtTheNestedField) {
  std::string error = ErrorOf("worker {\n  name: \"echo\"\n}\n");
  EXPECT_TRUE(StartsWith(error, "x.conf:2:3: worker name must be")) << error;
}

TEST(Config, FieldGivenTwiceIsReportedOnTheLineOfTheBadValue) {
  // Merging over the defaults lets the last occurrence win, so line 2 holds the
  // value in force; line 1 is fine. (Refusing the duplicate at line 2 also passes.)
  std::string error = ErrorOf("workers: 2\nworkers: 0\n");
  EXPECT_TRUE(StartsWith(error, "x.conf:2:")) << error;
}

TEST(Config, BlockGivenTwiceIsReportedOnTheLineOfTheBadValue) {
  std::string error = ErrorOf("worker { name: \"builtin:echo\" }\nworker { name: \"bad\" }\n");
  EXPECT_TRUE(StartsWith(error, "x.conf:2:")) << error;
}

TEST(Config, IntegerOutOfRangeIsReportedAtTheValue) {
  std::string error = ErrorOf("workers: 2\nmax_frame_bytes: 99999999999\n");
  EXPECT_TRUE(StartsWith(error, "x.conf:2:")) << error;
  EXPECT_NE(error.find("99999999999"), std::string::npos) << error;
}

TEST(Config, OutOfRangeValuesAreRefused) {
  EXPECT_TRUE(StartsWith(ErrorOf("listeners: 65\n"), "x.conf:1:1: listeners must be")) << ErrorOf("listeners: 65\n");
  EXPECT_TRUE(StartsWith(ErrorOf("workers: 1025\n"), "x.conf:1:1: workers must be"));
  EXPECT_TRUE(StartsWith(ErrorOf("backlog: 0\n"), "x.conf:1:1: backlog"));
  EXPECT_TRUE(StartsWith(ErrorOf("max_connections: 0\n"), "x.conf:1:1: max_connections"));
  EXPECT_TRUE(StartsWith(ErrorOf("graceful_timeout_ms: 99\n"), "x.conf:1:1: graceful_timeout_ms"));
  EXPECT_TRUE(StartsWith(ErrorOf("respawn_backoff_max_ms: 99\n"), "x.conf:1:1: respawn_backoff_max_ms"));
  EXPECT_TRUE(StartsWith(ErrorOf("output_high_water_bytes: 65535\n"), "x.conf:1:1: output_high_water_bytes"));
  EXPECT_TRUE(StartsWith(ErrorOf("pid_file: \"\"\n"), "x.conf:1:1: pid_file"));
  EXPECT_TRUE(StartsWith(ErrorOf("user: \"\"\n"), "x.conf:1:1: user"));
  EXPECT_EQ(ErrorOf("workers: 256\nlisteners: 64\nmax_frame_bytes: 1073741824\n"), "");
}

TEST(Config, NegativeValueForUnsignedFieldIsAParseError) {
  std::string error = ErrorOf("workers: -1\n");
  EXPECT_TRUE(StartsWith(error, "x.conf:1:")) << error;
}

TEST(Config, ConfigToTextParsesBackToTheSameConfig) {
  Config c;
  std::string error;
  ASSERT_TRUE(ParseConfig("workers: 9\nprotocol: RAW\n", "x.conf", &c, &error)) << error;
  Config again;
  ASSERT_TRUE(ParseConfig(ConfigToText(c), "dump", &again, &error)) << error;
  EXPECT_EQ(c.SerializeAsString(), again.SerializeAsString());
}

// Before, builtin:kv's settings were a `kv` section; now they are the worker's
// own (worker.settings). protobuf skips a reserved field without a word, so
// the parser says where it is and what to write instead.
TEST(Config, TheRetiredKvSectionIsRefusedWithWhereItsSettingsGoNow) {
  const std::string error = ErrorOf("workers: 2\n# kv { } in a comment is fine\nkv {\n  backend: POSTGRES\n}\n");
  EXPECT_TRUE(StartsWith(error, "x.conf:3:1: \"kv\" is no longer a section of the config: ")) << error;
  EXPECT_NE(error.find("worker { name: \"builtin:kv\" settings { key: \"backend\" value: \"postgres\" }"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("docs/kv.md"), std::string::npos) << error;
  EXPECT_TRUE(StartsWith(ErrorOf("listen: \"127.0.0.1:0\" kv: { table: \"t\" }"), "x.conf:1:23: \"kv\""));
  // Elsewhere the name is not the retired field: a value, a setting's key.
  EXPECT_EQ(ErrorOf("worker { name: \"builtin:kv\" settings { key: \"kv\" value: \"kv\" } }\n"), "");
}

TEST(Config, AWorkersRefusalNamingASettingPointsAtThatSettingsEntry) {
  const std::string text =
      "workers: 2\nworker {\n  name: \"builtin:kv\"\n  settings { key: \"backend\" value: \"sqlite\" }\n"
      "  settings {\n    value: \"Bad-Name\"\n    key: \"ta\" \"ble\"\n  }\n}\n";
  EXPECT_EQ(LocateFieldError(text, "c.conf", "worker: builtin:kv refuses the configuration: settings.table: bad"),
            "c.conf:5:3: worker: builtin:kv refuses the configuration: settings.table: bad");
  EXPECT_EQ(LocateFieldError(text, "c.conf", "settings.backend: \"x\" must be sqlite or postgres"),
            "c.conf:4:3: settings.backend: \"x\" must be sqlite or postgres");
  // A key that is not written (its default is refused), or no key named: the file alone.
  EXPECT_EQ(LocateFieldError(text, "c.conf", "settings.max_key_bytes: 4000 is out of range"),
            "c.conf: settings.max_key_bytes: 4000 is out of range");
  EXPECT_EQ(LocateFieldError(text, "c.conf", "cannot connect"), "c.conf: cannot connect");
  // Sections of the config itself are found as before.
  EXPECT_EQ(LocateFieldError("udp {\n  workers: 1\n}\n", "c.conf", "udp.workers: bad"), "c.conf:2:3: udp.workers: bad");
}

}  // namespace
}  // namespace solar
