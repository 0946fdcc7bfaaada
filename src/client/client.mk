# The C client library for custom engines (include/gatehouse/client.h), its
# example and its tests. Included by the Makefile; src/client/ is outside the
# daemon's SRCS, and the library includes no daemon header.
#
#   make                     also builds build/libgatehouse-client.{a,so.1,so},
#                            build/gatehouse-client.pc, build/examples/client/game-loop
#   make client-unit         unit tests (no server)
#   make client-integration  tests/integration/test_client.py against the daemon
#   make client-asan         both against ASan/UBSan builds of library and programs
#   make client-valgrind     the integration tests with the client programs under valgrind
#   make install-client      libraries, header and .pc (PREFIX, DESTDIR)

CLIENT_VERSION := 0.1.0
CLIENT_SOMAJOR := 1
CLIENT_PKGS    := libcurl jansson
CLIENT_SRCS    := $(wildcard src/client/*.c)
CLIENT_HDRS    := include/gatehouse/client.h src/client/internal.h src/client/core.h
CLIENT_PKG_CFLAGS = $(shell pkg-config --cflags $(CLIENT_PKGS) 2>/dev/null)
CLIENT_PKG_LIBS   = $(shell pkg-config --libs $(CLIENT_PKGS) 2>/dev/null) -pthread
CLIENT_CFLAGS = -std=c11 -D_GNU_SOURCE -D_FORTIFY_SOURCE=2 -pthread -Iinclude $(WARN) \
                $(CLIENT_PKG_CFLAGS)
CLIENT_LIB_CFLAGS = $(CLIENT_CFLAGS) -fPIC -fvisibility=hidden -MMD -MP

CLIENT_OBJS  := $(CLIENT_SRCS:src/client/%.c=$(BUILD)/client/obj/%.o)
# The sanitizer objects and library have names of their own: make install with
# BUILD=build/asan (the ASan suite's install test) builds plain ones there.
CLIENT_SOBJS := $(CLIENT_SRCS:src/client/%.c=$(BUILD)/asan/client-san/obj/%.o)
CLIENT_SA    := $(BUILD)/asan/libgatehouse-client-san.a
CLIENT_A     := $(BUILD)/libgatehouse-client.a
CLIENT_SO    := $(BUILD)/libgatehouse-client.so.$(CLIENT_SOMAJOR)
CLIENT_PC    := $(BUILD)/gatehouse-client.pc
CLIENT_PC_UN := $(BUILD)/gatehouse-client-uninstalled.pc
CLIENT_EXAMPLE := $(BUILD)/examples/client/game-loop
CLIENT_TESTS   := $(BUILD)/tests/client/test_client_unit $(BUILD)/tests/client/gh-client-driver
CLIENT_STESTS  := $(BUILD)/asan/tests/client/test_client_unit \
                  $(BUILD)/asan/tests/client/gh-client-driver
CLIENT_TEST_SRC := tests/client/test_client_unit.c tests/unit/harness.h

.PHONY: client client-tests client-unit client-integration client-asan client-asan-build \
        client-asan-unit \
        client-valgrind install-client uninstall-client

client: $(CLIENT_A) $(CLIENT_SO) $(BUILD)/libgatehouse-client.so $(CLIENT_PC) $(CLIENT_EXAMPLE)
all: client

$(BUILD)/client/obj/%.o: src/client/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_LIB_CFLAGS) $(CFLAGS) -c -o $@ $<

$(CLIENT_A): $(CLIENT_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(CLIENT_SO): $(CLIENT_OBJS)
	$(CC) $(CFLAGS) -shared -Wl,-soname,libgatehouse-client.so.$(CLIENT_SOMAJOR) \
	  -Wl,--no-undefined -o $@ $^ $(CLIENT_PKG_LIBS)

$(BUILD)/libgatehouse-client.so: $(CLIENT_SO)
	ln -sf libgatehouse-client.so.$(CLIENT_SOMAJOR) $@

# PC_PREFIX: the prefix written into the .pc (install rewrites it for PREFIX).
define CLIENT_PC_TEXT
prefix=@PREFIX@
exec_prefix=$${prefix}
libdir=$${prefix}/lib
includedir=$${prefix}/include

Name: gatehouse-client
Description: C client library for the gatehouse game backend (custom engines)
Version: $(CLIENT_VERSION)
Requires.private: $(CLIENT_PKGS)
Libs: -L$${libdir} -lgatehouse-client
Libs.private: -pthread
Cflags: -I$${includedir}
endef
export CLIENT_PC_TEXT

$(CLIENT_PC): src/client/client.mk
	@mkdir -p $(dir $@)
	printf '%s\n' "$$CLIENT_PC_TEXT" | sed -e 's|@PREFIX@|$(PREFIX)|' > $@

# pkg-config prefers NAME-uninstalled.pc when its directory is on the path:
# PKG_CONFIG_PATH=build pkg-config --libs gatehouse-client finds the build tree.
$(CLIENT_PC_UN): src/client/client.mk
	@mkdir -p $(dir $@)
	printf '%s\n' "$$CLIENT_PC_TEXT" \
	  | sed -e 's|@PREFIX@|$(CURDIR)|' -e 's|^libdir=.*|libdir=$(abspath $(BUILD))|' \
	        -e 's|^Libs: .*|Libs: -L$${libdir} -Wl,-rpath,$${libdir} -lgatehouse-client|' > $@

# The example is built the way a studio builds it: one header, pkg-config.
$(CLIENT_EXAMPLE): examples/client/game-loop.c include/gatehouse/client.h $(CLIENT_PC_UN) \
                   $(CLIENT_SO) $(BUILD)/libgatehouse-client.so
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) \
	  $$(PKG_CONFIG_PATH=$(BUILD) pkg-config --cflags gatehouse-client) -o $@ $< \
	  $$(PKG_CONFIG_PATH=$(BUILD) pkg-config --libs gatehouse-client)

# ---- tests ----

$(BUILD)/tests/client/test_client_unit: $(CLIENT_TEST_SRC) $(CLIENT_SRCS) $(CLIENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_CFLAGS) $(CFLAGS) -Itests/unit -Isrc/client -o $@ $< $(CLIENT_PKG_LIBS)

$(BUILD)/tests/client/gh-client-driver: tests/client/driver.c $(CLIENT_A) include/gatehouse/client.h
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_CFLAGS) $(CFLAGS) -o $@ $< $(CLIENT_A) $(CLIENT_PKG_LIBS)

client-tests: client $(CLIENT_TESTS)

# The classes of tests/integration/test_client.py, longest first (pyrun runs
# a lone module name in one process; classes run in parallel).
CLIENT_IT := $(addprefix test_client.,GameLoop Refresh MidSession Session Hostile Platforms \
               Example)

client-unit: $(BUILD)/tests/client/test_client_unit
	@tests/run-unit.sh $<

client-integration: client-tests $(BUILD)/gatehouse $(BUILD)/tests/fakeprovider
	GH_TEST_BIN=$(CURDIR)/$(BUILD)/gatehouse $(PYTHON) tests/pyrun.py -j $(TEST_JOBS) \
	  tests/integration $(CLIENT_IT)

# Under valgrind: the client programs (and the daemon) run under memcheck.
client-valgrind: client-tests $(BUILD)/gatehouse $(BUILD)/tests/fakeprovider
	GH_TEST_BIN=$(CURDIR)/$(BUILD)/gatehouse GH_TEST_VALGRIND=1 \
	  $(PYTHON) tests/pyrun.py -j $(TEST_JOBS) tests/integration $(CLIENT_IT)

# ---- sanitizer build ----

$(BUILD)/asan/client-san/obj/%.o: src/client/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_LIB_CFLAGS) $(SAN_FLAGS) -c -o $@ $<

$(CLIENT_SA): $(CLIENT_SOBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/asan/tests/client/test_client_unit: $(CLIENT_TEST_SRC) $(CLIENT_SRCS) $(CLIENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_CFLAGS) $(SAN_FLAGS) -Itests/unit -Isrc/client -o $@ $< $(CLIENT_PKG_LIBS)

$(BUILD)/asan/tests/client/gh-client-driver: tests/client/driver.c \
                                             $(CLIENT_SA)
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_CFLAGS) $(SAN_FLAGS) -o $@ $< $(CLIENT_SA) \
	  $(CLIENT_PKG_LIBS)

$(BUILD)/asan/examples/client/game-loop: examples/client/game-loop.c \
                                         $(CLIENT_SA)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) $(SAN_FLAGS) -Iinclude -o $@ $< \
	  $(CLIENT_SA) $(CLIENT_PKG_LIBS)

client-asan-build: $(CLIENT_STESTS) $(BUILD)/asan/examples/client/game-loop

client-asan-unit: $(BUILD)/asan/tests/client/test_client_unit
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  tests/run-unit.sh $<

client-asan: client-asan-build client-asan-unit $(BUILD)/asan/gatehouse $(BUILD)/tests/fakeprovider
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  GH_TEST_BIN=$(CURDIR)/$(BUILD)/asan/gatehouse GH_TEST_SANITIZER=1 \
	  $(PYTHON) tests/pyrun.py -j $(TEST_JOBS) tests/integration $(CLIENT_IT)

# The suites run the client's tests too; the integration suites find the
# client programs next to the daemon under test.
unit: client-unit
integration: client-tests
valgrind: client-tests
asan: client-asan-build client-asan-unit

# ---- install ----

install-client: $(CLIENT_A) $(CLIENT_SO)
	install -D -m 0644 $(CLIENT_A) $(DESTDIR)$(PREFIX)/lib/libgatehouse-client.a
	install -D -m 0755 $(CLIENT_SO) \
	  $(DESTDIR)$(PREFIX)/lib/libgatehouse-client.so.$(CLIENT_SOMAJOR)
	ln -sf libgatehouse-client.so.$(CLIENT_SOMAJOR) \
	  $(DESTDIR)$(PREFIX)/lib/libgatehouse-client.so
	install -D -m 0644 include/gatehouse/client.h \
	  $(DESTDIR)$(PREFIX)/include/gatehouse/client.h
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig
	printf '%s\n' "$$CLIENT_PC_TEXT" | sed -e 's|@PREFIX@|$(PREFIX)|' \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/gatehouse-client.pc
	chmod 0644 $(DESTDIR)$(PREFIX)/lib/pkgconfig/gatehouse-client.pc

uninstall-client:
	rm -f $(DESTDIR)$(PREFIX)/lib/libgatehouse-client.a \
	      $(DESTDIR)$(PREFIX)/lib/libgatehouse-client.so.$(CLIENT_SOMAJOR) \
	      $(DESTDIR)$(PREFIX)/lib/libgatehouse-client.so \
	      $(DESTDIR)$(PREFIX)/include/gatehouse/client.h \
	      $(DESTDIR)$(PREFIX)/lib/pkgconfig/gatehouse-client.pc

install: install-client
uninstall: uninstall-client

-include $(CLIENT_OBJS:.o=.d) $(CLIENT_SOBJS:.o=.d)
