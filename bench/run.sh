#!/bin/bash
# gatehouse benchmark harness (make bench). See bench/README.md.
#
#   bench/run.sh [options]            every route against ceilings measured in the same run
#   bench/run.sh --idle [N]           scenario (a): N idle keep-alive connections (5000)
#   bench/run.sh --hang               scenario (b): guest logins while the Steam provider hangs
#   bench/run.sh --bigdb [N]          scenario (c): a database of N users (1,000,000; the full
#                                     case is --bigdb 10000000)
# Options (or the environment variables in brackets):
#   --seconds S        wrk duration per measurement [BENCH_SECONDS=10]
#   --conns C          wrk connections [BENCH_CONNS=32, the performance targets' load]
#   --threads T        wrk threads [BENCH_THREADS=number of CPUs]
#   --routes LIST      comma-separated routes [BENCH_ROUTES=all of them]: jwks, guest-new,
#                      guest-login, refresh, set-player-data, get-player-data, forward-auth,
#                      storage-put, storage-get, storage-put-any (unconditional PUT; not in the
#                      default list)
#   --alg RS256|ES256  the daemon's signing_alg [BENCH_ALG=RS256]
#   --sync full|normal sqlite_synchronous [BENCH_SYNC=full]
#   --group-commit on|off                    [BENCH_GROUP_COMMIT=on]
#   --keep             keep the temporary directory (database, logs, wrk outputs)
# Other environment: BENCH_HTTP_THREADS (daemon http_threads, 0 = its default),
# BENCH_GUESTS (pool size, default max(256, 4 x conns)), BENCH_SET ("name=value ..." extra
# daemon settings), BENCH_DIR (where the temporary directory goes, /tmp), BENCH_BUILD
# (build directory, build), BENCH_NO_BUILD=1 (skip deps and build: make bench did them),
# BENCH_OUT (also write the report to this file), BENCH_NO_CEILINGS=1 (skip openssl speed and
# the bare MHD run; the fsync rate is still measured), BENCH_NO_TARGETS=1 (skip the performance
# steps after the routes: access log on/off, ES256 refresh, idle kept-alive connections),
# BENCH_IDLE_CONNS (kept-alive connections of that step, 10000).
#
# Loopback only; every run is bounded; the processes it starts are stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SECS=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNS:-32}
NPROC=$(nproc)
THREADS=${BENCH_THREADS:-$NPROC}
ROUTES=${BENCH_ROUTES:-jwks,guest-new,guest-login,refresh,set-player-data,get-player-data,forward-auth,storage-put,storage-get}
ALG=${BENCH_ALG:-RS256}
SYNC=${BENCH_SYNC:-full}
GROUP_COMMIT=${BENCH_GROUP_COMMIT:-on}
HTTP_THREADS=${BENCH_HTTP_THREADS:-0}
BUILD=${BENCH_BUILD:-build}
KEEP=${BENCH_KEEP:-0}
MODE=routes
IDLE_N=${BENCH_IDLE:-5000}
BIG_N=${BENCH_USERS:-1000000}
TARGET_WRITES=5000       # the performance issue's target for set-player-data, per second
PY=/usr/bin/python3

die() { echo "bench: $*" >&2; exit 1; }
numarg() { [[ "${2:-}" =~ ^[0-9]+$ ]] || die "$1 needs a number"; }

while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) numarg "$1" "${2:-}"; SECS=$2; shift ;;
	--conns) numarg "$1" "${2:-}"; CONNS=$2; shift ;;
	--threads) numarg "$1" "${2:-}"; THREADS=$2; shift ;;
	--routes) ROUTES=${2:?}; shift ;;
	--alg) ALG=${2:?}; shift ;;
	--sync) SYNC=${2:?}; shift ;;
	--group-commit) GROUP_COMMIT=${2:?}; shift ;;
	--keep) KEEP=1 ;;
	--idle) MODE=idle; if [[ "${2:-}" =~ ^[0-9]+$ ]]; then IDLE_N=$2; shift; fi ;;
	--hang) MODE=hang ;;
	--bigdb) MODE=bigdb; if [[ "${2:-}" =~ ^[0-9]+$ ]]; then BIG_N=$2; shift; fi ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument '$1' (--help)" ;;
	esac
	shift
done
case "$ALG" in RS256|ES256) ;; *) die "--alg is RS256 or ES256" ;; esac
[ "$THREADS" -ge 1 ] && [ "$CONNS" -ge "$THREADS" ] || die "need conns >= threads >= 1"
GUESTS=${BENCH_GUESTS:-$((4 * CONNS > 256 ? 4 * CONNS : 256))}
case ",$ROUTES," in *,refresh,*)
	[ "$GUESTS" -ge $((2 * CONNS)) ] || die "BENCH_GUESTS must be at least 2 x conns (refresh pool)" ;;
esac

if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
	scripts/deps.sh bench
	make -s --no-print-directory BUILD="$BUILD" all "$BUILD/bench/bare_mhd"
fi
BIN=$ROOT/$BUILD/gatehouse
BARE=$ROOT/$BUILD/bench/bare_mhd
[ -x "$BIN" ] && [ -x "$BARE" ] || die "$BIN or $BARE missing (make bench builds them)"
command -v wrk >/dev/null || die "wrk missing: scripts/deps.sh bench"

WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/gatehouse-bench.XXXXXX")
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	if [ "$KEEP" = 1 ]; then
		echo "bench: kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export BENCH_WRK_DIR=$ROOT/bench/wrk BENCH_THREADS=$THREADS
REPORT=$WORK/report.txt
: > "$REPORT"
say() { echo "$*" | tee -a "$REPORT"; }
log() { echo "bench: $*" >&2; }

. bench/lib.sh

forget_pid() { # pid: drop it from PIDS once it has been stopped
	local keep=() p
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	PIDS=("${keep[@]+"${keep[@]}"}")
}

stop_pid() { # pid
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	forget_pid "$1"
}

# ---- the daemon ----

DAEMON=
PORT=
DTHREADS=
start_daemon() { # database [extra name=value settings...]
	local db=$1; shift
	PORT=$(free_port)
	local sets=(--set "listen_address=127.0.0.1" --set "listen_port=$PORT"
		--set "database_path=$db" --set "rate_limit_login=0" --set "access_log=off"
		--set "max_connections_per_ip=0" --set "signing_alg=$ALG"
		--set "sqlite_synchronous=$SYNC" --set "group_commit=$GROUP_COMMIT"
		--set "http_threads=$HTTP_THREADS")
	local s
	for s in ${BENCH_SET:-} "$@"; do sets+=(--set "$s"); done
	"$BIN" serve "${sets[@]}" >>"$WORK/daemon.log" 2>&1 &
	DAEMON=$!
	PIDS+=("$DAEMON")
	wait_up "http://127.0.0.1:$PORT/health" "$DAEMON" "$WORK/daemon.log" "the daemon"
	DTHREADS=$(sed -n 's/.*listening on .*, \([0-9]*\) threads.*/\1/p' "$WORK/daemon.log" | tail -1)
	[ -n "$DTHREADS" ] || DTHREADS=$((NPROC * 4 < 4 ? 4 : NPROC * 4 > 64 ? 64 : NPROC * 4))
}

stop_daemon() {
	[ -n "$DAEMON" ] && stop_pid "$DAEMON"
	DAEMON=
}

mem_of() { # pid -> "RSS/HWM" in MiB
	awk '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 }
	     END { printf "%d/%d", r / 1024, h / 1024 }' "/proc/$1/status"
}

