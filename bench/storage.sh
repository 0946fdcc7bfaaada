#!/bin/sh
# Player-storage benchmark: writes per second with one commit per write and
# with group commit, at sqlite_synchronous full and normal, and reads; now a
# wrapper around bench/run.sh (one run, one fresh daemon and database per mode).
#
#   bench/storage.sh [seconds]      (default 10 s per run)
#
# Routes: storage-put-any (unconditional PUT of 1 KiB to slot1..slot100 as a
# random guest: the former load of this script), storage-put (versioned
# If-Match writes) and, in the default mode, storage-get.
# CONNS (64), USERS (pool size, 256) and HTTP_THREADS (daemon http_threads,
# 0 = its default) are still read. Loopback only, bounded time.
set -eu
cd "$(dirname "$0")/.."
SECS=${1:-10}
export BENCH_CONNS="${CONNS:-64}" BENCH_GUESTS="${USERS:-256}"
export BENCH_HTTP_THREADS="${HTTP_THREADS:-0}" BENCH_NO_CEILINGS=1 BENCH_HALF="${BENCH_HALF:-0}"
for mode in "off full" "on full" "on normal"; do
	set -- $mode
	routes=storage-put-any,storage-put
	[ "$1 $2" = "on full" ] && routes=$routes,storage-get
	echo "== group_commit $1, sqlite_synchronous $2"
	bench/run.sh --seconds "$SECS" --group-commit "$1" --sync "$2" --routes "$routes" 2>/dev/null |
		grep -v '^ceilings:'
done
