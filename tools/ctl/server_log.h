// The running server's log, read from outside, for the reason of a failed
// reload: /status counts failures, but the reason is a log line of the master
// ("reload (USR1) stopped: ...") and one of the replacement worker ("worker 0:
// builtin:debug onStart failed: ...").
//
// Where solarctl can read it:
//   - log_dir set: glog's files there. Every process of the server writes its
//     own (a forked child starts a file of its own), so all *.log.INFO.*
//     files are followed, and lines are merged by their timestamps;
//   - otherwise the file the master's stderr goes to (/proc/PID/fd/2), when
//     that is a regular file (`solar 2>>solar.log`, systemd's
//     StandardError=append:...). A pipe, a terminal or the journal cannot be
//     read back: then there is no log to show, and describe() says where to look.
// Runs in: solarctl.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace solar::ctl {

class ServerLog {
 public:
  // `log_dir` as the master resolved it (absolute, or "" for stderr).
  ServerLog(pid_t master, std::string log_dir);

  // Remembers where every log file ends now: lines() returns what comes after.
  void mark();
  // Warning, error and fatal lines written since mark(), oldest first, without
  // glog's prefix ("E0102 10:00:00.123456 42 control.cc:160] "), at most `max`
  // (the last ones).
  std::vector<std::string> lines(size_t max) const;
  // Where the log is, for a message ("log_dir /var/log/solar", "the master's stderr").
  std::string describe() const;

 private:
  std::vector<std::string> files() const;

  pid_t master_;
  std::string log_dir_;
  std::map<std::string, int64_t> marks_;  // file -> its size at mark()
};

}  // namespace solar::ctl
