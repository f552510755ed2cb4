# The libFuzzer targets (test/fuzz/NAME_fuzz.cc), built by clang in build-fuzz/.
# Entered from the top-level Makefile after `make deps`:
#
#   make fuzz                    every target for FUZZ_SECONDS (default 60) each
#   make fuzz-ci                 every target for FUZZ_SECONDS=10 each (CI)
#   make fuzz FUZZ_SECONDS=600 FUZZ_TARGETS="config_fuzz kv_request_fuzz"
#   make -f mk/fuzz.mk fuzz-build     the binaries only
#
# libFuzzer needs clang, and coverage instrumentation in the code under test,
# so the library sources are compiled a second time here (g++'s objects in
# build/ cannot be linked with it). Each target starts from its seeds in
# test/fuzz/corpus/NAME/ (read only) and keeps what it finds in
# build-fuzz/corpus/NAME/, so a later run goes on from there. A crash, leak,
# timeout or sanitizer report fails the run after every target has had its
# turn; the input is in build-fuzz/artifacts/NAME/ and the report in
# build-fuzz/logs/NAME.log. Replay one with: build-fuzz/NAME FILE.

B := build-fuzz
FUZZ_CXX ?= clang++
# fuzz-ci's default is 10 s; FUZZ_SECONDS=N on the command line overrides either.
FUZZ_SECONDS ?= $(if $(filter fuzz-ci,$(MAKECMDGOALS)),10,60)
PKGS := libevent protobuf libglog sqlite3 libpq libsystemd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS := $(shell pkg-config --libs $(PKGS))

# -fno-sanitize-recover=all: a UBSan finding aborts, so libFuzzer stops on it
# and keeps the input, as it does for ASan's.
SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CPPFLAGS := -Isrc -Itest/fuzz -I$(B)/gen $(PKG_CFLAGS)
FUZZ_CXXFLAGS := -std=c++17 -O1 -g -pthread -Wall -Wextra -Wno-unused-parameter -MMD -MP $(SAN) \
                 -fsanitize=fuzzer-no-link
FUZZ_LDFLAGS := -pthread $(SAN) -fsanitize=fuzzer

PROTOS := $(wildcard proto/*.proto)
PROTO_CC := $(patsubst proto/%.proto,$(B)/gen/%.pb.cc,$(PROTOS))
PROTO_H := $(PROTO_CC:.cc=.h)

CORE_SRCS := $(filter-out src/main.cc,$(shell find src -name '*.cc' | sort))
CORE_OBJS := $(patsubst %.cc,$(B)/obj/%.o,$(CORE_SRCS)) \
             $(patsubst $(B)/gen/%.cc,$(B)/obj/gen/%.o,$(PROTO_CC)) \
             $(B)/obj/gen/default_config.o

FUZZ_SRCS := $(sort $(wildcard test/fuzz/*_fuzz.cc))
FUZZ_ALL := $(patsubst test/fuzz/%.cc,%,$(FUZZ_SRCS))
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_BINS := $(addprefix $(B)/,$(FUZZ_TARGETS))

.PHONY: fuzz fuzz-ci fuzz-build
fuzz-build: $(FUZZ_BINS)

# Generated sources and the targets' objects are not intermediates to delete.
.SECONDARY: $(PROTO_CC) $(PROTO_H) $(patsubst %.cc,$(B)/obj/%.o,$(FUZZ_SRCS))

$(B)/gen/%.pb.cc $(B)/gen/%.pb.h: proto/%.proto
	@mkdir -p $(B)/gen
	protoc --proto_path=proto --cpp_out=$(B)/gen $<

# As in mk/build.mk: the embedded defaults are etc/solar.conf itself.
$(B)/gen/default_config.cc: etc/solar.conf
	@mkdir -p $(B)/gen
	{ echo 'namespace solar { extern const char kDefaultConfigText[]; const char kDefaultConfigText[] = R"solarconf('; \
	  cat $<; echo ')solarconf"; }'; } > $@

$(B)/obj/gen/%.o: $(B)/gen/%.cc
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_CPPFLAGS) $(FUZZ_CXXFLAGS) -w -c $< -o $@

$(B)/obj/%.o: %.cc | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_CPPFLAGS) $(FUZZ_CXXFLAGS) -c $< -o $@

$(B)/libsolar.a: $(CORE_OBJS)
	rm -f $@ && ar rcs $@ $^

# Not --whole-archive: a target pulls in only the objects it uses, so the
# built-in workers' static registrations stay out.
$(B)/%_fuzz: $(B)/obj/test/fuzz/%_fuzz.o $(B)/libsolar.a
	$(FUZZ_CXX) $(FUZZ_LDFLAGS) $< $(B)/libsolar.a $(PKG_LIBS) -ldl -o $@

# One target at a time, each for $(FUZZ_SECONDS): they would only share the
# same cores if run together. Per target: executions, coverage and corpus.
# -timeout: an input that takes over 10 s (a loop that never ends) is a finding.
FUZZ_RUN = @failed=""; mkdir -p $(B)/logs; \
  for t in $(FUZZ_TARGETS); do \
    mkdir -p $(B)/corpus/$$t $(B)/artifacts/$$t; \
    seeds=""; [ -d test/fuzz/corpus/$$t ] && seeds=test/fuzz/corpus/$$t; \
    dict=""; [ -f test/fuzz/$$t.dict ] && dict=-dict=test/fuzz/$$t.dict; \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      $(B)/$$t -max_total_time=$(1) -timeout=10 -print_final_stats=1 \
      -artifact_prefix=$(B)/artifacts/$$t/ $$dict $(B)/corpus/$$t $$seeds >$(B)/logs/$$t.log 2>&1; \
    rc=$$?; \
    execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $(B)/logs/$$t.log | tail -1); \
    cov=$$(grep -o 'cov: [0-9]*' $(B)/logs/$$t.log | tail -1); \
    printf '%-22s %3ss  %10s execs  %-10s corpus %s\n' $$t $(1) "$${execs:-?}" "$${cov:-cov: ?}" \
      "$$(ls $(B)/corpus/$$t | wc -l)"; \
    if [ $$rc != 0 ]; then \
      failed="$$failed $$t"; \
      echo "== $$t FAILED (exit $$rc); log $(B)/logs/$$t.log, input in $(B)/artifacts/$$t/:"; \
      grep -A40 -m1 -E '^==[0-9]+==ERROR|runtime error|^==[0-9]+== ERROR|ALARM|deadly signal' $(B)/logs/$$t.log; \
    fi; \
  done; \
  if [ -n "$$failed" ]; then echo "fuzz: findings in:$$failed" >&2; exit 1; fi

fuzz fuzz-ci: $(FUZZ_BINS)
	$(call FUZZ_RUN,$(FUZZ_SECONDS))

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
