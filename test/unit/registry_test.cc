// The worker registry, and the API version check that keeps a module built
// against another Worker layout from being called through the wrong vtable.
#include "app/registry.h"

#include <gtest/gtest.h>

namespace solar {
namespace {

class Nop : public Worker {
  void process(Request&, Response&) override {}
};

TEST(Registry, ModuleBuiltAgainstAnotherApiIsRefusedWithAReason) {
  const size_t before = RegistrationCount();
  EXPECT_FALSE(RegisterWorker("old-module", [] { return std::unique_ptr<Worker>(std::make_unique<Nop>()); },
                              kWorkerApiVersion - 1));
  EXPECT_EQ(RegistrationCount(), before);
  EXPECT_FALSE(HasWorker("builtin:old-module"));
  const std::string error = TakeRegistrationError();
  EXPECT_NE(error.find("built against worker API " + std::to_string(kWorkerApiVersion - 1)), std::string::npos);
  EXPECT_NE(error.find("rebuild the module"), std::string::npos);
  EXPECT_EQ(TakeRegistrationError(), "") << "taken once";
}

TEST(Registry, RegistrationsAreListedInOrderForModuleLoading) {
  const size_t before = RegistrationCount();
  ASSERT_TRUE(RegisterWorker("reg-a", [] { return std::unique_ptr<Worker>(std::make_unique<Nop>()); },
                             kWorkerApiVersion));
  ASSERT_TRUE(RegisterWorker("reg-b", [] { return std::unique_ptr<Worker>(std::make_unique<Nop>()); },
                             kWorkerApiVersion));
  EXPECT_EQ(RegisteredSince(before), (std::vector<std::string>{"builtin:reg-a", "builtin:reg-b"}));
  std::string error;
  EXPECT_NE(CreateWorker("builtin:reg-b", &error), nullptr);
  EXPECT_EQ(CreateWorker("builtin:nope", &error), nullptr);
  EXPECT_NE(error.find("builtin:echo"), std::string::npos) << "lists what exists: " << error;
}

}  // namespace
}  // namespace solar
