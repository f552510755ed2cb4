#include "sys/process_title.h"

#include <sys/prctl.h>

#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

namespace solar {
namespace {

char* g_title_start = nullptr;
size_t g_title_len = 0;

}  // namespace

void InitProcessTitle(int argc, char** argv) {
  if (argc <= 0) return;
  // argv strings are contiguous; overwrite the whole argv area (not environ:
  // the environment stays intact for glog and getenv).
  g_title_start = argv[0];
  char* end = argv[0] + std::strlen(argv[0]);
  for (int i = 1; i < argc; ++i) {
    if (argv[i] == end + 1) end = argv[i] + std::strlen(argv[i]);
  }
  // Extend over the environment strings that follow argv (nginx does the same),
  // after moving them to the heap so getenv() keeps working. The copies live
  // for the whole process by design.
  static std::vector<std::string> env_copies;
  if (environ != nullptr && environ[0] == end + 1) {
    size_t n = 0;
    while (environ[n] != nullptr) ++n;
    env_copies.reserve(n);
    static std::vector<char*> env_ptrs;
    for (size_t i = 0; i < n; ++i) {
      if (environ[i] == end + 1) end = environ[i] + std::strlen(environ[i]);
      env_copies.emplace_back(environ[i]);
    }
    for (auto& e : env_copies) env_ptrs.push_back(e.data());
    env_ptrs.push_back(nullptr);
    environ = env_ptrs.data();
  }
  g_title_len = static_cast<size_t>(end - argv[0]);
}

void SetProcessTitle(const std::string& title) {
  std::string comm = title.substr(0, 15);
  prctl(PR_SET_NAME, comm.c_str(), 0, 0, 0);
  if (g_title_start == nullptr || g_title_len == 0) return;
  size_t n = std::min(title.size(), g_title_len);
  std::memcpy(g_title_start, title.data(), n);
  std::memset(g_title_start + n, '\0', g_title_len - n + 1);
}

}  // namespace solar