cpu_ticks_of() { # pid -> utime + stime in clock ticks
	awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

busy_ticks() { # all CPUs, in clock ticks (iowait counts as idle)
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# CPU seconds of this shell's reaped children (wrk, helpers) -> CHILD_CPU. Not in a
# subshell: `times` there would count the subshell's children only.
children_cpu_s() {
	times >"$WORK/times"
	CHILD_CPU=$(awk 'NR == 2 {
		n = split($0, f, " ")
		for (i = 1; i <= n; i++) { split(f[i], t, "m"); sub("s", "", t[2]); s += t[1] * 60 + t[2] }
		printf "%.3f", s }' "$WORK/times")
}

HZ=$(getconf CLK_TCK)

# ---- one measurement ----

# wrk_run NAME URL SCRIPT [wrk options...]: runs wrk; sets R_* from its BENCH line and the
# CPU of the target process $TARGET_PID (the daemon or the bare server).
TARGET_PID=
wrk_run() {
	local name=$1 url=$2 script=$3; shift 3
	local out=$WORK/wrk-${name//[^A-Za-z0-9+._-]/_}.out
	local d0 b0 c0 d1 b1 c1 t0 t1
	children_cpu_s; c0=$CHILD_CPU
	d0=$(cpu_ticks_of "$TARGET_PID"); b0=$(busy_ticks)
	t0=$(date +%s.%N)
	wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" --latency "$@" -s "bench/wrk/$script" "$url" \
		>"$out" 2>&1 || true
	t1=$(date +%s.%N)
	d1=$(cpu_ticks_of "$TARGET_PID"); b1=$(busy_ticks)
	children_cpu_s; c1=$CHILD_CPU
	local line
	line=$(grep '^BENCH ' "$out" | tail -1) || { cat "$out" >&2; die "wrk gave no result for $name"; }
	local kv
	for kv in $line; do
		case "$kv" in
		requests=*) R_REQ=${kv#*=} ;; duration_us=*) R_DUR=${kv#*=} ;;
		p50_us=*) R_P50=${kv#*=} ;; p99_us=*) R_P99=${kv#*=} ;;
		status_errors=*) R_STATUS=${kv#*=} ;; connect=*) R_CONNECT=${kv#*=} ;;
		read=*) R_READ=${kv#*=} ;; write=*) R_WRITE=${kv#*=} ;; timeout=*) R_TIMEOUT=${kv#*=} ;;
		esac
	done
	R_SOCK=$((R_CONNECT + R_READ + R_WRITE + R_TIMEOUT))
	# successful answers per second; the errors are shown apart
	R_RPS=$(awk -v n="$R_REQ" -v e="$R_STATUS" -v d="$R_DUR" 'BEGIN { printf "%d", (n - e) / (d / 1e6) }')
	R_CPU=$(awk -v a="$d0" -v b="$d1" -v n="$R_REQ" -v hz="$HZ" \
		'BEGIN { printf "%d", n ? (b - a) / hz * 1e6 / n : 0 }')
	R_FOREIGN=$(awk -v b0="$b0" -v b1="$b1" -v d0="$d0" -v d1="$d1" -v c0="$c0" -v c1="$c1" \
		-v t0="$t0" -v t1="$t1" -v hz="$HZ" 'BEGIN {
		f = ((b1 - b0) - (d1 - d0)) / hz - (c1 - c0); if (f < 0) f = 0
		printf "%.2f", f / (t1 - t0) }')
	R_MEM=$(mem_of "$TARGET_PID")
	# share of all cores busy (daemon, wrk and anything else; iowait counts as idle)
	R_BUSY=$(awk -v b0="$b0" -v b1="$b1" -v t0="$t0" -v t1="$t1" -v hz="$HZ" -v n="$NPROC" \
		'BEGIN { b = (b1 - b0) / hz / (t1 - t0) / n * 100; printf "%d", (b > 100 ? 100 : b) }')
}

ms() { awk -v u="$1" 'BEGIN { printf "%.2fms", u / 1000 }'; }

# ---- ceilings ----

SIGN_RATE=
SIGN_US=
SIGN_ALGNAME=
OTHER_SIGN=
# Both algorithms the daemon can sign access tokens with; the ceiling is the configured one.
# One process (the yardstick: the time of one signature on one core); the
# ceiling of the routes table is that rate times the number of cores.
measure_sign() {
	log "ceiling: openssl speed -seconds 3 rsa2048 ecdsap256 (one process)"
	local out rsa ec one
	out=$(openssl speed -seconds 3 -mr rsa2048 ecdsap256 2>/dev/null)
	# -mr: "+F2:n:bits:sign/s:verify/s" (RSA), "+F4:n:bits:sign/s:verify/s" (ECDSA)
	rsa=$(echo "$out" | awk -F: '$1 == "+F2" && $3 == 2048 { s = $4 } END { printf "%d", s }')
	ec=$(echo "$out" | awk -F: '$1 == "+F4" && $3 == 256 { s = $4 } END { printf "%d", s }')
	if [ "$ALG" = ES256 ]; then
		one=$ec; SIGN_ALGNAME="ECDSA P-256"; OTHER_SIGN="RSA-2048 $rsa/s a core"
	else
		one=$rsa; SIGN_ALGNAME="RSA-2048"; OTHER_SIGN="ECDSA P-256 (--alg ES256) $ec/s a core"
	fi
	[ "${one:-0}" -gt 0 ] || die "could not read openssl speed's result"
	SIGN_RATE=$((one * NPROC))
	SIGN_US=$(awk -v r="$one" 'BEGIN { printf "%.0f", 1e6 / r }')
}

FSYNC_RATE=
FSYNC_LAT=
measure_fsync() {
	log "ceiling: write + fdatasync for 3 s in $WORK"
	local line
	line=$($PY bench/bench.py fsync "$WORK" 3)
	FSYNC_RATE=$(echo "$line" | sed -n 's/.*fsync_per_s=\([0-9]*\).*/\1/p')
	FSYNC_LAT=$(echo "$line" | awk '{ split($2, a, "="); split($3, b, "=");
		printf "p50 %.2fms, p99 %.2fms", a[2] / 1000, b[2] / 1000 }')
}

BARE_RATE=
BARE_LINE=
measure_bare() { # threads
	local port pid
	port=$(free_port)
	"$BARE" "$port" "$1" 2>>"$WORK/bare.log" &
	pid=$!
	PIDS+=("$pid")
	wait_up "http://127.0.0.1:$port/" "$pid" "$WORK/bare.log" "bare_mhd"
	log "ceiling: bare libmicrohttpd JSON reply, $1 threads, ${SECS}s"
	TARGET_PID=$pid BENCH_PATH=/ wrk_run bare "http://127.0.0.1:$port" static.lua
	BARE_RATE=$R_RPS
	BARE_CPU=$R_CPU
	BARE_LINE=$(printf "%-18s %8s %9s %9s %7s %10s %-20s %6s %7s %7s" "bare MHD (ceiling)" \
		"$R_RPS" "$(ms "$R_P50")" "$(ms "$R_P99")" "$((R_STATUS + R_SOCK))" "$R_MEM" "-" "-" \
		"${R_CPU}us" "$R_FOREIGN")
	stop_pid "$pid"
}

machine_line() {
	local model kernel
	model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	kernel=$(uname -r)
	say "machine: ${model:-unknown CPU}, $NPROC cores, kernel $kernel, disk ${FSYNC_RATE} fsync/s" \
		"($FSYNC_LAT; 4 KiB write + fdatasync in ${BENCH_DIR:-/tmp}), load average at start $LOAD0"
}

# ---- the routes ----

HEADER=$(printf "%-18s %8s %9s %9s %7s %10s %-20s %6s %7s %7s %10s" route "req/s" p50 p99 errors \
	"RSS/HWM" ceiling ratio "cpu/req" foreign "p99@half")
ROWS=()

# ceiling_of ROUTE -> CEIL (number) and CEIL_NAME; the scenarios compare with a baseline
# row of the same run instead: BASE_RATE and BASE_NAME.
BASE_RATE=
BASE_NAME=
ceiling_of() {
	if [ -n "$BASE_RATE" ]; then
		CEIL=$BASE_RATE; CEIL_NAME="$BASE_NAME $BASE_RATE"; return
	fi
	case "$1" in
	guest-new|guest-login|refresh)
		CEIL=${SIGN_RATE:-0}; CEIL_NAME="sign ${SIGN_RATE:-?}" ;;
	set-player-data|storage-put|storage-put-any)
		CEIL=$TARGET_WRITES; CEIL_NAME="target $TARGET_WRITES" ;;
	forward-auth)
		# The issue's target: at least 80% of get-player-data's rate (same run).
		if [ -n "${GPD_RATE:-}" ]; then
			CEIL=$GPD_RATE; CEIL_NAME="get-player $GPD_RATE"
		else
			CEIL=${BARE_RATE:-0}; CEIL_NAME="bare MHD ${BARE_RATE:-?}"
		fi ;;
	*)
		CEIL=${BARE_RATE:-0}; CEIL_NAME="bare MHD ${BARE_RATE:-?}" ;;
	esac
}

