# solar — build, test, run, bench.
#
#   make deps    install the Debian packages that are missing (runs apt-get update first)
#   make         build everything under build/
#   make test    unit tests, the process tests against the real binary, the
#                PHP and Python clients' tests (make client-test alone), then the
#                cluster test (make cluster-test alone; deploy/)
#   make test SANITIZE=address,undefined   the same with ASan+UBSan, built in build-san/
#   make run     start the server on its embedded defaults (etc/solar.conf)
#   make bench   the load scenarios (see README)
#   make install PREFIX=/usr/local DESTDIR=
#
# Every user-facing target runs `deps` first and then re-enters make, so that
# pkg-config is asked only after the packages are there. Variables given on the
# command line (SANITIZE=...) reach mk/build.mk through MAKEFLAGS.

DEB_PACKAGES := g++ make pkg-config libevent-dev libprotobuf-dev protobuf-compiler \
                libgoogle-glog-dev libgtest-dev libgmock-dev procps libsystemd-dev \
                libsqlite3-dev libpq-dev postgresql clang libclang-rt-14-dev llvm \
                python3 python3-protobuf php-cli php-google-protobuf
# The cluster test's engines (deploy/, README "When one machine is not
# enough"). Installed when missing too, but a failure here only skips that
# test: solar itself needs none of them.
CLUSTER_PACKAGES := etcd-server etcd-client patroni haproxy curl
BUILD_MK := $(MAKE) --no-print-directory -j$(shell nproc 2>/dev/null || echo 2) -f mk/build.mk

.PHONY: all deps test unit-test process-test client-test cluster-test run bench install clean check-includes chaos fuzz fuzz-ci

all: deps
	@$(BUILD_MK) all

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi; \
	missing=""; for p in $(CLUSTER_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing (for the cluster test)"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  { $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; } || \
	    echo "make deps: could not install$$missing: the cluster test will be skipped" >&2; \
	fi

test: deps
	@$(BUILD_MK) test

unit-test: deps
	@$(BUILD_MK) unit-test

process-test: deps
	@$(BUILD_MK) process-test

client-test: deps
	@$(BUILD_MK) client-test

cluster-test: deps
	@$(BUILD_MK) cluster-test

run: deps
	@$(BUILD_MK) run

bench: deps
	@$(BUILD_MK) bench

# The bounded chaos and soak run (mk/chaos.mk, README "Chaos and soak"); not part of `make test`.
chaos: deps
	@$(MAKE) --no-print-directory -j$(shell nproc 2>/dev/null || echo 2) -f mk/chaos.mk chaos

# libFuzzer targets (mk/fuzz.mk, test/fuzz/), built by clang in build-fuzz/: each runs
# FUZZ_SECONDS (fuzz: 60, fuzz-ci: 10); FUZZ_TARGETS="config_fuzz ..." picks some.
fuzz: deps
	@$(MAKE) --no-print-directory -j$(shell nproc 2>/dev/null || echo 2) -f mk/fuzz.mk fuzz

fuzz-ci: deps
	@$(MAKE) --no-print-directory -j$(shell nproc 2>/dev/null || echo 2) -f mk/fuzz.mk fuzz-ci

install: deps
	@$(BUILD_MK) install PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)"

check-includes:
	@$(BUILD_MK) check-includes

clean:
	rm -rf build build-san build-fuzz build-chaos
