// solar-cli: get, put, del and scan against a running solar KV server
// (builtin:kv), for people and for scripts. See CliUsage() in cli_command.cc.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "base/version.h"
#include "cli_command.h"
#include "direct_pg_bench.h"
#include "kv_client.h"

int main(int argc, char** argv) {
  using namespace solar::cli;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "bench-direct-pg") {
    return RunDirectPgBench(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  const char* env = std::getenv("SOLAR_SERVER");
  CliParse parsed = ParseCli(args, env ? env : "");
  if (!parsed.ok()) {
    std::fprintf(stderr, "solar-cli: %s\n%s", parsed.error.c_str(), CliUsageHint().c_str());
    return kExitUsage;
  }
  CliCommand& command = parsed.command;
  if (command.help) {
    std::fputs(CliUsage().c_str(), stdout);
    return kExitOk;
  }
  if (command.version) {
    std::printf("%s\n", solar::VersionLine("solar-cli").c_str());
    return kExitOk;
  }
  if (command.value_from_stdin) {
    std::string value((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    command.request.mutable_put()->set_value(std::move(value));
  }

  KvClient client;
  std::string error;
  solar::kv::KvResponse response;
  if (!client.connect(command.server, command.udp ? KvClient::kUdp : KvClient::kTcp, command.timeout_ms, &error) ||
      !client.call(command.request, &response, &error)) {
    std::fprintf(stderr, "solar-cli: %s: %s\n", command.server.c_str(), error.c_str());
    return kExitNoAnswer;
  }
  const CliOutput out = FormatReply(command, response);
  std::fwrite(out.out.data(), 1, out.out.size(), stdout);
  std::fputs(out.err.c_str(), stderr);
  return out.code;
}
