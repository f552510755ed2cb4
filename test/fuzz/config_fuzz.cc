// The config file (src/config/config.h): ParseConfig's text format over the
// embedded defaults plus its validation, and what a worker's onCheck adds (the
// KV settings from the worker's settings map, as WorkerInfo carries them, with
// LocateFieldError pointing at the line). The input is the file's text;
// config_fuzz.dict gives the field, enum and KV setting names.
//
// Beyond "no crash": every error names the file; an accepted config prints
// (solar -T's ConfigToTextAllFields) to text that parses back to the same
// config; DescribeBackend, which goes to the log, never shows the password.
#include <libpq-fe.h>

#include <string>

#include <google/protobuf/util/message_differencer.h>

#include "app/module_loader.h"
#include "apps/kv/kv_settings.h"
#include "config/config.h"
#include "fuzz_support.h"

namespace {

constexpr char kName[] = "fuzz.conf";

bool NamesTheFile(const std::string& error) {
  return error.size() > sizeof(kName) && error.compare(0, sizeof(kName) - 1, kName) == 0 &&
         error[sizeof(kName) - 1] == ':';
}

// The password libpq reads from `dsn`, or "" (none, or the DSN does not parse).
std::string Password(const std::string& dsn) {
  char* why = nullptr;
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &why);
  PQfreemem(why);
  if (options == nullptr) return "";
  std::string password;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (std::string(o->keyword) == "password" && o->val != nullptr) password = o->val;
  }
  PQconninfoFree(options);
  return password;
}

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

// `text` with each of the description's "***" markers made one byte that no
// password search can match part of ("ssword=**" is in "password=***").
std::string WithoutMarkers(std::string text) {
  for (const std::string marker : {"password=***", ":***@"}) {
    for (size_t at = text.find(marker); at != std::string::npos; at = text.find(marker, at + 1))
      text.replace(at, marker.size(), "\x01");
  }
  return text;
}

// A password written once in the DSN (and long enough not to be a common
// substring) must not be in the description.
void CheckPasswordHidden(const solar::kv::KvSettings& settings) {
  const std::string description = solar::kv::DescribeBackend(settings);
  if (settings.backend != solar::KvConfig::POSTGRES) return;
  const std::string password = Password(settings.postgres_dsn);
  if (password.size() < 6 || Count(settings.postgres_dsn, password) != 1) return;
  if (Count(WithoutMarkers(description), password) != 0) {
    std::fprintf(stderr, "password shown: dsn [%s] -> [%s]\n", settings.postgres_dsn.c_str(), description.c_str());
    FUZZ_CHECK(false);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  solar::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  solar::Config config;
  std::string error;
  if (!solar::ParseConfig(text, kName, &config, &error)) {
    if (!NamesTheFile(error)) {
      std::fprintf(stderr, "error without the file's name: %s\n", error.c_str());
      FUZZ_CHECK(false);
    }
    return 0;
  }
  FUZZ_CHECK(error.empty() || NamesTheFile(error));

  (void)solar::ConfigToText(config);
  (void)solar::ConfigWarnings(config, true);
  const std::string all = solar::ConfigToTextAllFields(config);
  solar::Config again;
  std::string again_error;
  if (!solar::ParseConfig(all, "effective", &again, &again_error)) {
    std::fprintf(stderr, "solar -T output does not parse: %s\n---\n%s---\n", again_error.c_str(), all.c_str());
    FUZZ_CHECK(false);
  }
  if (!google::protobuf::util::MessageDifferencer::Equals(again, config)) {
    std::fprintf(stderr, "solar -T output parses to another config:\n%s---\n%s---\n", all.c_str(),
                 solar::ConfigToTextAllFields(again).c_str());
    FUZZ_CHECK(false);
  }

  solar::kv::KvSettings settings;
  std::string note;
  const solar::WorkerInfo info = solar::MakeWorkerInfo(config, kName, "builtin:kv");
  const std::string kv_error = solar::kv::ResolveKvSettings(info, &settings, &note);
  if (!kv_error.empty()) {
    FUZZ_CHECK(NamesTheFile(solar::LocateFieldError(text, kName, kv_error)));
  } else {
    CheckPasswordHidden(settings);
    FUZZ_CHECK(settings.max_key_bytes > 0 && settings.default_scan_limit <= settings.max_scan_limit);
  }
  return 0;
}
