# libFuzzer targets (included by the Makefile). Owned by the fuzzing work:
# defines fuzz (FUZZ_SECONDS per target), fuzz-regress (replays the kept
# inputs; part of make test).
