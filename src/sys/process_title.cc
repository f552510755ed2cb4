#include "sys/process_title.h"

#include <sys/prctl.h>

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <glog/logging.h>

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
  // after moving them to the heap so getenv() keeps working. The copies are
  // C allocations that are never freed, on purpose: environ must stay valid
  // through exit(), when libraries' finalisers still call getenv().
  if (environ != nullptr && environ[0] == end + 1) {
    size_t n = 0;
    while (environ[n] != nullptr) ++n;
    char** copy = static_cast<char**>(std::calloc(n + 1, sizeof(char*)));
    if (copy != nullptr) {
      for (size_t i = 0; i < n; ++i) {
        if (environ[i] == end + 1) end = environ[i] + std::strlen(environ[i]);
        copy[i] = strdup(environ[i]);
      }
      environ = copy;
    }
  }
  g_title_len = static_cast<size_t>(end - argv[0]);
}

void SetProcessTitle(const std::string& title) {
  std::string comm = title.substr(0, 15);
  // Only the name top and ps -L show is lost; it cannot fail for a string.
  if (prctl(PR_SET_NAME, comm.c_str(), 0, 0, 0) != 0) PLOG(WARNING) << "prctl(PR_SET_NAME, " << comm << ") failed";
  if (g_title_start == nullptr || g_title_len == 0) return;
  size_t n = std::min(title.size(), g_title_len);
  std::memcpy(g_title_start, title.data(), n);
  std::memset(g_title_start + n, '\0', g_title_len - n + 1);
}

}  // namespace solar
