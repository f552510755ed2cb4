# The real build; entered from the top-level Makefile after `make deps`.

PREFIX ?= /usr/local
DESTDIR ?=
B := build
CXX ?= g++
PKGS := libevent protobuf libglog sqlite3 libpq libsystemd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS := $(shell pkg-config --libs $(PKGS))
GTEST_LIBS := $(shell pkg-config --libs gtest gmock 2>/dev/null || echo -lgtest -lgmock)

CXXFLAGS ?= -O2 -g
CXXFLAGS += -std=c++17 -Wall -Wextra -Wno-unused-parameter -pthread -MMD -MP
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

.PHONY: all test unit-test process-test run bench install check-includes
all: $(BINS) $(MODULES) $(B)/unit_tests $(B)/process_tests

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
#   g++ my_worker.cc -I$PREFIX/include/solar -Wl,--whole-archive -lsolar_main -lsolar \
#       -Wl,--no-whole-archive $(pkg-config --libs libevent protobuf libglog) -ldl -o mysolar
$(B)/libsolar_main.a: $(B)/obj/src/main.o
	rm -f $@ && ar rcs $@ $^

# --whole-archive: the built-in workers register themselves from static
# initialisers that nothing else references.
WHOLE_CORE := -Wl,--whole-archive $(B)/libsolar.a -Wl,--no-whole-archive

# -rdynamic: worker modules resolve solar::RegisterWorker and the API from the binary.
$(B)/solar: $(B)/obj/src/main.o $(B)/libsolar.a
	$(CXX) $(CXXFLAGS) -rdynamic $< $(WHOLE_CORE) $(LDLIBS) -o $@

# Worker modules: each src/apps/NAME/ also builds as build/libNAME.so, loaded
# with worker { module: "build/libNAME.so" }. A user's module is the same:
#   g++ -std=c++17 -O2 -fPIC -shared -Isrc my_worker.cc -o libmy.so
.SECONDEXPANSION:
# Every header is a prerequisite: a module compiled against an older Worker
# layout must be rebuilt (multi-file modules make per-file .d files awkward).
$(B)/lib%.so: $$(wildcard src/apps/%/*.cc) $(shell find src -name '*.h') $(PROTO_H)
	$(CXX) $(CPPFLAGS) -std=c++17 -O2 -g -fPIC -shared $(filter %.cc,$^) -o $@

$(B)/solar-bench: $(patsubst %.cc,$(B)/obj/%.o,$(BENCH_SRCS))
	$(CXX) $(CXXFLAGS) $^ $(shell pkg-config --libs libevent) -pthread -o $@

# solar-cli and solarctl link the core library for the generated protobuf code and helpers.
$(B)/solar-cli: $(patsubst %.cc,$(B)/obj/%.o,$(CLI_SRCS)) $(B)/libsolar.a
	$(CXX) $(CXXFLAGS) $(filter %.o,$^) $(B)/libsolar.a $(LDLIBS) -o $@

$(B)/solarctl: $(patsubst %.cc,$(B)/obj/%.o,$(CTL_SRCS)) $(B)/libsolar.a
	$(CXX) $(CXXFLAGS) $(filter %.o,$^) $(B)/libsolar.a $(LDLIBS) -o $@

$(B)/unit_tests: $(patsubst %.cc,$(B)/obj/%.o,$(UNIT_SRCS)) $(BENCH_LIB_OBJS) $(CLI_LIB_OBJS) $(B)/libsolar.a
	$(CXX) $(CXXFLAGS) $(filter %.o,$^) $(WHOLE_CORE) $(GTEST_LIBS) -lgtest_main $(LDLIBS) -o $@

$(B)/process_tests: $(patsubst %.cc,$(B)/obj/%.o,$(PROCESS_SRCS)) $(B)/libsolar.a
	$(CXX) $(CXXFLAGS) $(filter %.o,$^) $(WHOLE_CORE) $(GTEST_LIBS) -lgtest_main $(LDLIBS) -o $@

check-includes:
	@scripts/check_includes.sh

unit-test: $(B)/unit_tests
	$(B)/unit_tests

process-test: $(BINS) $(MODULES) $(B)/process_tests
	$(TEST_ENV) $(B)/process_tests

TEST_ENV := SOLAR_BIN=$(abspath $(B)/solar) SOLAR_BENCH=$(abspath $(B)/solar-bench) \
            SOLAR_CLI=$(abspath $(B)/solar-cli) SOLARCTL=$(abspath $(B)/solarctl)

test: check-includes all
	$(B)/unit_tests
	$(TEST_ENV) $(B)/process_tests

# builtin:kv keeps its SQLite file in var/kv/, which the workers (nobody,
# when run as root) must be able to write; var/ itself stays root's.
run: $(B)/solar
	@if [ "$$(id -u)" = 0 ]; then install -d -m 0755 var && install -d -o nobody -m 0750 var/kv; else mkdir -p var/kv; fi
	@if [ "$$(id -u)" = 0 ] && ! runuser -u nobody -- test -w var/kv 2>/dev/null; then \
	  echo "make run: user nobody cannot write $(CURDIR)/var/kv (a parent directory is not searchable" \
	       "by others), so the KV workers cannot open their database. Run from a directory others" \
	       "can enter, or give kv { sqlite_path } a place nobody can write."; exit 1; fi
	$(B)/solar

bench: all
	scripts/bench.sh

# Headers keep their api/ prefix: a user compiles with -I$(PREFIX)/include/solar
# and includes "api/worker.h", exactly as the built-in workers do.
install: $(BINS) $(B)/libsolar.a $(B)/libsolar_main.a
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include/solar/api $(DESTDIR)$(PREFIX)/etc/solar \
	  $(DESTDIR)$(PREFIX)/lib
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 src/api/*.h $(DESTDIR)$(PREFIX)/include/solar/api/
	install -m 0644 $(B)/libsolar.a $(B)/libsolar_main.a $(DESTDIR)$(PREFIX)/lib/
	install -m 0644 etc/solar.conf $(DESTDIR)$(PREFIX)/etc/solar/

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