add_row() { # label route
	ceiling_of "$2"
	local ratio=-
	[ "${CEIL:-0}" -gt 0 ] && ratio=$(awk -v a="$R_RPS" -v b="$CEIL" 'BEGIN { printf "%.2f", a / b }')
	ROWS+=("$(printf "%-18s %8s %9s %9s %7s %10s %-20s %6s %7s %7s %10s" "$1" "$R_RPS" "$(ms "$R_P50")" \
		"$(ms "$R_P99")" "$((R_STATUS + R_SOCK))" "$R_MEM" "$CEIL_NAME" "$ratio" "${R_CPU}us" \
		"$R_FOREIGN" "${HALF_P99:--}")")
	[ "$R_SOCK" -gt 0 ] && log "$1: socket errors connect $R_CONNECT read $R_READ write $R_WRITE timeout $R_TIMEOUT"
	return 0
}

GUEST_POOL=
fresh_tokens() { # -> $WORK/tokens.pool: every guest of GUEST_POOL logged in again
	$PY bench/bench.py tokens "$PORT" "$GUEST_POOL" "$WORK/tokens.pool"
}

# run_route ROUTE [label]: prepares what the route needs, measures it at full load,
# then (in the routes table, unless BENCH_HALF=0) again paced at half that rate for
# the p99 at half load;
# adds its row.
run_route() {
	local route=$1 label=${2:-$1}
	log "route $label: ${SECS}s, $CONNS connections, $THREADS threads"
	measure_route "$route" "$label"
	HALF_P99=- HALF_RPS=-
	if [ "${HALF_PASS:-0}" = 1 ] && [ "${R_RPS:-0}" -gt 0 ]; then
		local peak=( "$R_RPS" "$R_P50" "$R_P99" "$R_STATUS" "$R_SOCK" "$R_MEM" "$R_CPU" "$R_FOREIGN"
			     "$R_BUSY" )
		# Each connection waits so that all of them together ask for half the peak rate.
		BENCH_DELAY_MS=$(awk -v c="$CONNS" -v r="$R_RPS" 'BEGIN { printf "%d", c * 2000 / r }')
		log "route $label at half load: ${BENCH_DELAY_MS} ms between a connection's requests"
		BENCH_DELAY_MS=$BENCH_DELAY_MS measure_route "$route" "$label-half"
		HALF_P99=$(ms "$R_P99") HALF_RPS=$R_RPS
		R_RPS=${peak[0]} R_P50=${peak[1]} R_P99=${peak[2]} R_STATUS=${peak[3]} R_SOCK=${peak[4]}
		R_MEM=${peak[5]} R_CPU=${peak[6]} R_FOREIGN=${peak[7]} R_BUSY=${peak[8]}
	fi
	[ "$route" = get-player-data ] && [ -z "$BASE_RATE" ] && GPD_RATE=$R_RPS
	add_row "$label" "$route"
	# for the performance targets
	T_RPS[$label]=$R_RPS T_CPU[$label]=$R_CPU T_BUSY[$label]=$R_BUSY T_HALF[$label]=${HALF_P99:--}
	T_ERR[$label]=$((R_STATUS + R_SOCK))
}
declare -A T_RPS T_CPU T_BUSY T_HALF T_ERR

