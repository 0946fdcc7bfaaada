# bench/lib.sh - what bench/run.sh and bench/cluster.sh share (sourced; each
# script defines die and PY first).

# A free loopback port.
free_port() {
	$PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_up URL PID LOG WHAT: until URL answers 2xx; dies naming WHAT (with LOG's
# last lines) when PID exits or a minute passes.
wait_up() {
	local i=0
	until curl -sf "$1" >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 600 ] || ! kill -0 "$2" 2>/dev/null; then
			tail -20 "$3" >&2
			die "$4 did not start"
		fi
		sleep 0.1
	done
}
