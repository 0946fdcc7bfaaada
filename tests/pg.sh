#!/bin/sh
# tests/pg.sh - a throwaway PostgreSQL cluster for the tests.
#
#   tests/pg.sh run CMD [ARGS...]   start a cluster, run CMD with GH_TEST_DATABASE_URL
#                                   exported (its admin URL: a role allowed to create
#                                   databases), stop the cluster, exit with CMD's status
#   tests/pg.sh check               exit 0 when a cluster can be started here
#   tests/pg.sh start               start one and leave it running: prints
#                                   GH_TEST_DATABASE_URL=, GH_TEST_PG_DIR= and GH_TEST_PG_BIN=
#                                   lines (a test that stops and starts its own server)
#   tests/pg.sh stop DIR            stop the cluster in DIR and remove DIR
#
# The cluster: initdb as the postgres user (runuser) in a fresh directory under /tmp
# (mode 700, owned by postgres), a free loopback port, the unix socket in that
# directory, a role with a scram password; pg_ctl -w start, pg_ctl -m immediate stop
# on exit. No systemd, nothing under /etc. Without PostgreSQL (no initdb) or when not
# root, 'run' still runs CMD, without the variable, so PostgreSQL tests skip with a
# reason; GH_TEST_REQUIRE_PG=1 (CI) makes that an error instead.
set -eu

pgbin() {
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && { echo "$d"; return 0; }
	done
	command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
	return 1
}

usable() {
	BIN=$(pgbin) || { echo "tests/pg.sh: no PostgreSQL server here (initdb not found)" >&2; return 1; }
	[ "$(id -u)" = 0 ] || { echo "tests/pg.sh: needs root (initdb runs as the postgres user)" >&2; return 1; }
	id postgres >/dev/null 2>&1 || { echo "tests/pg.sh: no postgres user" >&2; return 1; }
	return 0
}

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

as_pg() { runuser -u postgres -- "$@"; }

start() {
	DIR=$(mktemp -d /tmp/gh-pg.XXXXXX)
	chmod 700 "$DIR"
	chown postgres:postgres "$DIR"
	PORT=$(free_port)
	PASS=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
	as_pg "$BIN/initdb" -D "$DIR/data" -U postgres --auth-host=scram-sha-256 \
		--auth-local=trust --no-sync -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 || {
		cat "$DIR/initdb.log" >&2; return 1; }
	cat >>"$DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
max_connections = 300
fsync = on
synchronous_commit = off
shared_buffers = 32MB
log_min_messages = warning
CONF
	as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start >/dev/null || {
		cat "$DIR/server.log" >&2; return 1; }
	as_pg "$BIN/psql" -h "$DIR" -p "$PORT" -U postgres -d postgres -qAt -v ON_ERROR_STOP=1 \
		-c "CREATE ROLE gh LOGIN CREATEDB PASSWORD '$PASS'" \
		-c "CREATE DATABASE gh OWNER gh" >/dev/null
	GH_TEST_DATABASE_URL="postgresql://gh:$PASS@127.0.0.1:$PORT/gh"
	GH_TEST_PG_DIR=$DIR
	GH_TEST_PG_BIN=$BIN
	export GH_TEST_DATABASE_URL GH_TEST_PG_DIR GH_TEST_PG_BIN
}

stop() {
	[ -n "${DIR:-}" ] || return 0
	as_pg "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$DIR"
}

case "${1:-}" in
check)
	usable
	;;
start)
	usable
	start
	echo "GH_TEST_DATABASE_URL=$GH_TEST_DATABASE_URL"
	echo "GH_TEST_PG_DIR=$GH_TEST_PG_DIR"
	echo "GH_TEST_PG_BIN=$GH_TEST_PG_BIN"
	;;
stop)
	usable
	DIR=${2:?usage: tests/pg.sh stop DIR}
	case "$DIR" in /tmp/gh-pg.*) ;; *) echo "tests/pg.sh: not a cluster of ours: $DIR" >&2; exit 2 ;; esac
	stop
	;;
run)
	shift
	[ $# -gt 0 ] || { echo "usage: tests/pg.sh run CMD [ARGS...]" >&2; exit 2; }
	if ! usable; then
		[ "${GH_TEST_REQUIRE_PG:-0}" = 1 ] && exit 1
		echo "tests/pg.sh: PostgreSQL tests will skip" >&2
		exec "$@"
	fi
	trap stop EXIT INT TERM
	start
	set +e
	"$@"
	rc=$?
	set -e
	exit $rc
	;;
*)
	echo "usage: tests/pg.sh run CMD [ARGS...] | tests/pg.sh check" >&2
	exit 2
	;;
esac