measure_route() { # route label
	local route=$1 label=$2 url="http://127.0.0.1:$PORT"
	TARGET_PID=$DAEMON
	case "$route" in
	jwks) BENCH_PATH=/.well-known/jwks.json wrk_run "$label" "$url" static.lua ;;
	guest-new) BENCH_PATH=/login-as-guest wrk_run "$label" "$url" static.lua ;;
	guest-login) BENCH_POOL=$GUEST_POOL wrk_run "$label" "$url" guest_login.lua ;;
	refresh)
		fresh_tokens
		BENCH_POOL=$WORK/tokens.pool wrk_run "$label" "$url" refresh.lua ;;
	set-player-data)
		fresh_tokens
		BENCH_POOL=$WORK/tokens.pool wrk_run "$label" "$url" set_player_data.lua ;;
	get-player-data)
		fresh_tokens
		BENCH_POOL=$WORK/tokens.pool wrk_run "$label" "$url" get_player_data.lua ;;
	forward-auth)
		fresh_tokens
		BENCH_POOL=$WORK/tokens.pool wrk_run "$label" "$url" forward_auth.lua ;;
	storage-put)
		fresh_tokens
		BENCH_POOL=$WORK/tokens.pool BENCH_SLOTS=$((4 * CONNS / THREADS + 4)) \
			wrk_run "$label" "$url" storage_put.lua ;;
	storage-get)
		fresh_tokens
		$PY bench/bench.py prefill "$PORT" "$WORK/tokens.pool" 1
		BENCH_POOL=$WORK/tokens.pool BENCH_KEYS=1 wrk_run "$label" "$url" storage_get.lua ;;
	storage-put-any)
		fresh_tokens
		BENCH_POOL=$WORK/tokens.pool wrk_run "$label" "$url" storage_put_any.lua ;;
	*) die "unknown route '$route'" ;;
	esac
}

print_table() { # title
	say ""
	say "$1"
	say "$HEADER"
	local r
	for r in "${ROWS[@]}"; do say "$r"; done
	[ -n "$BARE_LINE" ] && say "$BARE_LINE"
	return 0
}

