# make install, included by mk/build.mk (it uses $(B), $(BINS), $(MODULES)).
#
#   PREFIX/bin/                  solar solarctl solar-cli solar-bench
#   PREFIX/include/solar/api/    the worker API: -I$PREFIX/include/solar, #include "api/worker.h"
#   PREFIX/lib/                  libsolar.a libsolar_main.a (a server binary of your own)
#   PREFIX/lib/pkgconfig/        solar.pc (a module: headers only), solar-server.pc (a server)
#   PREFIX/lib/solar/modules/    the built-in workers as modules: libecho.so libkv.so ...
#   PREFIX/lib/systemd/system/   solar.service (etc/solar.service, /usr/local -> PREFIX)
#   PREFIX/etc/solar/            solar.conf.default, always; solar.conf only if there is none
#   PREFIX/share/solar/proto/    config.proto kv.proto kv_config.proto (protoc for your clients)
#   PREFIX/share/man/man1|man8/  solar-cli.1 solar-bench.1 | solar.8 solarctl.8 (man/)
#   PREFIX/share/doc/solar/      README.md, docs/*.md (as in the tree, so its links hold)
#
# The installed config is etc/solar.conf, the embedded defaults, with the two
# paths solar.service expects: pid_file in RuntimeDirectory=solar, state_dir
# in StateDirectory=solar (the master, root, gives it to `user` itself).
# Runtime and state stay in /run and /var/lib whatever the PREFIX.
#
# `make test` installs into $(B)/install-test, which test/process/install_test.cc
# checks (SOLAR_INSTALL_PREFIX): out-of-tree builds, the unit against the config.

SOLAR_VERSION := $(shell sed -n 's/.*kVersion\[\] = "\([^"]*\)".*/\1/p' src/base/version.h 2>/dev/null)
SOLAR_VERSION := $(or $(SOLAR_VERSION),0)
INSTALLED_PID_FILE := /run/solar/solar.pid
INSTALLED_STATE_DIR := /var/lib/solar
MAN_PAGES := $(wildcard man/*.1 man/*.8)
INSTALL_TEST_PREFIX := $(abspath $(B)/install-test)
INSTALL_INPUTS := $(BINS) $(MODULES) $(B)/libsolar.a $(B)/libsolar_main.a etc/solar.conf etc/solar.service \
                  etc/solar.pc.in etc/solar-server.pc.in $(MAN_PAGES) $(PROTOS) README.md $(wildcard docs/*.md)

# $(call install_tree,ROOT,PREFIX): install into ROOT (DESTDIR + PREFIX), with
# PREFIX written into the files that name paths (.pc, unit, man pages).
define install_tree
	install -d $(1)/bin $(1)/include/solar/api $(1)/lib/pkgconfig $(1)/lib/solar/modules \
	  $(1)/lib/systemd/system $(1)/etc/solar $(1)/share/solar/proto $(1)/share/man/man1 \
	  $(1)/share/man/man8 $(1)/share/doc/solar/docs
	install -m 0755 $(BINS) $(1)/bin/
	install -m 0644 src/api/*.h $(1)/include/solar/api/
	install -m 0644 $(B)/libsolar.a $(B)/libsolar_main.a $(1)/lib/
	install -m 0644 $(MODULES) $(1)/lib/solar/modules/
	install -m 0644 $(PROTOS) $(1)/share/solar/proto/
	install -m 0644 README.md $(1)/share/doc/solar/
	install -m 0644 docs/*.md $(1)/share/doc/solar/docs/
	for f in etc/solar.pc.in etc/solar-server.pc.in; do \
	  out=$(1)/lib/pkgconfig/$$(basename $$f .in); \
	  sed -e 's|@PREFIX@|$(2)|g' -e 's|@VERSION@|$(SOLAR_VERSION)|g' $$f > $$out && chmod 0644 $$out || exit 1; \
	done
	sed '/^#/!s|/usr/local|$(2)|g' etc/solar.service > $(1)/lib/systemd/system/solar.service
	chmod 0644 $(1)/lib/systemd/system/solar.service
	for page in $(MAN_PAGES); do \
	  out=$(1)/share/man/man$${page##*.}/$$(basename $$page); \
	  sed -e '/^\.\\"/!s|/usr/local|$(2)|g' -e '/^\.TH/s|"solar [0-9][^"]*"|"solar $(SOLAR_VERSION)"|' $$page > $$out && \
	    chmod 0644 $$out || exit 1; \
	done
	sed -e 's|^# These are the embedded defaults.*|# make install: the embedded defaults (etc/solar.conf) with the paths solar.service expects.|' \
	    -e 's|^pid_file: .*|pid_file: "$(INSTALLED_PID_FILE)"|' \
	    -e 's|^state_dir: .*|state_dir: "$(INSTALLED_STATE_DIR)"|' \
	    -e 's|"build/lib\([a-z_]*\)\.so"|"$(2)/lib/solar/modules/lib\1.so"|g' \
	    etc/solar.conf > $(1)/etc/solar/solar.conf.default
	chmod 0644 $(1)/etc/solar/solar.conf.default
	grep -q '^pid_file: "$(INSTALLED_PID_FILE)"' $(1)/etc/solar/solar.conf.default && \
	  grep -q '^state_dir: "$(INSTALLED_STATE_DIR)"' $(1)/etc/solar/solar.conf.default || \
	  { echo "install: etc/solar.conf has no pid_file/state_dir line to set" >&2; exit 1; }
	@if [ -e $(1)/etc/solar/solar.conf ]; then \
	  echo "install: keeping $(1)/etc/solar/solar.conf; the new defaults are solar.conf.default"; \
	else install -m 0644 $(1)/etc/solar/solar.conf.default $(1)/etc/solar/solar.conf; fi
endef

.PHONY: install install-test
install: $(INSTALL_INPUTS)
	$(call install_tree,$(DESTDIR)$(PREFIX),$(PREFIX))

# A fresh tree each time, so a stale solar.conf is never kept.
install-test: $(INSTALL_INPUTS)
	rm -rf $(INSTALL_TEST_PREFIX)
	$(call install_tree,$(INSTALL_TEST_PREFIX),$(INSTALL_TEST_PREFIX))
