// solar-bench: load-tests solar (or any echo server) over TCP or UDP and
// checks every reply. See docs/solar-bench.md.
//
// Exit status: 0 all requests succeeded, 1 a request failed or none completed,
// 2 usage error (bad option, unresolvable target, file limit).
#include <unistd.h>

#include <cstdio>
#include <string>

#include "base/version.h"
#include "options.h"
#include "report.h"
#include "runner.h"

namespace {

constexpr int kExitUsage = 2;

// Bad usage: what is wrong, the synopsis (the usage text up to its first blank
// line), exit 2 — as the other tools do.
int UsageError(const std::string& message) {
  const std::string usage = solar::bench::UsageText();
  std::fprintf(stderr, "solar-bench: %s\n%sTry 'solar-bench --help'.\n", message.c_str(),
               usage.substr(0, usage.find("\n\n") + 1).c_str());
  return kExitUsage;
}

bool WriteFile(const std::string& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  return std::fclose(f) == 0 && ok;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace solar::bench;
  const ParseResult parsed = ParseOptions(argc, argv);
  if (!parsed.ok()) return UsageError(parsed.error);
  const Options& options = parsed.options;
  if (options.help) {
    std::fputs(UsageText().c_str(), stdout);
    return 0;
  }
  if (options.version) {
    std::printf("%s\n", solar::VersionLine("solar-bench").c_str());
    return 0;
  }

  sockaddr_storage address{};
  socklen_t length = 0;
  if (std::string error = ResolveTarget(options, &address, &length); !error.empty()) return UsageError(error);
  const size_t sockets = static_cast<size_t>(options.connections) + static_cast<size_t>(options.slow_connections);
  if (std::string error = EnsureFileLimit(sockets); !error.empty()) return UsageError(error);

  const RunResult result = RunBench(options, address, length, isatty(STDERR_FILENO) == 1);

  // With --json - the JSON owns stdout, so the human report moves to stderr.
  const bool json_to_stdout = options.json_path == "-";
  std::fputs(FormatReport(options, result).c_str(), json_to_stdout ? stderr : stdout);
  if (json_to_stdout) {
    std::fputs(FormatJson(options, result).c_str(), stdout);
  } else if (!options.json_path.empty() && !WriteFile(options.json_path, FormatJson(options, result))) {
    std::perror(("solar-bench: writing " + options.json_path).c_str());
    return 1;
  }
  return ExitCodeFor(result);
}
