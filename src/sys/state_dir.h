// The state directory (config state_dir): where workers keep files that
// outlive a process, such as builtin:kv's SQLite database.
// Runs in: master, before the first fork.
#pragma once

#include <string>

#include "sys/privilege.h"

namespace solar {

// Creates `dir` (absolute) and its missing parents (0755; the last level
// 0750). When `owner` is given (the master is root and drops to another
// user), the last level is given to it, and a throwaway child running as that
// user checks that it can enter and write it: a directory under /root or a
// mktemp -d folder is refused here, naming the parent that blocks, instead of
// every worker failing later. False with *error set.
bool PrepareStateDir(const std::string& dir, const UserIds* owner, std::string* error);

}  // namespace solar
