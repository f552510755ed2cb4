# The real build; entered from the top-level Makefile after `make deps`.

PREFIX ?= /usr/local
DESTDIR ?=
# `make test SANITIZE=address,undefined`: the same build and suite with the
# sanitizers, in build-san/ so that build/ stays a plain build beside it.
SANITIZE ?=
B := $(if $(SANITIZE),build-san,build)
CXX ?= g++
PKGS := libevent protobuf libglog sqlite3 libpq libsystemd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS := $(shell pkg-config --libs $(PKGS))
GTEST_LIBS := $(shell pkg-config --libs gtest gmock 2>/dev/null || echo -lgtest -lgmock)

CXXFLAGS ?= -O2 -g
CXXFLAGS += -std=c++17 -Wall -Wextra -Wno-unused-parameter -pthread -MMD -MP
# -fno-sanitize-recover=all: the first UBSan finding ends the process, as an
# ASan one does, so none can scroll by in a passing run. Every link line below
# passes $(CXXFLAGS), so the same flags link the runtimes in; the modules'
# rule, which has its own flags, adds them itself.
SAN_FLAGS := $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all)
CXXFLAGS += $(SAN_FLAGS)
# Instrumented, GCC 12 warns "may be used uninitialized" inside libstdc++'s
# <regex> (std::function moved in _State): spurious, the GCC manual says
# -fsanitize can make -Wmaybe-uninitialized report false positives.
CXXFLAGS += $(if $(SANITIZE),-Wno-maybe-uninitialized)
# Linked into every binary of the sanitizer build: routes UBSan's reports to
# UBSAN_OPTIONS' log_path, which GCC's two runtimes otherwise ignore.
SAN_OBJS := $(if $(SANITIZE),$(B)/obj/mk/sanitizer_hooks.o)
CPPFLAGS += -Isrc -Itools -Itest/support -I$(B)/gen $(PKG_CFLAGS)
LDLIBS += $(PKG_LIBS) -pthread -ldl

