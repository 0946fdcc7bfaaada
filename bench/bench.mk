# Benchmarks (included by the Makefile). See bench/README.md.
#
#   make bench          every route against ceilings measured in the same run, and the
#                       performance targets (~7 min), then bench/cluster.sh: PostgreSQL vs
#                       SQLite, three nodes, vs pgbench (~1 min)
#   make bench-idle     scenario (a): 5,000 idle keep-alive connections
#   make bench-hang     scenario (b): guest logins while a platform provider hangs
#   make bench-bigdb    scenario (c): 1,000,000 users (BENCH_ARGS="--bigdb 10000000": the full case)
#
# BENCH_ARGS passes options to bench/run.sh (--seconds, --conns, --routes, --alg, ...);
# the BENCH_* environment variables work too.

BENCH_ARGS ?=

.PHONY: bench bench-deps bench-build bench-idle bench-hang bench-bigdb

$(BUILD)/bench/bare_mhd: bench/bare_mhd.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< $(shell pkg-config --libs libmicrohttpd)

bench-deps:
	@scripts/deps.sh bench

# Packages first (the build needs them), then the daemon and the bare MHD ceiling.
bench-build: bench-deps
	@$(MAKE) --no-print-directory all $(BUILD)/bench/bare_mhd

bench: bench-build
	BENCH_NO_BUILD=1 BENCH_BUILD=$(BUILD) bench/run.sh $(BENCH_ARGS)
	@if tests/pg.sh check 2>/dev/null; then BENCH_NO_BUILD=1 BENCH_BUILD=$(BUILD) bench/cluster.sh; \
	else echo "bench/cluster.sh: skipped (no PostgreSQL server to start here)"; fi

bench-idle: bench-build
	BENCH_NO_BUILD=1 BENCH_BUILD=$(BUILD) bench/run.sh --idle $(BENCH_ARGS)

bench-hang: bench-build
	@$(MAKE) --no-print-directory $(BUILD)/tests/fakeprovider
	BENCH_NO_BUILD=1 BENCH_BUILD=$(BUILD) bench/run.sh --hang $(BENCH_ARGS)

bench-bigdb: bench-build
	BENCH_NO_BUILD=1 BENCH_BUILD=$(BUILD) bench/run.sh --bigdb $(BENCH_ARGS)