print_legend() {
	say "settings: signing_alg $ALG, sqlite_synchronous $SYNC, group_commit $GROUP_COMMIT," \
		"http_threads ${DTHREADS} (bare MHD the same), access_log off, rate limit off;" \
		"wrk -t$THREADS -c$CONNS -d${SECS}s; pool of $GUESTS guests"
	local sign="sign: not measured"
	[ -n "$SIGN_RATE" ] && sign="sign = $NPROC x openssl speed (one process, $SIGN_US us a $SIGN_ALGNAME signature) / 1 signature per request (new guest, re-login and refresh each sign one $ALG access token; the refresh token is HS256, an HMAC of ~1 us; $OTHER_SIGN)"
	local bare="bare MHD: not measured"
	[ -n "$BARE_RATE" ] && bare="bare MHD = the same libmicrohttpd setup answering a fixed JSON body"
	say "ceilings: $sign; $bare; target = the issue's $TARGET_WRITES writes/s (the disk does" \
		"$FSYNC_RATE fsync/s; with group commit one fsync covers every write queued meanwhile)"
	say "req/s = answers < 400 per second; errors = answers >= 400 + socket errors; RSS/HWM =" \
		"daemon VmRSS/VmHWM in MiB after the run; cpu/req = daemon CPU per request; foreign =" \
		"cores used by other processes than the daemon and wrk during the run (noise);" \
		"p99@half = p99 with every connection paced to ask for half the peak rate"
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the performance targets ----

T_LINES=()
# target NAME MEASURED OP LIMIT UNIT NOTE: one line, "met" or "NOT met" (or "-" unmeasured)
target() {
	local name=$1 v=$2 op=$3 lim=$4 unit=$5 note=${6:-} ok=- unit_v
	if [ -n "$v" ] && [ "$v" != - ]; then
		ok=$(awk -v v="$v" -v l="$lim" -v op="$op" 'BEGIN {
			m = op == "<=" ? v <= l : op == ">=" ? v >= l : v < l; print m ? "met" : "NOT met" }')
	else
		v=- unit_v=
	fi
	T_LINES+=("$(printf "%-46s %10s %2s %-8s %-7s %s" "$name" "$v${unit_v-$unit}" "$op" "$lim$unit" "$ok" "$note")")
}
ratio() { # a b -> a / b with two decimals, or - when either is missing
	awk -v a="${1:--}" -v b="${2:--}" 'BEGIN {
		if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}
half_ms() { # "12.34ms" -> 12.34
	local v=${1:--}; echo "${v%ms}"
}

# After the routes: get-player-data with the access log off then on (two daemons, same
# database, alternating), refresh with ES256 (a fresh database), and N kept-alive idle
# connections that each made one authenticated request. Sets the T_* figures.
T_LOG_OFF= T_LOG_ON= T_ES_REFRESH= T_IDLE_KIB= T_IDLE_MIB= T_PEAK_HWM=
issue18_steps() {
	T_PEAK_HWM=$(awk '/^VmHWM:/ { printf "%d", $2 / 1024 }' "/proc/$DAEMON/status")
	local keep_half=$HALF_PASS
	HALF_PASS=0
	# Off and on alternate (BENCH_LOG_ROUNDS rounds, 2): one pair is at the mercy of the
	# machine's noise. cpu/req of each side = its CPU over its requests, all rounds.
	local onoff round cpu_off=0 n_off=0 cpu_on=0 n_on=0
	for round in $(seq "${BENCH_LOG_ROUNDS:-2}"); do
		for onoff in off on; do
			stop_daemon
			start_daemon "$WORK/db" "access_log=$onoff"
			log "targets: get-player-data, access log $onoff (round $round)"
			fresh_tokens
			BENCH_POOL=$WORK/tokens.pool TARGET_PID=$DAEMON \
				wrk_run "gpd-log-$onoff-$round" "http://127.0.0.1:$PORT" get_player_data.lua
			if [ "$onoff" = off ]; then
				cpu_off=$((cpu_off + R_CPU * R_REQ)) n_off=$((n_off + R_REQ))
			else
				cpu_on=$((cpu_on + R_CPU * R_REQ)) n_on=$((n_on + R_REQ))
			fi
			ROWS+=("$(printf "%-18s %8s %9s %9s %7s %10s %-20s %6s %7s %7s %10s" \
				"get, log $onoff #$round" "$R_RPS" "$(ms "$R_P50")" "$(ms "$R_P99")" \
				"$((R_STATUS + R_SOCK))" "$R_MEM" "-" "-" "${R_CPU}us" "$R_FOREIGN" "-")")
		done
	done
	[ "$n_off" -gt 0 ] && T_LOG_OFF=$((cpu_off / n_off))
	[ "$n_on" -gt 0 ] && T_LOG_ON=$((cpu_on / n_on))
	stop_daemon
	if [ "$ALG" = RS256 ]; then
		start_daemon "$WORK/db-es256" "signing_alg=ES256"
		log "targets: refresh with ES256 (a fresh database, $GUESTS guests)"
		$PY bench/bench.py guests "$PORT" "$GUESTS" "$WORK/es-guests.pool"
		local keep_pool=$GUEST_POOL
		GUEST_POOL=$WORK/es-guests.pool
		fresh_tokens
		TARGET_PID=$DAEMON BENCH_POOL=$WORK/tokens.pool \
			wrk_run refresh-es256 "http://127.0.0.1:$PORT" refresh.lua
		T_ES_REFRESH=$R_RPS HALF_P99=-
		add_row "refresh (ES256)" refresh
		GUEST_POOL=$keep_pool
		stop_daemon
	fi
	local n=${BENCH_IDLE_CONNS:-10000}
	start_daemon "$WORK/db" "max_connections=$((n + 1000))" "idle_timeout=600"
	fresh_tokens
	local before held
	before=$(awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON/status")
	log "targets: $n kept-alive connections, one authenticated request each, then idle"
	rm -f "$WORK/held"
	BENCH_HOLD_POOL=$WORK/tokens.pool $PY bench/bench.py hold "$PORT" "$n" "$WORK/held" 5 \
		>"$WORK/hold.out" 2>&1 &
	local holder=$!
	PIDS+=("$holder")
	local i=0
	until [ -e "$WORK/held" ]; do
		i=$((i + 1))
		if [ $i -gt 1200 ] || ! kill -0 "$holder" 2>/dev/null; then
			log "the idle connections could not be opened: $(tail -2 "$WORK/hold.out")"
			break
		fi
		sleep 0.1
	done
	if [ -e "$WORK/held" ]; then
		sleep 1
		held=$(awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON/status")
		T_IDLE_KIB=$(awk -v a="$before" -v b="$held" -v n="$n" 'BEGIN { printf "%.1f", (b - a) / n }')
		T_IDLE_MIB=$(awk -v b="$held" -v a="$before" -v n="$n" \
			'BEGIN { printf "%d", (a + (b - a) / n * 10000) / 1024 }')
	fi
	wait "$holder" || true
	forget_pid "$holder"
	T_IDLE_N=$n T_IDLE_HOLD=$(cat "$WORK/hold.out")
	HALF_PASS=$keep_half
}

print_targets() {
	local r
	say ""
	say "performance targets (cpu/req = daemon user+sys CPU, all threads, / requests; $CONNS connections)"
	for r in guest-new guest-login refresh; do
		[ -n "${T_CPU[$r]:-}" ] || continue
		target "$r: cpu/req / one $SIGN_ALGNAME signature" "$(ratio "${T_CPU[$r]}" "$SIGN_US")" "<=" 1.4 "" \
			"(${T_CPU[$r]} us / ${SIGN_US:-?} us; openssl speed, one process)"
	done
	[ -n "$T_ES_REFRESH" ] && target "refresh with signing_alg ES256" "$T_ES_REFRESH" ">=" 12000 "/s"
	for r in guest-new guest-login refresh set-player-data storage-put; do
		[ -n "${T_BUSY[$r]:-}" ] && target "$r: machine busy" "${T_BUSY[$r]}" ">=" 95 "%" \
			"(all cores: daemon, wrk and the rest)"
	done
	[ "$ALG" = RS256 ] && [ -n "${T_RPS[refresh]:-}" ] &&
		target "refresh (RS256) rate" "${T_RPS[refresh]}" ">=" 4300 "/s" "(Nakama's best measured run)"
	for r in set-player-data storage-put; do
		[ -n "${T_CPU[$r]:-}" ] && target "$r: cpu/write, sqlite_synchronous $SYNC" "${T_CPU[$r]}" "<=" 60 "us"
	done
	for r in get-player-data storage-get; do
		[ -n "${T_CPU[$r]:-}" ] && target "$r: cpu/req / bare libmicrohttpd's" \
			"$(ratio "${T_CPU[$r]}" "${BARE_CPU:-}")" "<=" 2 "" "(${T_CPU[$r]} us / ${BARE_CPU:-?} us)"
	done
	for r in guest-new guest-login refresh get-player-data; do
		[ -n "${T_HALF[$r]:-}" ] && target "$r: p99 at half the peak rate" \
			"$(half_ms "${T_HALF[$r]}")" "<" 10 "ms"
	done
	if [ -n "${T_IDLE_N:-}" ]; then
		target "kept-alive idle connection (used once)" "${T_IDLE_KIB:--}" "<=" 12 "KiB" \
			"($T_IDLE_N held: $T_IDLE_HOLD)"
		target "daemon RSS with 10,000 of them" "${T_IDLE_MIB:--}" "<" 150 "MiB"
	fi
	[ -n "$T_PEAK_HWM" ] && target "peak RSS over the routes (VmHWM)" "$T_PEAK_HWM" "<=" 32 "MiB"
	[ -n "$T_LOG_ON" ] && target "access log on vs off, get-player-data cpu/req" \
		"$(awk -v a="$T_LOG_ON" -v b="$T_LOG_OFF" 'BEGIN { printf "%+.1f", b ? (a - b) * 100 / b : 0 }')" \
		"<=" 5 "%" "($T_LOG_ON us vs $T_LOG_OFF us)"
	for r in "${T_LINES[@]}"; do say "$r"; done
}

# ---- modes ----

mode_routes() {
	HALF_PASS=${BENCH_HALF:-1}
	start_daemon "$WORK/db"
	measure_fsync
	if [ "${BENCH_NO_CEILINGS:-0}" != 1 ]; then
		measure_sign
		measure_bare "$DTHREADS"
	fi
	log "pool: $GUESTS new guests"
	$PY bench/bench.py guests "$PORT" "$GUESTS" "$WORK/guests.pool"
	GUEST_POOL=$WORK/guests.pool
	local r
	for r in ${ROUTES//,/ }; do run_route "$r"; done
	[ "${BENCH_NO_TARGETS:-0}" != 1 ] && issue18_steps
	print_table "gatehouse $(git describe --always --dirty 2>/dev/null || echo '?'), $(date -u +%FT%TZ)"
	print_targets
	machine_line
	print_legend
}

# (a) N idle keep-alive connections held open while get-player-data is measured.
mode_idle() {
	start_daemon "$WORK/db" "max_connections=$((IDLE_N + 1000))" "idle_timeout=600"
	measure_fsync
	[ "${BENCH_NO_CEILINGS:-0}" != 1 ] && measure_bare "$DTHREADS"
	log "pool: $GUESTS new guests"
	$PY bench/bench.py guests "$PORT" "$GUESTS" "$WORK/guests.pool"
	GUEST_POOL=$WORK/guests.pool
	run_route set-player-data
	run_route get-player-data "get-player-data"
	local before
	before=$(mem_of "$DAEMON")
	log "opening $IDLE_N idle keep-alive connections"
	rm -f "$WORK/held"
	$PY bench/bench.py hold "$PORT" "$IDLE_N" "$WORK/held" $((SECS * 3 + 120)) >"$WORK/hold.out" 2>&1 &
	local holder=$!
	PIDS+=("$holder")
	local i=0
	until [ -e "$WORK/held" ]; do
		i=$((i + 1))
		if [ $i -gt 1200 ] || ! kill -0 "$holder" 2>/dev/null; then
			cat "$WORK/hold.out" >&2; die "the idle connections could not be opened"
		fi
		sleep 0.1
	done
	sleep 1
	local held
	held=$(mem_of "$DAEMON")
	BASE_RATE=$R_RPS BASE_NAME="no idle" run_route get-player-data "get +${IDLE_N} idle"
	kill "$holder" 2>/dev/null || true
	wait "$holder" || true
	forget_pid "$holder"
	local after
	after=$(mem_of "$DAEMON")
	print_table "scenario idle: $IDLE_N idle keep-alive connections held open (Python, one request each, then silent)"
	say "daemon RSS/HWM MiB: before the idle connections $before; with them open $held;" \
		"after get-player-data with them $after; per idle connection" \
		"$(awk -v a="${before%/*}" -v b="${held%/*}" -v n="$IDLE_N" \
			'BEGIN { printf "%.1f KiB", (b - a) * 1024 / n }')"
	say "holder: $(cat "$WORK/hold.out") (alive = answered a second request after the run)"
	say "settings: max_connections $((IDLE_N + 1000)), max_connections_per_ip 0, idle_timeout 600"
	machine_line
	print_legend
}

# (b) guest logins while every Steam login hangs at the provider.
mode_hang() {
	make -s --no-print-directory BUILD="$BUILD" "$BUILD/tests/fakeprovider"
	mkdir -p "$WORK/fake"
	"$ROOT/$BUILD/tests/fakeprovider" --port 0 --dir "$WORK/fake" >"$WORK/fake.out" 2>"$WORK/fake.log" &
	local fake=$!
	PIDS+=("$fake")
	local i=0 fport=
	until fport=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$WORK/fake.out") && [ -n "$fport" ]; do
		i=$((i + 1)); [ $i -gt 100 ] && die "fakeprovider did not start"
		sleep 0.05
	done
	# steam-test-key is the fake's fixed test key (tests/fakeprovider/README.md), not a secret.
	local hang_conns=${BENCH_HANG_CONNS:-64}
	GATEHOUSE_STEAM_WEB_API_KEY=steam-test-key start_daemon "$WORK/db" \
		"steam_app_id=480" "steam_api_url=http://127.0.0.1:$fport" \
		"max_connections=$((hang_conns + CONNS + 1000))"
	curl -sf "http://127.0.0.1:$PORT/login-with-steam?steam_auth_token=ok-76561198000000001" \
		>/dev/null || die "Steam login through the fake provider does not work"
	measure_fsync
	[ "${BENCH_NO_CEILINGS:-0}" != 1 ] && measure_sign
	$PY bench/bench.py guests "$PORT" "$GUESTS" "$WORK/guests.pool"
	GUEST_POOL=$WORK/guests.pool
	run_route guest-new "guest-new"
	local base_new=$R_RPS
	run_route guest-login "guest-login"
	local base_login=$R_RPS
	log "starting $hang_conns Steam logins that hang at the provider"
	BENCH_PATH="/login-with-steam?steam_auth_token=hang" \
		wrk -t1 -c"$hang_conns" -d"$((2 * SECS + 6))s" --timeout 40s --latency \
		-s bench/wrk/static.lua "http://127.0.0.1:$PORT" >"$WORK/wrk-hang.out" 2>&1 &
	local hw=$!
	PIDS+=("$hw")
	sleep 3
	BASE_RATE=$base_new BASE_NAME=alone run_route guest-new "guest-new +hang"
	local hang_new=$R_RPS
	BASE_RATE=$base_login BASE_NAME=alone run_route guest-login "guest-login +hang"
	local hang_login=$R_RPS
	wait "$hw" || true
	forget_pid "$hw"
	local line
	line=$(grep '^BENCH ' "$WORK/wrk-hang.out" | tail -1 || true)
	print_table "scenario hang: guest logins while $hang_conns connections send Steam logins that the provider never answers (the fake hangs 30 s; provider_timeout 5 s, provider_workers 16)"
	say "hanging Steam logins (wrk -c$hang_conns, $((2 * SECS + 6)) s): ${line#BENCH }"
	say "  (status_errors = the 503 Platform unavailable answers, expected after provider_timeout;" \
		"p50 shows how long each waited)"
	say "under hang / alone: guest-new $(awk -v a="$hang_new" -v b="$base_new" \
		'BEGIN { printf "%.2f", b ? a / b : 0 }'), guest-login $(awk -v a="$hang_login" \
		-v b="$base_login" 'BEGIN { printf "%.2f", b ? a / b : 0 }')"
	machine_line
	print_legend
}

# (c) a database of N users: guest re-login, get-player-data and new guests against it.
mode_bigdb() {
	log "generating $BIG_N users (bench/gen-users.py)"
	local gen
	gen=$($PY bench/gen-users.py --db "$WORK/big.db" -n "$BIG_N" --bin "$BIN" \
		--pool "$WORK/big.pool" --sample "${BENCH_BIGDB_SAMPLE:-10000}")
	log "$gen"
	# Baseline: the same routes on a fresh database, same run.
	start_daemon "$WORK/db"
	measure_fsync
	measure_sign
	$PY bench/bench.py guests "$PORT" "$GUESTS" "$WORK/guests.pool"
	GUEST_POOL=$WORK/guests.pool
	run_route guest-login "guest-login (new db)"
	local b_login=$R_RPS
	run_route get-player-data "get (new db)"
	local b_get=$R_RPS
	run_route guest-new "guest-new (new db)"
	local b_new=$R_RPS
	stop_daemon
	local t0 t1
	t0=$(date +%s.%N)
	start_daemon "$WORK/big.db"
	t1=$(date +%s.%N)
	# re-login: random users of the whole table (the sample); get-player-data: a part of them
	GUEST_POOL=$WORK/big.pool
	BASE_RATE=$b_login BASE_NAME="new db" run_route guest-login "guest-login (big)"
	head -n "${BENCH_BIGDB_TOKENS:-2000}" "$WORK/big.pool" >"$WORK/big-tokens-src.pool"
	GUEST_POOL=$WORK/big-tokens-src.pool
	log "logging in ${BENCH_BIGDB_TOKENS:-2000} sampled users for access tokens"
	BASE_RATE=$b_get BASE_NAME="new db" run_route get-player-data "get (big)"
	BASE_RATE=$b_new BASE_NAME="new db" run_route guest-new "guest-new (big)"
	local size
	size=$(du -cb "$WORK"/big.db* | awk 'END { printf "%.0f MiB", $1 / 1048576 }')
	print_table "scenario bigdb: $BIG_N users (each with a player_name document) vs a new database"
	say "generation: $gen"
	say "database after the run: $size (big.db + WAL); daemon start on it $(awk -v a="$t0" -v b="$t1" \
		'BEGIN { printf "%.1f s", b - a }'); re-login uses ${BENCH_BIGDB_SAMPLE:-10000} random" \
		"users of the table, get-player-data ${BENCH_BIGDB_TOKENS:-2000} of them"
	machine_line
	print_legend
}

main() {
	case "$MODE" in
	routes) mode_routes ;;
	idle) mode_idle ;;
	hang) mode_hang ;;
	bigdb) mode_bigdb ;;
	esac
	[ -n "${BENCH_OUT:-}" ] && cp "$REPORT" "$BENCH_OUT"
	return 0
}
# One line, so that editing this file during a run cannot change what the running shell reads.
main; exit $?
