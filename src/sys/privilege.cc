#include "sys/privilege.h"

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <glog/logging.h>

namespace solar {

bool LookupUser(const std::string& user, UserIds* out, std::string* error) {
  errno = 0;
  const passwd* pw = getpwnam(user.c_str());
  if (pw == nullptr) {
    *error = "no such user \"" + user + "\"";
    return false;
  }
  out->uid = pw->pw_uid;
  out->gid = pw->pw_gid;
  return true;
}

DropResult DropPrivileges(const UserIds& ids, std::string* error) {
  if (geteuid() != 0) return DropResult::kNotRoot;
  auto fail = [&](const char* what) {
    *error = std::string(what) + " failed: " + std::strerror(errno);
    return DropResult::kFailed;
  };
  // Order matters: groups while still root, then gid, then uid last (Swoole
  // chroots after setuid and only warns on failure; we do the opposite).
  if (setgroups(0, nullptr) != 0) return fail("setgroups(0)");
  if (ids.uid != 0) {
    // Empty the capability bounding set while CAP_SETPCAP is still held: no
    // later execve (of a set-uid or file-capability binary) can bring one back.
    // The loop ends at the first capability this kernel does not know.
    // Without CAP_SETPCAP (a container that withholds it) the set cannot
    // shrink; no_new_privs still stops the execve gains, so that is a warning.
    for (int cap = 0; cap < 64; ++cap) {
      const int held = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
      if (held < 0) break;  // EINVAL: past the last capability this kernel knows
      if (held == 0 || prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0) continue;
      if (errno == EPERM) {
        LOG_FIRST_N(WARNING, 1) << "cannot empty the capability bounding set (no CAP_SETPCAP here); "
                                   "no_new_privs still applies";
        break;
      }
      return fail("prctl(PR_CAPBSET_DROP)");
    }
  }
  if (setresgid(ids.gid, ids.gid, ids.gid) != 0) return fail("setresgid()");
  if (setresuid(ids.uid, ids.uid, ids.uid) != 0) return fail("setresuid()");

  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  if (getresuid(&ru, &eu, &su) != 0) return fail("getresuid()");
  if (getresgid(&rg, &eg, &sg) != 0) return fail("getresgid()");
  if (ru != ids.uid || eu != ids.uid || su != ids.uid || rg != ids.gid || eg != ids.gid || sg != ids.gid) {
    *error = "uids/gids are not all the target after setresuid/setresgid";
    return DropResult::kFailed;
  }
  if (getgroups(0, nullptr) != 0) {
    *error = "supplementary groups remain after setgroups(0)";
    return DropResult::kFailed;
  }
  if (ids.uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
    *error = "root could be regained after the drop";
    return DropResult::kFailed;
  }
  return DropResult::kDropped;
}

bool ForbidNewPrivileges(std::string* error) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0) return true;
  *error = std::string("prctl(PR_SET_NO_NEW_PRIVS) failed: ") + std::strerror(errno);
  return false;
}

}  // namespace solar
