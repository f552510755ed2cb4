// The process title shown by ps: "solar: master", "solar: listener 0",
// "solar: worker 3" (nginx ngx_setproctitle). Tests and operators find children
// by it.
// Runs in: every process.
#pragma once

#include <string>

namespace solar {

// Call once from main() with the original argv.
void InitProcessTitle(int argc, char** argv);
void SetProcessTitle(const std::string& title);

}  // namespace solar
