// Runs in: every binary of the sanitizer build (`make test SANITIZE=...`),
// which alone links this file (mk/build.mk, SAN_OBJS).
//
// With GCC, -fsanitize=address,undefined loads two runtimes, libasan and
// libubsan, each with its own report file, and two things keep UBSan's
// reports away from UBSAN_OPTIONS' log_path:
//  1. libubsan applies log_path by calling __sanitizer_set_report_path, which
//     libasan exports too and, loaded first, interposes: the path is set on
//     ASan's report file, and UBSan goes on writing to stderr.
//  2. libubsan reads UBSAN_OPTIONS only at its first report, and from
//     /proc/self/environ. In solar's children that memory holds the process
//     title by then (src/sys/process_title.cc moves environ to the heap and
//     writes over the strings, as nginx does), so their reports would lose
//     every option, print_stacktrace included.
// So __ubsan_default_options hands libubsan the variable through getenv(),
// which reads the heap copy, and a constructor applies log_path to libubsan's
// own report file, reaching its __sanitizer_set_report_path through dlsym on
// libubsan itself. The path is set before any fork, so children inherit it
// and the runtime opens PATH.EXE.PID per process (log_exe_name=1).
#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <string>

extern "C" const char* __ubsan_default_options() {
  const char* options = std::getenv("UBSAN_OPTIONS");
  return options != nullptr ? options : "";
}

namespace {

// The value of log_path= in a sanitizer options string ("" if absent).
// Options are separated by ':', ',' or white space, as the runtime parses them.
std::string LogPathOption(const char* options) {
  static constexpr char kKey[] = "log_path=";
  std::string found;
  const char* p = options;
  while (*p != '\0') {
    const size_t len = std::strcspn(p, ":, \t\n");
    if (len > sizeof(kKey) - 1 && std::strncmp(p, kKey, sizeof(kKey) - 1) == 0) {
      found.assign(p + sizeof(kKey) - 1, len - (sizeof(kKey) - 1));
    }
    p += len;
    if (*p != '\0') ++p;
  }
  return found;
}

__attribute__((constructor)) void SetUbsanReportPath() {
  const char* options = std::getenv("UBSAN_OPTIONS");
  if (options == nullptr) return;
  const std::string path = LogPathOption(options);
  if (path.empty()) return;
  void* ubsan = dlopen("libubsan.so.1", RTLD_LAZY | RTLD_NOLOAD);
  if (ubsan == nullptr) return;  // no shared libubsan here: nothing to redirect
  using SetReportPath = void (*)(const char*);
  if (auto set = reinterpret_cast<SetReportPath>(dlsym(ubsan, "__sanitizer_set_report_path"))) set(path.c_str());
  dlclose(ubsan);
}

}  // namespace
