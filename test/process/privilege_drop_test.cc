// Children run as the configured user (all of real/effective/saved/fs ids),
// with no supplementary groups, pinned to CPU (slot mod online CPUs); workers
// run SCHED_BATCH when worker_scheduling says so.
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "server_harness.h"
#include "sys/affinity.h"

namespace solar::testing {
namespace {

std::vector<pid_t> Roles(const ServerHarness& s, int listeners, int workers, std::vector<std::string>* names) {
  std::vector<pid_t> pids;
  for (int l = 0; l < listeners; ++l) {
    names->push_back("listener " + std::to_string(l));
    pids.push_back(s.childPid(names->back()));
  }
  for (int w = 0; w < workers; ++w) {
    names->push_back("worker " + std::to_string(w));
    pids.push_back(s.childPid(names->back()));
  }
  return pids;
}

TEST(PrivilegeDrop, EveryChildRunsAsNobodyWithNoSupplementaryGroups) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to drop privileges";
  ServerHarness server("listeners: 2\nworkers: 3\nuser: \"nobody\"\n");
  ASSERT_TRUE(server.start()) << server.log();
  std::vector<std::string> names;
  auto pids = Roles(server, 2, 3, &names);
  for (size_t i = 0; i < pids.size(); ++i) {
    ASSERT_GT(pids[i], 0) << names[i];
    EXPECT_EQ(ProcStatusField(pids[i], "Uid"), "65534\t65534\t65534\t65534") << names[i];
    EXPECT_EQ(ProcStatusField(pids[i], "Gid"), "65534\t65534\t65534\t65534") << names[i];
    EXPECT_EQ(ProcStatusField(pids[i], "Groups"), "") << names[i];
  }
  // The admin process parses HTTP from the network: it must not be root either.
  pid_t admin = server.childPid("admin 0");
  ASSERT_GT(admin, 0);
  EXPECT_EQ(ProcStatusField(admin, "Uid"), "65534\t65534\t65534\t65534");
  // The master stays root: it must bind, respawn and clean up.
  EXPECT_EQ(ProcStatusField(server.pid(), "Uid"), "0\t0\t0\t0");
  EXPECT_EQ(server.stop(), 0);
}

TEST(PrivilegeDrop, ChildrenCanGainNoPrivilegeAgain) {
  // Worker code that execs a set-uid binary gains nothing: no_new_privs is
  // set, and the capability bounding set is empty (issue 9).
  ServerHarness server("listeners: 1\nworkers: 2\nudp { listen: \"127.0.0.1:0\" workers: 1 }\n");
  ASSERT_TRUE(server.start()) << server.log();
  for (const std::string role : {"listener 0", "worker 0", "worker 1", "udp_listener 0", "udp_worker 0", "admin 0"}) {
    pid_t pid = server.childPid(role);
    ASSERT_GT(pid, 0) << role;
    EXPECT_EQ(ProcStatusField(pid, "NoNewPrivs"), "1") << role;
    if (geteuid() == 0) {
      EXPECT_EQ(ProcStatusField(pid, "CapBnd"), "0000000000000000") << role;
      EXPECT_EQ(ProcStatusField(pid, "CapEff"), "0000000000000000") << role;
      EXPECT_EQ(ProcStatusField(pid, "CapPrm"), "0000000000000000") << role;
    }
  }
  EXPECT_EQ(server.stop(), 0);
}

TEST(PrivilegeDrop, RootAsTheWorkerUserIsWarnedAboutAtStartAndCheck) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root: only then is user applied";
  ServerHarness server("user: \"root\"\n");
  ASSERT_TRUE(server.start()) << server.log();
  EXPECT_NE(server.log().find("user \"root\" is root: every child"), std::string::npos) << server.log();
  EXPECT_EQ(server.stop(), 0);
}

TEST(PrivilegeDrop, ChildrenWriteTheirOwnLogFilesUnderLogDir) {
  // With log_dir, glog opens a file per process; a child running as nobody
  // cannot create one in the root-owned log_dir, so children log to
  // log_dir/children, which is theirs (their lines were lost before).
  char tmpl[] = "/tmp/solar-logs-XXXXXX";
  const std::string logs = mkdtemp(tmpl);
  chmod(logs.c_str(), 0755);
  ServerHarness server("worker { name: \"builtin:kv\" }\nlog_dir: \"" + logs + "\"\n");
  // The ready line goes to the log file now, not to the output the harness
  // watches: start() gives up at once, and the workers' files are polled.
  server.start(std::chrono::milliseconds(100));
  std::string found;
  for (int i = 0; i < 100 && found.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    FILE* p = popen(("grep -h 'kv worker 0: serving' " + logs + "/children/solar.log.INFO.* 2>/dev/null").c_str(), "r");
    char line[512];
    if (p != nullptr && std::fgets(line, sizeof(line), p) != nullptr) found = line;
    if (p != nullptr) pclose(p);
  }
  EXPECT_NE(found, "") << "no worker log line in " << logs << "/children";
  struct stat st;
  ASSERT_EQ(stat((logs + "/children").c_str(), &st), 0);
  if (geteuid() == 0) {
    EXPECT_EQ(st.st_uid, 65534u);
  }
  server.stop();
  [[maybe_unused]] int rc = std::system(("rm -rf '" + logs + "'").c_str());
}

