// solar: command line, then hands off to the master.
//
//   solar [-c FILE]      run (no -c: the embedded defaults, etc/solar.conf)
//   solar -t [-c FILE]   check the configuration and exit 0 (ok) or 1
//   solar -T [-c FILE]   print the effective configuration and exit
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include <glog/logging.h>

#include "app/registry.h"
#include "config/config.h"
#include "master/master.h"
#include "sys/process_title.h"

namespace {

void Usage(FILE* out) {
  std::fprintf(out,
               "usage: solar [-c FILE] [-t | -T]\n"
               "  -c FILE  configuration file (protobuf text format; default: the embedded etc/solar.conf)\n"
               "  -t       check the configuration and exit\n"
               "  -T       print the effective configuration and exit\n"
               "  -h       this help\n"
               "signals to the master: TERM/INT/QUIT graceful stop (a second one stops at once)\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  bool test_only = false, print = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-c" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a == "-t") {
      test_only = true;
    } else if (a == "-T") {
      print = true;
    } else if (a == "-h" || a == "--help") {
      Usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "solar: unknown argument \"%s\"\n", a.c_str());
      Usage(stderr);
      return 2;
    }
  }
  // Relative paths in the config are taken from here, before anything chdirs.
  solar::Config config;
  std::string error;
  if (!solar::LoadConfig(config_path, &config, &error)) {
    std::fprintf(stderr, "solar: %s\n", error.c_str());
    if (test_only) std::fprintf(stderr, "solar: configuration test failed\n");
    return 1;
  }
  if (!solar::HasWorker(config.worker().name())) {
    std::string why;
    solar::CreateWorker(config.worker().name(), &why);
    std::fprintf(stderr, "solar: %s: worker: %s\n", config_path.empty() ? "<embedded defaults>" : config_path.c_str(),
                 why.c_str());
    if (test_only) std::fprintf(stderr, "solar: configuration test failed\n");
    return 1;
  }
  if (print) {
    std::fputs(solar::ConfigToText(config).c_str(), stdout);
    return 0;
  }
  if (test_only) {
    std::printf("solar: configuration %s is ok\n", config_path.empty() ? "<embedded defaults>" : config_path.c_str());
    return 0;
  }
  if (config.pid_file()[0] != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) != nullptr) config.set_pid_file(std::string(cwd) + "/" + config.pid_file());
  }

  solar::InitProcessTitle(argc, argv);
  FLAGS_logtostderr = config.log_dir().empty();
  if (!config.log_dir().empty()) FLAGS_log_dir = config.log_dir();
  FLAGS_logbufsecs = 0;
  google::InitGoogleLogging("solar");
  return solar::RunMaster(config, config_path);
}
