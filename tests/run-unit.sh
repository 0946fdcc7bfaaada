#!/bin/sh
# Runs each unit-test binary given, prints its summary, fails if any failed.
status=0
for t in "$@"; do
	printf '%s: ' "$(basename "$t")"
	if ! out=$("$t" 2>&1); then
		status=1
		printf '%s\n' "$out"
	else
		printf '%s\n' "$out" | tail -n 1
	fi
done
[ $status -eq 0 ] && echo "unit tests passed" || echo "unit tests FAILED"
exit $status