TEST(PrivilegeDrop, RespawnedChildIsDroppedToo) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to drop privileges";
  ServerHarness server("workers: 1\n");
  ASSERT_TRUE(server.start()) << server.log();
  pid_t old = server.childPid("worker 0");
  kill(old, SIGKILL);
  pid_t fresh = server.waitRespawn("worker 0", old, std::chrono::seconds(10));
  ASSERT_GT(fresh, 0);
  // The replacement is forked as root and drops before it serves: a reply
  // means it has (reading /proc at once could catch it before the drop).
  int fd = ConnectTcp(server.port());
  ASSERT_GE(fd, 0);
  std::string reply;
  ASSERT_TRUE(WriteAll(fd, Frame32("after respawn")));
  ASSERT_TRUE(ReadFrame32(fd, &reply));
  close(fd);
  EXPECT_EQ(ProcStatusField(fresh, "Uid"), "65534\t65534\t65534\t65534");
  EXPECT_EQ(server.stop(), 0);
}

TEST(PrivilegeDrop, ChildrenArePinnedToSlotModCpus) {
  ServerHarness server("listeners: 2\nworkers: 3\ncpu_affinity: true\n");
  ASSERT_TRUE(server.start()) << server.log();
  std::vector<int> cpus = AllowedCpus();
  ASSERT_FALSE(cpus.empty());
  std::vector<std::string> names;
  auto pids = Roles(server, 2, 3, &names);
  for (size_t i = 0; i < pids.size(); ++i) {
    ASSERT_GT(pids[i], 0);
    // Listeners are slots 0..L-1, workers follow: one sequence over the CPUs.
    EXPECT_EQ(ProcStatusField(pids[i], "Cpus_allowed_list"), std::to_string(CpuForSlot(static_cast<int>(i), cpus)))
        << names[i];
  }
  EXPECT_EQ(server.stop(), 0);
}

TEST(PrivilegeDrop, AffinityCanBeSwitchedOff) {
  ServerHarness server("workers: 1\ncpu_affinity: false\n");
  ASSERT_TRUE(server.start()) << server.log();
  pid_t w = server.childPid("worker 0");
  EXPECT_EQ(ProcStatusField(w, "Cpus_allowed_list"), ProcStatusField(getpid(), "Cpus_allowed_list"));
  EXPECT_EQ(server.stop(), 0);
}

// A child's set-up (affinity, scheduling, then the privilege drop) is done
// once it runs as nobody: its policy read before that may be the fork's.
void WaitForSetUp(pid_t pid) {
  if (geteuid() != 0) return;  // nothing is dropped; the policy is set before the role runs
  for (int i = 0; i < 500 && ProcStatusField(pid, "Uid").rfind("65534", 0) != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

int PolicyOf(const ServerHarness& server, const std::string& role) {
  const pid_t pid = server.childPid(role);
  if (pid <= 0) return -2;
  WaitForSetUp(pid);
  return sched_getscheduler(pid);
}

// worker_scheduling: BATCH puts the workers (TCP and UDP, respawned ones too)
// in SCHED_BATCH, so that a woken worker does not preempt a listener in the
// middle of its pass; listeners and the master keep the policy solar started with.
TEST(PrivilegeDrop, WorkerSchedulingBatchAppliesToWorkersOnly) {
  ServerHarness server("workers: 2\nworker_scheduling: BATCH\nudp { listen: \"127.0.0.1:0\" workers: 1 }\n");
  ASSERT_TRUE(server.start()) << server.log();
  for (const char* role : {"worker 0", "worker 1", "udp_worker 0"}) EXPECT_EQ(PolicyOf(server, role), SCHED_BATCH) << role;
  for (const char* role : {"listener 0", "udp_listener 0"}) EXPECT_EQ(PolicyOf(server, role), SCHED_OTHER) << role;
  EXPECT_EQ(sched_getscheduler(server.pid()), SCHED_OTHER) << "master";
  const pid_t old = server.childPid("worker 1");
  kill(old, SIGKILL);
  ASSERT_GT(server.waitRespawn("worker 1", old, std::chrono::seconds(10)), 0) << server.log();
  EXPECT_EQ(PolicyOf(server, "worker 1"), SCHED_BATCH) << "a respawned worker";
  EXPECT_EQ(server.stop(), 0);
}

// The default (NORMAL) changes no worker's policy; a HUP to BATCH moves the
// workers its rolling reload starts.
TEST(PrivilegeDrop, WorkersKeepSchedOtherByDefaultAndAHupCanChangeIt) {
  ServerHarness server("workers: 1\nudp { listen: \"127.0.0.1:0\" workers: 1 }\n");
  ASSERT_TRUE(server.start()) << server.log();
  for (const char* role : {"worker 0", "udp_worker 0"}) EXPECT_EQ(PolicyOf(server, role), SCHED_OTHER) << role;
  const pid_t old = server.childPid("worker 0");
  {
    std::ofstream conf(server.configPath(), std::ios::app);
    conf << "worker_scheduling: BATCH\n";
  }
  const size_t mark = server.log().size();
  kill(server.pid(), SIGHUP);
  ASSERT_TRUE(server.waitForLog("reload (HUP) done", std::chrono::seconds(15), mark)) << server.log();
  EXPECT_NE(server.childPid("worker 0"), old);
  EXPECT_EQ(PolicyOf(server, "worker 0"), SCHED_BATCH) << server.log();
  EXPECT_EQ(server.stop(), 0);
}

TEST(PrivilegeDrop, ChildrenDieWithAKilledMaster) {
  ServerHarness server("workers: 2\n");
  ASSERT_TRUE(server.start()) << server.log();
  auto kids = server.children();
  ASSERT_EQ(kids.size(), 4u);  // listener, 2 workers, admin
  kill(server.pid(), SIGKILL);
  server.wait(std::chrono::seconds(5));
  for (int i = 0; i < 200; ++i) {
    bool any = false;
    for (pid_t k : kids) any = any || ProcessExists(k);
    if (!any) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (pid_t k : kids) EXPECT_FALSE(ProcessExists(k)) << "child " << k << " outlived its master";
}

}  // namespace
}  // namespace solar::testing
