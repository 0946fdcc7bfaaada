#!/bin/sh
# Runs the libFuzzer targets (called by tests/fuzz/fuzz.mk).
#
#   run.sh fuzz TARGET...     fuzz each for $FUZZ_SECONDS, $FUZZ_JOBS at once, on a
#                             scratch copy of its corpus under $FUZZ_DIR/run/TARGET
#   run.sh regress TARGET...  replay tests/fuzz/corpus/TARGET and
#                             tests/fuzz/regressions/TARGET once
#   run.sh one TARGET         (internal) one fuzzing run
#
# Nothing is ever written into tests/fuzz/. Fails when any target finds a
# crash, leak or timeout, and names the reproducer.
set -u
here=$(cd "$(dirname "$0")" && pwd)
FUZZ_DIR=${FUZZ_DIR:-build/fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_JOBS=${FUZZ_JOBS:-2}
FUZZ_RUN_FLAGS=${FUZZ_RUN_FLAGS:--timeout=10 -rss_limit_mb=2048}
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

mode=$1
shift

one() {
	t=$1
	bin=$FUZZ_DIR/fuzz_$t
	run=$FUZZ_DIR/run/$t
	rm -rf "$run"
	mkdir -p "$run/corpus" "$run/artifacts" "$run/tmp"
	for d in "$here/corpus/$t" "$here/regressions/$t"; do
		[ -d "$d" ] && find "$d" -type f -exec cp {} "$run/corpus/" \;
	done
	dict=
	[ -f "$here/$t.dict" ] && dict="-dict=$here/$t.dict"
	maxlen=$(eval "echo \${FUZZ_MAXLEN_$t:-4096}")
	# shellcheck disable=SC2086
	TMPDIR=$run/tmp "$bin" -max_total_time="$FUZZ_SECONDS" -max_len="$maxlen" \
		$FUZZ_RUN_FLAGS $dict -print_final_stats=1 \
		-artifact_prefix="$run/artifacts/" "$run/corpus" \
		</dev/null >"$run/log" 2>&1
	rc=$?
	stats=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$run/log" | tail -n 1)
	execs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$run/log")
	if [ $rc -ne 0 ]; then
		echo "fuzz_$t: FAILED (exit $rc); log $run/log"
		for a in "$run"/artifacts/*; do
			[ -e "$a" ] && echo "fuzz_$t: reproducer $a  (replay: $bin $a)"
		done
		grep -m 3 -E 'ERROR: |runtime error:|SUMMARY:' "$run/log" | sed "s/^/fuzz_$t: /"
		return 1
	fi
	echo "fuzz_$t: ok, ${execs:-?} exec/s; $stats"
	return 0
}

case $mode in
one)
	one "$1"
	;;
fuzz)
	[ $# -gt 0 ] || exit 0
	results=$FUZZ_DIR/run/results
	mkdir -p "$FUZZ_DIR/run"
	: >"$results"
	# FUZZ_JOBS targets at once; each prints one summary line.
	printf '%s\n' "$@" | xargs -P "$FUZZ_JOBS" -I{} "$0" one {} | tee "$results"
	if grep -q FAILED "$results"; then
		echo "fuzzing found problems: see the reproducers above"
		exit 1
	fi
	echo "fuzzing found nothing in ${FUZZ_SECONDS}s per target"
	;;
regress)
	status=0
	for t in "$@"; do
		files=$(find "$here/corpus/$t" "$here/regressions/$t" -type f 2>/dev/null | sort)
		if [ -z "$files" ]; then
			echo "fuzz_$t: no inputs"
			continue
		fi
		n=$(printf '%s\n' "$files" | wc -l)
		log=$FUZZ_DIR/regress-$t.log
		mkdir -p "$FUZZ_DIR/tmp"
		# Only files as arguments: libFuzzer runs each once. (Names have no spaces.)
		# shellcheck disable=SC2086
		if TMPDIR=$FUZZ_DIR/tmp "$FUZZ_DIR/fuzz_$t" $FUZZ_RUN_FLAGS $files \
			</dev/null >"$log" 2>&1; then
			echo "fuzz_$t: $n inputs replayed"
		else
			echo "fuzz_$t: FAILED replaying its inputs; log $log"
			grep -E '^Running: |ERROR: |runtime error:|SUMMARY:' "$log" | tail -n 4 |
				sed "s/^/fuzz_$t: /"
			status=1
		fi
	done
	[ $status -eq 0 ] && echo "fuzz regressions passed" || echo "fuzz regressions FAILED"
	exit $status
	;;
*)
	echo "usage: $0 fuzz|regress TARGET..." >&2
	exit 2
	;;
esac
