// The registry of Worker implementations, filled by SOLAR_REGISTER_WORKER at
// static-initialisation time (built-ins now; shared-object modules later,
// whose initialisers register the same way when dlopen()ed).
// Runs in: worker processes; the master only checks names at config time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "api/worker.h"

namespace solar {

// `spec` is "builtin:NAME". nullptr with *error set when unknown.
std::unique_ptr<Worker> CreateWorker(const std::string& spec, std::string* error);
bool HasWorker(const std::string& spec);

// Registrations in order, for telling what a module added when it was loaded
// (a module may re-register a built-in name: its new code wins).
size_t RegistrationCount();
std::vector<std::string> RegisteredSince(size_t count);
// The last refused registration (a module built against another worker API),
// cleared by the call; "" if none.
std::string TakeRegistrationError();

}  // namespace solar
