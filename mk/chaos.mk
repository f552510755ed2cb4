# `make chaos`: the bounded chaos and soak run (test/chaos/, README "Chaos and
# soak"); not part of `make test`. Entered from the top-level Makefile after
# `make deps`. It includes mk/build.mk for its variables and rules (B,
# CXXFLAGS, SANITIZE, the object rule, run_tests), so that
#   make -f mk/chaos.mk B=build-chaos chaos
# builds and runs it in a tree of its own.
include mk/build.mk

CHAOS_SRCS := $(sort $(wildcard test/chaos/*.cc))
# The support files that need no generated protobuf code (kv_test_client does).
CHAOS_SUPPORT := test/support/server_harness.cc test/support/clients.cc
CHAOS_OBJS := $(patsubst %.cc,$(B)/obj/%.o,$(CHAOS_SRCS) $(CHAOS_SUPPORT))

.PHONY: chaos
.DEFAULT_GOAL := chaos

$(B)/solar-chaos: $(CHAOS_OBJS)
	$(CXX) $(CXXFLAGS) $^ -pthread -o $@

# CHAOS_SECONDS, CHAOS_RELOADS, CHAOS_HUPS, CHAOS_CYCLES, CHAOS_CONNECTIONS and
# CHAOS_SEED in the environment shorten or repeat a run; the servers' logs go
# to $(B)/chaos/.
chaos: $(B)/solar $(B)/solar-chaos
	$(call run_tests,SOLAR_BIN=$(abspath $(B)/solar) CHAOS_OUT=$(abspath $(B)/chaos) $(B)/solar-chaos)
