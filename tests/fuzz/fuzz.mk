# libFuzzer targets (included by the Makefile; see tests/fuzz/README.md).
#
#   make fuzz           build every tests/fuzz/fuzz_<name>.c and fuzz each for
#                       FUZZ_SECONDS (default 60), FUZZ_JOBS (default 2) at once,
#                       on a scratch copy of its corpus under build/fuzz/run/
#   make fuzz-regress   replay tests/fuzz/corpus/ and tests/fuzz/regressions/ once
#   make fuzz-build     just build the targets
#   FUZZ_TARGETS="token params" narrows either to some targets.
#
# The library is compiled again with clang into build/fuzz/obj/ (the gcc
# objects in build/obj and build/asan/obj are left alone).

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_JOBS    ?= 2
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_ALL     := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_BINS     = $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)

FUZZ_SAN := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
            -fno-sanitize-recover=undefined
# _FORTIFY_SOURCE would route string functions around ASan's checks. clang's
# -Wformat=2 also flags vsnprintf with the format of a va_list logger
# (http/server.c mhd_logger, whose callback type carries no format attribute).
FUZZ_CFLAGS = $(filter-out -D_FORTIFY_SOURCE=2,$(BASE_CFLAGS)) $(FUZZ_SAN) \
              -Wno-format-nonliteral
FUZZ_LIBOBJS := $(LIBSRCS:src/%.c=$(FUZZ_DIR)/obj/%.o) $(FUZZ_DIR)/obj/openapi_json.o

# Longest input per target (bytes); libFuzzer's default otherwise.
FUZZ_MAXLEN_params   := 8192
FUZZ_MAXLEN_token    := 4200
FUZZ_MAXLEN_idtoken  := 4200
FUZZ_MAXLEN_config   := 16384
FUZZ_MAXLEN_jwks     := 16384
FUZZ_MAXLEN_steam    := 4096
FUZZ_MAXLEN_google   := 4096
FUZZ_MAXLEN_facebook := 4096
FUZZ_MAXLEN_log      := 1024

FUZZ_RUN_FLAGS := -timeout=10 -rss_limit_mb=2048

.PHONY: fuzz fuzz-build fuzz-regress

$(FUZZ_DIR)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/obj/openapi_json.o: $(GEN)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_SAN) -c -o $@ $<

$(FUZZ_DIR)/libgatehouse.a: $(FUZZ_LIBOBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h $(FUZZ_DIR)/libgatehouse.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_DIR)/libgatehouse.a $(LDLIBS)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@FUZZ_DIR=$(FUZZ_DIR) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) \
	  FUZZ_RUN_FLAGS='$(FUZZ_RUN_FLAGS)' \
	  $(foreach t,$(FUZZ_TARGETS),FUZZ_MAXLEN_$(t)=$(or $(FUZZ_MAXLEN_$(t)),4096)) \
	  tests/fuzz/run.sh fuzz $(FUZZ_TARGETS)

fuzz-regress: fuzz-build
	@FUZZ_DIR=$(FUZZ_DIR) FUZZ_RUN_FLAGS='$(FUZZ_RUN_FLAGS)' \
	  tests/fuzz/run.sh regress $(FUZZ_TARGETS)

-include $(FUZZ_LIBOBJS:.o=.d) $(FUZZ_ALL:%=$(FUZZ_DIR)/fuzz_%.d)
