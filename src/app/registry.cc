#include "app/registry.h"

#include <map>
#include <utility>

namespace solar {
namespace {

std::map<std::string, WorkerFactory>& Registry() {
  static std::map<std::string, WorkerFactory> registry;  // built on first use: init order safe
  return registry;
}

// Names in registration order: what a module added when it was loaded.
std::vector<std::string>& Log() {
  static std::vector<std::string> log;
  return log;
}

std::string& VersionError() {
  static std::string error;
  return error;
}

std::string NameOf(const std::string& spec) {
  static const std::string kPrefix = "builtin:";
  return spec.rfind(kPrefix, 0) == 0 ? spec.substr(kPrefix.size()) : std::string();
}

}  // namespace

bool RegisterWorker(const char* name, WorkerFactory factory, int api_version) {
  if (api_version != kWorkerApiVersion) {
    VersionError() = std::string("\"") + name + "\" was built against worker API " + std::to_string(api_version) +
                     " but this solar has API " + std::to_string(kWorkerApiVersion) + ": rebuild the module";
    return false;
  }
  Registry()[name] = std::move(factory);
  Log().push_back(name);
  return true;
}

std::string TakeRegistrationError() { return std::exchange(VersionError(), std::string()); }

bool HasWorker(const std::string& spec) { return Registry().count(NameOf(spec)) > 0; }

std::unique_ptr<Worker> CreateWorker(const std::string& spec, std::string* error) {
  auto it = Registry().find(NameOf(spec));
  if (it == Registry().end()) {
    *error = "no worker \"" + spec + "\"; built in:";
    for (const auto& [name, f] : Registry()) *error += " builtin:" + name;
    return nullptr;
  }
  return it->second();
}

size_t RegistrationCount() { return Log().size(); }

std::vector<std::string> RegisteredSince(size_t count) {
  std::vector<std::string> out;
  for (size_t i = count; i < Log().size(); ++i) out.push_back("builtin:" + Log()[i]);
  return out;
}

}  // namespace solar
