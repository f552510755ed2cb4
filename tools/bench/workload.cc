#include "workload.h"

namespace solar::bench {

WorkloadRegistry& WorkloadRegistry::Instance() {
  // A function-local static: registrations run from other files' static
  // initialisers, whose order relative to this file is unspecified.
  static WorkloadRegistry* registry = new WorkloadRegistry();  // never destroyed: used until exit
  return *registry;
}

bool WorkloadRegistry::add(const std::string& name, Factory factory) {
  factories_[name] = std::move(factory);
  return true;
}

std::unique_ptr<Workload> WorkloadRegistry::make(const std::string& name, const WorkloadParams& params) const {
  auto it = factories_.find(name);
  return it == factories_.end() ? nullptr : it->second(params);
}

std::vector<std::string> WorkloadRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& entry : factories_) out.push_back(entry.first);
  return out;
}

std::string WorkloadRegistry::namesForHelp() const {
  std::string out;
  for (const auto& entry : factories_) {
    if (!out.empty()) out += ", ";
    out += entry.first;
  }
  return out;
}

}  // namespace solar::bench
