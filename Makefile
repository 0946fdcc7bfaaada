# gatehouse - build, run and test.
#
#   make run        install missing packages, build, start the daemon (defaults)
#   make test       install missing packages, build, run every test suite
#   make            just build build/gatehouse
#
# Other targets: unit, integration, integration-pg (the suite on a throwaway
# PostgreSQL, via tests/pg.sh), conformance, asan, valgrind, fuzz, fuzz-regress,
# check-sample, check-man, openapi-lint, browser, screenshots, bench, install (INSTALL_STRIP=1 strips),
# uninstall, clean; config/gatehouse.conf and docs/gatehouse.8 regenerate the files
# made from the settings table. TEST_JOBS=N: test classes run at once.

VERSION := 0.1.0
BUILD   := build

PREFIX     ?= /usr/local
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
BINDIR     := $(PREFIX)/bin
UNITDIR    := $(PREFIX)/lib/systemd/system
MANDIR     := $(PREFIX)/share/man/man8
# Where the unit's StateDirectory= puts the database.
STATEDIR   ?= /var/lib/gatehouse
PYTHON  := /usr/bin/python3

PKGS    := libmicrohttpd jansson sqlite3 libcrypto libsystemd libcurl libpq
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wvla
CFLAGS  ?= -O2 -g
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE -D_FORTIFY_SOURCE=2 -pthread -Iinclude \
              -DGATEHOUSE_VERSION='"$(VERSION)"' \
              -DGATEHOUSE_DEFAULT_CONFIG='"$(SYSCONFDIR)/gatehouse/gatehouse.conf"' \
              $(WARN) $(PKG_CFLAGS) -MMD -MP
LDLIBS  = $(PKG_LIBS) -pthread

SAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
             -fno-sanitize-recover=undefined

