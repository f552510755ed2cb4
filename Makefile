# solar — build, test, run, bench.
#
#   make deps    install the Debian packages that are missing (runs apt-get update first)
#   make         build everything under build/
#   make test    unit tests, then the process tests against the real binary
#   make run     start the server on its embedded defaults (etc/solar.conf)
#   make bench   the load scenarios (see README)
#   make install PREFIX=/usr/local DESTDIR=
#
# Every user-facing target runs `deps` first and then re-enters make, so that
# pkg-config is asked only after the packages are there.

DEB_PACKAGES := g++ make pkg-config libevent-dev libprotobuf-dev protobuf-compiler \
                libgoogle-glog-dev libgtest-dev libgmock-dev procps libsystemd-dev \
                libsqlite3-dev libpq-dev postgresql
BUILD_MK := $(MAKE) --no-print-directory -j$(shell nproc 2>/dev/null || echo 2) -f mk/build.mk

.PHONY: all deps test unit-test process-test run bench install clean check-includes

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
	fi

test: deps
	@$(BUILD_MK) test

unit-test: deps
	@$(BUILD_MK) unit-test

process-test: deps
	@$(BUILD_MK) process-test

run: deps
	@$(BUILD_MK) run

bench: deps
	@$(BUILD_MK) bench

install: deps
	@$(BUILD_MK) install PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)"

check-includes:
	@$(BUILD_MK) check-includes

clean:
	rm -rf build
