#!/bin/sh
# Player-storage benchmark: writes per second with one commit per write and
# with group commit (sqlite_synchronous full, the default), and reads.
#
#   bench/storage.sh [seconds]      (default 10 s per run)
#
# Loopback only, bounded time; starts and stops its own daemons (by PID) on
# a fresh database in a temporary directory. Needs wrk (scripts/deps.sh bench).
set -eu
cd "$(dirname "$0")/.."
SECS=${1:-10}
CONNS=${CONNS:-64}
USERS=${USERS:-64}
PORT=${PORT:-18731}
THREADS=${HTTP_THREADS:-32}

scripts/deps.sh bench
make -s all
BIN=$PWD/build/gatehouse
WORK=$(mktemp -d /tmp/gatehouse-bench.XXXXXX)
DAEMON=
cleanup() {
	[ -n "$DAEMON" ] && kill "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

start() { # group_commit sync
	rm -f "$WORK"/db*
	"$BIN" serve --set listen_port="$PORT" --set database_path="$WORK/db" \
		--set rate_limit_login=0 --set access_log=off --set http_threads="$THREADS" \
		--set group_commit="$1" --set sqlite_synchronous="$2" 2>"$WORK/daemon.log" &
	DAEMON=$!
	i=0
	until curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -gt 100 ] && { cat "$WORK/daemon.log"; exit 1; }
		sleep 0.1
	done
	/usr/bin/python3 - "$PORT" "$USERS" > "$WORK/tokens" <<'PY'
import json, sys, urllib.request
port, n = sys.argv[1], int(sys.argv[2])
for _ in range(n):
    with urllib.request.urlopen("http://127.0.0.1:%s/login-as-guest" % port) as r:
        print(json.load(r)["auth_token"])
PY
}

# slot1..slot10 for every user, so that every GET finds its document
prefill() {
	/usr/bin/python3 - "$PORT" "$WORK/tokens" <<'PY'
import sys, urllib.request
port, tokens = sys.argv[1], open(sys.argv[2]).read().split()
doc = ('{"inventory":"' + "x" * 1000 + '"}').encode()
for t in tokens:
    for k in range(1, 11):
        req = urllib.request.Request("http://127.0.0.1:%s/player-data/slot%d" % (port, k),
                                     data=doc, method="PUT",
                                     headers={"Authorization": t,
                                              "Content-Type": "application/json"})
        urllib.request.urlopen(req).read()
PY
}

stop() {
	kill "$DAEMON"; wait "$DAEMON" || true; DAEMON=
}

# wrk's summary as "req/s p50 p99 non-2xx"
run() { # script
	BENCH_TOKENS="$WORK/tokens" wrk -t2 -c"$CONNS" -d"${SECS}s" --latency \
		-s "bench/wrk/$1" "http://127.0.0.1:$PORT" > "$WORK/wrk.out" 2>&1 || true
	awk '
		/Requests\/sec/ { rps = $2 }
		/^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
		/Non-2xx/ { bad = $5 }
		END { printf "%10s %10s %10s %8s\n", rps, p50, p99, bad ? bad : 0 }
	' "$WORK/wrk.out"
}

printf "%-44s %10s %10s %10s %8s\n" "run ($CONNS connections, ${SECS}s)" "req/s" "p50" "p99" "non-2xx"
for mode in "off full" "on full" "on normal"; do
	set -- $mode
	start "$1" "$2"
	printf "%-44s " "PUT 1 KiB, group_commit $1, synchronous $2"; run put.lua
	if [ "$1 $2" = "on full" ]; then
		prefill
		printf "%-44s " "GET 1 KiB"; run get.lua
	fi
	stop
done
echo "machine: $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