SRCS    := $(wildcard src/*.c src/base/*.c src/cmd/*.c src/config/*.c src/http/*.c src/store/*.c src/handlers/*.c src/platform/*.c)
LIBSRCS := $(filter-out src/main.c src/cmd/%,$(SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)

# docs/openapi.json is compiled in (GET /openapi.json serves exactly the file), and so
# is every file under console/ (the web console of the admin listener).
GEN      := $(BUILD)/gen/openapi_json.c
CONSOLE  := $(shell find console -type f ! -name '.*' 2>/dev/null)
CGEN     := $(BUILD)/gen/console_files.c
OBJS     := $(SRCS:src/%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/openapi_json.o $(BUILD)/obj/console_files.o
LIBOBJS  := $(LIBSRCS:src/%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/openapi_json.o $(BUILD)/obj/console_files.o
SOBJS    := $(SRCS:src/%.c=$(BUILD)/asan/obj/%.o) $(BUILD)/asan/obj/openapi_json.o \
            $(BUILD)/asan/obj/console_files.o
SLIBOBJS := $(LIBSRCS:src/%.c=$(BUILD)/asan/obj/%.o) $(BUILD)/asan/obj/openapi_json.o \
            $(BUILD)/asan/obj/console_files.o
UNITS    := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
SUNITS   := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/asan/tests/%)

.PHONY: all deps test-deps run test unit integration integration-pg conformance asan valgrind \
        check-sample check-layout check-man openapi-lint browser screenshots clean install uninstall

all: $(BUILD)/gatehouse

deps:
	@scripts/deps.sh

test-deps:
	@scripts/deps.sh test

# make run also serves the admin API and console on RUN_ADMIN (loopback only),
# with an owner-only token file made once under ./var/ (its path is printed,
# never the token).
RUN_ADMIN  ?= 127.0.0.1:8081
RUN_TOKENS := var/admin-tokens

run: deps
	@$(MAKE) --no-print-directory all
	@mkdir -p var && chmod 0700 var
	@test -s $(RUN_TOKENS) || { (umask 077; printf 'admin:%s\n' \
	  "$$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" > $(RUN_TOKENS)) && \
	  echo "made an admin token file: $(RUN_TOKENS) (mode 0600)"; }
	@chmod 0600 $(RUN_TOKENS)
	@echo "admin console: http://$(RUN_ADMIN)/console (sign in with the text after 'admin:' in $(RUN_TOKENS))"
	exec ./$(BUILD)/gatehouse serve --set admin_listen_address=$(RUN_ADMIN) \
	  --set admin_token_file=$(CURDIR)/$(RUN_TOKENS)

# ---- the daemon ----

$(GEN): docs/openapi.json scripts/embed.sh
	@mkdir -p $(dir $@)
	scripts/embed.sh docs/openapi.json openapi_json > $@

$(BUILD)/obj/openapi_json.o: $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/asan/obj/openapi_json.o: $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_FLAGS) -c -o $@ $<

# The directory too: a file added or removed changes it.
$(CGEN): $(CONSOLE) console scripts/embed-dir.sh
	@mkdir -p $(dir $@)
	scripts/embed-dir.sh console > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/console_files.o: $(CGEN) include/gatehouse/console.h
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/asan/obj/console_files.o: $(CGEN) include/gatehouse/console.h
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(SAN_FLAGS) -c -o $@ $<

# Before the first compile: the libraries' development packages, or what to run.
$(BUILD)/.deps-ok:
	@mkdir -p $(dir $@)
	@pkg-config --exists $(PKGS) 2>/dev/null || { \
	  echo "missing build dependencies (pkg-config: $(PKGS)):"; \
	  echo "run 'make deps' (scripts/deps.sh, as root or with sudo), then make again"; \
	  exit 1; }
	@touch $@

$(BUILD)/obj/%.o: src/%.c | $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/gatehouse: $(OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libgatehouse.a: $(LIBOBJS)
	$(AR) rcs $@ $^

# ---- sanitizer build (AddressSanitizer + UBSan) ----

$(BUILD)/asan/obj/%.o: src/%.c | $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(SAN_FLAGS) -c -o $@ $<

$(BUILD)/asan/gatehouse: $(SOBJS)
	$(CC) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/asan/libgatehouse.a: $(SLIBOBJS)
	$(AR) rcs $@ $^

# ---- unit tests ----

$(BUILD)/tests/%: tests/unit/%.c tests/unit/harness.h tests/unit/fixtures.h $(BUILD)/libgatehouse.a
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libgatehouse.a $(LDLIBS) \
	  $(UNIT_LDFLAGS)

$(BUILD)/asan/tests/%: tests/unit/%.c tests/unit/harness.h tests/unit/fixtures.h $(BUILD)/asan/libgatehouse.a
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(SAN_FLAGS) -Itests/unit -o $@ $< $(BUILD)/asan/libgatehouse.a $(LDLIBS) \
	  $(UNIT_LDFLAGS)

# The checkpoint test makes a thread fail to start (__wrap_pthread_create).
$(BUILD)/tests/test_store_ckpt $(BUILD)/asan/tests/test_store_ckpt: \
  UNIT_LDFLAGS = -Wl,--wrap=pthread_create

unit: $(UNITS)
	@tests/run-unit.sh $(UNITS)

# ---- the fake platform providers the integration tests talk to ----

$(BUILD)/tests/fakeprovider: tests/fakeprovider/fakeprovider.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< $(LDLIBS)

# ---- the whole suite ----

# Integration-test modules run this many at a time (each starts its own
# daemons on free ports); most of a module's time is spent waiting.
TEST_JOBS ?= 4
# On PostgreSQL a module waits on the database's round trips and fsyncs too:
# more of them at once keep the two cores busy.
PG_TEST_JOBS ?= 6

NPROC := $(shell nproc 2>/dev/null || echo 2)

# make test fuzzes each target this long (the corpus and every past crash are
# replayed in full by fuzz-regress first); make fuzz alone takes FUZZ_SECONDS (60).
TEST_FUZZ_SECONDS ?= 10

test: test-deps
	@$(MAKE) --no-print-directory -j$(NPROC) all $(UNITS) $(BUILD)/asan/gatehouse $(SUNITS) \
	  $(BUILD)/tests/fakeprovider fuzz-build examples
	@$(MAKE) --no-print-directory check-sample check-layout check-man openapi-lint unit \
	  fuzz-regress integration integration-pg conformance browser asan valgrind
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS)
	@echo "all test suites passed"

check-sample: $(BUILD)/gatehouse
	@./$(BUILD)/gatehouse check-config --sample | diff -u config/gatehouse.conf - \
	  || { echo "config/gatehouse.conf is out of date: make config/gatehouse.conf"; exit 1; }
	@echo "config/gatehouse.conf matches the settings table"

# The tree's shape: no include cycle between modules, SQL only in the store's
# back end, no crypto in handlers, no .c file over 900 lines.
check-layout:
	@$(PYTHON) scripts/check-layout.py

config/gatehouse.conf: $(BUILD)/gatehouse
	./$(BUILD)/gatehouse check-config --sample > $@

# The man page: docs/gatehouse.8.in with the SETTINGS and ENVIRONMENT sections
# generated from the settings table in place of its @SETTINGS@ line.
MAN_GEN = $(BUILD)/gatehouse check-config --man | sed -e '/^\.\\" @SETTINGS@$$/{r /dev/stdin' -e 'd' -e '}' docs/gatehouse.8.in

check-man: $(BUILD)/gatehouse
	@$(MAN_GEN) | diff -u docs/gatehouse.8 - \
	  || { echo "docs/gatehouse.8 is out of date: make docs/gatehouse.8"; exit 1; }
	@echo "docs/gatehouse.8 matches the settings table"

docs/gatehouse.8: docs/gatehouse.8.in $(BUILD)/gatehouse
	$(MAN_GEN) > $@.tmp && mv $@.tmp $@

# ---- the OpenAPI document, linted by Redocly's CLI (from npm, into the build tree) ----

REDOCLY_VERSION := 2.77.0
REDOCLY := $(BUILD)/npm/node_modules/.bin/redocly

$(REDOCLY):
	@command -v npm >/dev/null 2>&1 || { echo "npm is missing: run scripts/deps.sh test"; exit 1; }
	npm install --prefix $(BUILD)/npm --no-audit --no-fund --save-exact \
	  @redocly/cli@$(REDOCLY_VERSION)

# No errors and no warnings (docs/redocly.yaml makes every warning an error).
openapi-lint: $(REDOCLY)
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
	  $(REDOCLY) lint --config docs/redocly.yaml docs/openapi.json

# ---- the web console in a real browser (Debian's chromium, playwright-core from npm) ----

PLAYWRIGHT_VERSION := 1.65.2
PLAYWRIGHT := $(BUILD)/npm/node_modules/playwright-core

$(PLAYWRIGHT)/package.json:
	@command -v npm >/dev/null 2>&1 || { echo "npm is missing: run scripts/deps.sh test"; exit 1; }
	npm install --prefix $(BUILD)/npm --no-audit --no-fund --save-exact \
	  playwright-core@$(PLAYWRIGHT_VERSION)

browser: $(BUILD)/gatehouse $(PLAYWRIGHT)/package.json
	@test -x /usr/bin/chromium || { echo "chromium is missing: run scripts/deps.sh test"; exit 1; }
	GH_TEST_BIN=$(CURDIR)/$(BUILD)/gatehouse GH_TEST_PLAYWRIGHT=$(CURDIR)/$(PLAYWRIGHT) \
	  $(PYTHON) tests/pyrun.py tests/browser

# docs/console-*.png, the README's pictures: the browser test with a few made-up players.
screenshots: $(BUILD)/gatehouse $(PLAYWRIGHT)/package.json
	GH_TEST_BIN=$(CURDIR)/$(BUILD)/gatehouse GH_TEST_PLAYWRIGHT=$(CURDIR)/$(PLAYWRIGHT) \
	  GH_TEST_SCREENSHOTS=$(CURDIR)/docs $(PYTHON) tests/pyrun.py tests/browser

integration: $(BUILD)/gatehouse $(BUILD)/tests/fakeprovider examples
	GH_TEST_BIN=$(CURDIR)/$(BUILD)/gatehouse $(PYTHON) tests/pyrun.py -j $(TEST_JOBS) \
	  tests/integration

# The same suite once on PostgreSQL (plain binary): tests/pg.sh starts a throwaway
# cluster and exports its URL; each daemon under test gets a database of its own.
# Without a PostgreSQL server here it runs nothing and says so; GH_TEST_REQUIRE_PG=1
# (CI) makes that an error. Then the store contract tests on PostgreSQL.
integration-pg: $(BUILD)/gatehouse $(BUILD)/tests/fakeprovider examples client-tests \
                $(BUILD)/tests/test_store_contract
	@if tests/pg.sh check; then \
	  tests/pg.sh run sh -c '$(BUILD)/tests/test_store_contract && \
	    GH_TEST_BIN=$(CURDIR)/$(BUILD)/gatehouse $(PYTHON) tests/pyrun.py -j $(PG_TEST_JOBS) \
	    tests/integration'; \
	elif [ "$${GH_TEST_REQUIRE_PG:-0}" = 1 ]; then exit 1; \
	else echo "integration-pg: skipped (no PostgreSQL server here)"; fi

conformance: $(BUILD)/gatehouse
	GH_TEST_BIN=$(CURDIR)/$(BUILD)/gatehouse $(PYTHON) tests/pyrun.py tests/conformance

# Unit and integration tests against the sanitizer build.
asan: $(BUILD)/asan/gatehouse $(SUNITS) $(BUILD)/tests/fakeprovider examples
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  tests/run-unit.sh $(SUNITS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  GH_TEST_BIN=$(CURDIR)/$(BUILD)/asan/gatehouse GH_TEST_SANITIZER=1 \
	  $(PYTHON) tests/pyrun.py -j $(TEST_JOBS) tests/integration

# The integration suite with the daemon under valgrind (errors and leaks fail it).
valgrind: $(BUILD)/gatehouse $(BUILD)/tests/fakeprovider examples
	GH_TEST_BIN=$(CURDIR)/$(BUILD)/gatehouse GH_TEST_VALGRIND=1 \
	  $(PYTHON) tests/pyrun.py -j $(TEST_JOBS) tests/integration

# ---- install (PREFIX, SYSCONFDIR, DESTDIR; never outside DESTDIR, no systemctl) ----

# INSTALL_STRIP=1 strips the binary (install -s); by default it keeps its symbols.
INSTALL_STRIP ?=
DOCDIR := $(PREFIX)/share/doc/gatehouse
DOCS   := README.md LICENSE CHANGELOG.md docs/openapi.json

install: $(BUILD)/gatehouse
	install -D -m 0755 $(if $(filter 1 yes,$(INSTALL_STRIP)),-s) $(BUILD)/gatehouse \
	  $(DESTDIR)$(BINDIR)/gatehouse
	install -d $(DESTDIR)$(UNITDIR)
	sed -e 's|/usr/local/bin/gatehouse|$(BINDIR)/gatehouse|' \
	    -e 's|/usr/local/etc/gatehouse/|$(SYSCONFDIR)/gatehouse/|' \
	    config/gatehouse.service > $(DESTDIR)$(UNITDIR)/gatehouse.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/gatehouse.service
	install -d $(DESTDIR)$(SYSCONFDIR)/gatehouse
	@conf=$(DESTDIR)$(SYSCONFDIR)/gatehouse/gatehouse.conf; \
	if [ -e "$$conf" ]; then echo "kept the existing $$conf"; else \
	  sed -e 's|^#database_path .*|database_path $(STATEDIR)/gatehouse.db|' \
	      config/gatehouse.conf > "$$conf" && chmod 0644 "$$conf"; fi
	@kek=$(DESTDIR)$(SYSCONFDIR)/gatehouse/key_encryption_key; \
	if [ -e "$$kek" ]; then echo "kept the existing $$kek"; else \
	  (umask 077; head -c 32 /dev/urandom > "$$kek") && \
	  echo "created $$kek (the unit's key_encryption_key_file: keep a copy apart from backups)"; fi
	install -D -m 0644 docs/gatehouse.8 $(DESTDIR)$(MANDIR)/gatehouse.8
	install -d $(DESTDIR)$(DOCDIR) $(DESTDIR)$(DOCDIR)/docs
	install -m 0644 $(DOCS) $(DESTDIR)$(DOCDIR)/
	install -m 0644 docs/API.md docs/DESIGN.md $(DESTDIR)$(DOCDIR)/docs/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/gatehouse $(DESTDIR)$(UNITDIR)/gatehouse.service \
	      $(DESTDIR)$(MANDIR)/gatehouse.8
	rm -rf $(DESTDIR)$(DOCDIR)
	@echo "kept $(DESTDIR)$(SYSCONFDIR)/gatehouse/gatehouse.conf"

clean:
	rm -rf $(BUILD)

-include $(OBJS:.o=.d) $(SOBJS:.o=.d)

include tests/fuzz/fuzz.mk
include bench/bench.mk
include examples/examples.mk
include src/client/client.mk
