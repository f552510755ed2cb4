// Dropping root in a child (DESIGN.md "Processes"; STYLE rule 8: fails closed).
// Runs in: every child, right after fork, after affinity.
#pragma once

#include <sys/types.h>

#include <string>

namespace solar {

struct UserIds {
  uid_t uid = 0;
  gid_t gid = 0;
};

// Looks up `user` (getpwnam). False with *error set when unknown.
bool LookupUser(const std::string& user, UserIds* out, std::string* error);

enum class DropResult { kDropped, kNotRoot, kFailed };
// When running as root: setgroups(0), the capability bounding set emptied
// (unless the target is root itself), setresgid, setresuid to `ids`, then checks
// with getresuid/getresgid that all three ids are the target and that
// setuid(0) now fails. kNotRoot: nothing to drop (caller logs a warning).
// kFailed: *error says which step; the caller must exit (do-not-respawn code).
DropResult DropPrivileges(const UserIds& ids, std::string* error);

// PR_SET_NO_NEW_PRIVS: neither this process nor anything it execs can gain a
// privilege (set-uid bits and file capabilities are ignored). False with
// *error on failure.
bool ForbidNewPrivileges(std::string* error);

}  // namespace solar