PROTOS := $(wildcard proto/*.proto)
PROTO_CC := $(patsubst proto/%.proto,$(B)/gen/%.pb.cc,$(PROTOS))
PROTO_H := $(PROTO_CC:.cc=.h)

CORE_SRCS := $(filter-out src/main.cc,$(shell find src -name '*.cc' | sort))
CORE_OBJS := $(patsubst %.cc,$(B)/obj/%.o,$(CORE_SRCS)) \
             $(patsubst $(B)/gen/%.cc,$(B)/obj/gen/%.o,$(PROTO_CC)) \
             $(B)/obj/gen/default_config.o
BENCH_SRCS := $(sort $(wildcard tools/bench/*.cc))
BENCH_LIB_OBJS := $(patsubst %.cc,$(B)/obj/%.o,$(filter-out tools/bench/main.cc,$(BENCH_SRCS)))
UNIT_SRCS := $(sort $(wildcard test/unit/*.cc))
PROCESS_SRCS := $(sort $(wildcard test/process/*.cc test/support/*.cc))

APPS := $(notdir $(wildcard src/apps/*))
MODULES := $(patsubst %,$(B)/lib%.so,$(APPS))
CLI_SRCS := $(sort $(wildcard tools/cli/*.cc))
CLI_LIB_OBJS := $(patsubst %.cc,$(B)/obj/%.o,$(filter-out tools/cli/main.cc,$(CLI_SRCS)))
CTL_SRCS := $(sort $(wildcard tools/ctl/*.cc))
BINS := $(B)/solar $(if $(BENCH_SRCS),$(B)/solar-bench) $(if $(CLI_SRCS),$(B)/solar-cli) \
        $(if $(CTL_SRCS),$(B)/solarctl)

.PHONY: all test unit-test process-test client-test cluster-test run bench install check-includes
all: $(BINS) $(MODULES) $(B)/unit_tests $(B)/process_tests $(B)/direct-echo

# Generated sources are not intermediates: never delete them after a build.
.SECONDARY: $(PROTO_CC) $(PROTO_H)

$(B)/gen/%.pb.cc $(B)/gen/%.pb.h: proto/%.proto
	@mkdir -p $(B)/gen
	protoc --proto_path=proto --cpp_out=$(B)/gen $<

# The embedded defaults are etc/solar.conf itself, so the two can never differ.
$(B)/gen/default_config.cc: etc/solar.conf
	@mkdir -p $(B)/gen
	{ echo 'namespace solar { extern const char kDefaultConfigText[]; const char kDefaultConfigText[] = R"solarconf('; \
	  cat $<; echo ')solarconf"; }'; } > $@

$(B)/obj/gen/%.o: $(B)/gen/%.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -Wno-extra -c $< -o $@

$(B)/obj/%.o: %.cc | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c $< -o $@

$(B)/libsolar.a: $(CORE_OBJS)
	rm -f $@ && ar rcs $@ $^

# main() alone, so an out-of-tree build can link its own workers into a server:
#   g++ -std=c++17 -O2 my_worker.cc $(pkg-config --cflags --libs solar-server) -o mysolar
# (installed: etc/solar-server.pc.in; test/process/install_test.cc builds it).
$(B)/libsolar_main.a: $(B)/obj/src/main.o
	rm -f $@ && ar rcs $@ $^

# --whole-archive: the built-in workers register themselves from static
# initialisers that nothing else references.
WHOLE_CORE := -Wl,--whole-archive $(B)/libsolar.a -Wl,--no-whole-archive

# -rdynamic: worker modules resolve solar::RegisterWorker and the API from the binary.
$(B)/solar: $(B)/obj/src/main.o $(SAN_OBJS) $(B)/libsolar.a
	$(CXX) $(CXXFLAGS) -rdynamic $(filter %.o,$^) $(WHOLE_CORE) $(LDLIBS) -o $@

# Worker modules: each src/apps/NAME/ also builds as build/libNAME.so, loaded
# with worker { module: "build/libNAME.so" }. A user's module is the same:
#   g++ -std=c++17 -O2 -fPIC -shared my_worker.cc $(pkg-config --cflags solar) -o libmy.so
.SECONDEXPANSION:
# Every header is a prerequisite: a module compiled against an older Worker
# layout must be rebuilt (multi-file modules make per-file .d files awkward).
$(B)/lib%.so: $$(wildcard src/apps/%/*.cc) $(shell find src -name '*.h') $(PROTO_H)
	$(CXX) $(CPPFLAGS) -std=c++17 -O2 -g $(SAN_FLAGS) -fPIC -shared $(filter %.cc,$^) -o $@

$(B)/solar-bench: $(patsubst %.cc,$(B)/obj/%.o,$(BENCH_SRCS)) $(SAN_OBJS)
	$(CXX) $(CXXFLAGS) $^ $(shell pkg-config --libs libevent) -pthread -o $@

# make bench's reference: a one-process epoll echo server (not installed).
$(B)/direct-echo: $(patsubst %.cc,$(B)/obj/%.o,$(wildcard tools/direct_echo/*.cc)) $(SAN_OBJS)
	$(CXX) $(CXXFLAGS) $^ -o $@

# solar-cli and solarctl link the core library for the generated protobuf code and helpers.
$(B)/solar-cli: $(patsubst %.cc,$(B)/obj/%.o,$(CLI_SRCS)) $(SAN_OBJS) $(B)/libsolar.a
	$(CXX) $(CXXFLAGS) $(filter %.o,$^) $(B)/libsolar.a $(LDLIBS) -o $@

$(B)/solarctl: $(patsubst %.cc,$(B)/obj/%.o,$(CTL_SRCS)) $(SAN_OBJS) $(B)/libsolar.a
	$(CXX) $(CXXFLAGS) $(filter %.o,$^) $(B)/libsolar.a $(LDLIBS) -o $@

$(B)/unit_tests: $(patsubst %.cc,$(B)/obj/%.o,$(UNIT_SRCS)) $(BENCH_LIB_OBJS) $(CLI_LIB_OBJS) $(SAN_OBJS) $(B)/libsolar.a
	$(CXX) $(CXXFLAGS) $(filter %.o,$^) $(WHOLE_CORE) $(GTEST_LIBS) -lgtest_main $(LDLIBS) -o $@

$(B)/process_tests: $(patsubst %.cc,$(B)/obj/%.o,$(PROCESS_SRCS)) $(SAN_OBJS) $(B)/libsolar.a
	$(CXX) $(CXXFLAGS) $(filter %.o,$^) $(WHOLE_CORE) $(GTEST_LIBS) -lgtest_main $(LDLIBS) -o $@

check-includes:
	@scripts/check_includes.sh

# The process tests find the binaries, and the modules beside $SOLAR_BIN, here.
TEST_ENV := SOLAR_BIN=$(abspath $(B)/solar) SOLAR_BENCH=$(abspath $(B)/solar-bench) \
            SOLAR_CLI=$(abspath $(B)/solar-cli) SOLARCTL=$(abspath $(B)/solarctl) \
            DIRECT_ECHO=$(abspath $(B)/direct-echo) \
            SOLAR_INSTALL_PREFIX=$(abspath $(B)/install-test) SOLAR_INSTALL_CXXFLAGS="$(SAN_FLAGS)"

# $(call run_tests,COMMANDS) runs a shell list of test commands. With SANITIZE,
# every process they start (the tests, the master, its children, the tools)
# writes any sanitizer report to its own file, DIR/asan.EXE.PID or
# DIR/ubsan.EXE.PID (see mk/sanitizer_hooks.cc for UBSan), not to stderr: a
# child's stderr is the master's, which a test shows only when it fails (or
# /dev/null once daemonized), and a child that dies of a report is respawned
# and may fail no test. So after the suite any file in DIR fails the run,
# whatever the exit codes said; the reports are printed and kept in
# $(B)/sanitizer-reports/. DIR is a fresh /tmp dir with mode 1777: children
# write as `nobody`, and the checkout may not be searchable by others.
# LeakSanitizer checks each process that leaves by exit(), children included:
# they run as nobody and are not dumpable, but LSan makes itself dumpable for
# the ptrace of its stop-the-world. A child that leaves by _exit() (a failed
# start) or by a signal (SIGKILL, PDEATHSIG, a repeated TERM) is not checked;
# its memory goes with it, and LSan runs only from exit().
# check_initialization_order watches the built-in workers' static registration.
ifeq ($(SANITIZE),)
run_tests = $(1)
else
SAN_REPORTS := $(B)/sanitizer-reports
run_tests = @logs=$$(mktemp -d /tmp/solar-san-XXXXXX) && chmod 1777 "$$logs" && rm -rf $(SAN_REPORTS) || exit 1; \
  export ASAN_OPTIONS="log_path=$$logs/asan:log_exe_name=1:halt_on_error=1:detect_leaks=1:check_initialization_order=1" \
         UBSAN_OPTIONS="log_path=$$logs/ubsan:log_exe_name=1:halt_on_error=1:print_stacktrace=1"; \
  echo 'ASAN_OPTIONS="'"$$ASAN_OPTIONS"'" UBSAN_OPTIONS="'"$$UBSAN_OPTIONS"'" $(1)'; \
  rc=0; { $(1); } || rc=$$?; \
  if [ -n "$$(ls -A "$$logs")" ]; then \
    mkdir -p $(SAN_REPORTS) && cp "$$logs"/* $(SAN_REPORTS)/; \
    for f in $(SAN_REPORTS)/*; do echo "===== $$f"; cat "$$f"; done; \
    echo "SANITIZER: $$(ls $(SAN_REPORTS) | wc -l) report(s), kept in $(SAN_REPORTS)/" >&2; rc=1; \
  fi; \
  rm -rf "$$logs"; exit $$rc
endif

unit-test: $(B)/unit_tests
	$(call run_tests,$(B)/unit_tests)

process-test: $(BINS) $(MODULES) $(B)/process_tests $(B)/direct-echo install-test
	$(call run_tests,$(TEST_ENV) $(B)/process_tests)

# The PHP and Python client libraries (clients/), each against real solar
# servers that its tests start from SOLAR_BIN.
CLIENT_TESTS := SOLAR_BIN=$(abspath $(B)/solar) clients/python/run_tests.sh && \
                SOLAR_BIN=$(abspath $(B)/solar) clients/php/run_tests.sh

client-test: $(BINS)
	$(call run_tests,$(CLIENT_TESTS))

# The cluster test (test/cluster/cluster_test.py, README "When one machine is
# not enough"): deploy/cluster.sh's etcd, Patroni, HAProxy and two solar hosts
# on loopback addresses, under load, with solar hosts and the PostgreSQL
# primary killed. About 2.5 minutes; skipped, saying why, when an engine is
# not installed or not run as root.
CLUSTER_TEST := BUILD_DIR=$(abspath $(B)) test/cluster/cluster_test.py

cluster-test: $(BINS)
	$(call run_tests,$(CLUSTER_TEST))

test: check-includes all install-test
	$(call run_tests,$(B)/unit_tests && $(TEST_ENV) $(B)/process_tests && $(CLIENT_TESTS) && $(CLUSTER_TEST))

# Everything the README uses next (solar-cli, solarctl, the modules), not the
# tests. No directory to prepare: the master creates state_dir and, as root,
# puts it where the worker user can reach it (/var/lib/solar), wherever this
# checkout lives.
run: $(BINS) $(MODULES)
	$(B)/solar

bench: all
	scripts/bench.sh

include mk/install.mk

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
