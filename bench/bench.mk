# Benchmarks (included by the Makefile): make bench.
