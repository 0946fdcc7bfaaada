#!/bin/sh
# Installs the Debian 12 packages gatehouse needs, when they are missing.
#   scripts/deps.sh          what building and running the daemon needs
#   scripts/deps.sh test     that plus what the test suite needs
#   scripts/deps.sh bench    that plus what bench/ needs
# Needs root (or sudo) only when something is missing.
set -eu

BUILD="gcc make pkg-config libc6-dev libmicrohttpd-dev libjansson-dev libsqlite3-dev libssl-dev libcurl4-openssl-dev libsystemd-dev libpq-dev"
TEST="python3 python3-jwt python3-cryptography valgrind sqlite3 curl prometheus systemd man-db clang libclang-rt-14-dev nginx libjwt-dev postgresql-15 postgresql-client-15 chromium"
# chromium: the web console's browser test (make browser), driven by playwright-core
# from npm, which make installs into build/npm.
# The Node.js recipe (examples/verify-node-jose) needs node and npm; a node
# installed otherwise (NodeSource, nvm) will do.
command -v node >/dev/null 2>&1 || TEST="$TEST nodejs npm"
BENCH="wrk curl python3 openssl"

want="$BUILD"
[ "${1:-}" = test ] && want="$BUILD $TEST"
[ "${1:-}" = bench ] && want="$BUILD $BENCH"

# Redocly's CLI (make openapi-lint) runs on node; any node >= 20.19 will do,
# so Debian's packages are installed only when there is none.
if [ "${1:-}" = test ] && ! command -v node >/dev/null 2>&1; then
	want="$want nodejs npm"
fi

missing=""
for p in $want; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

echo "installing missing packages:$missing"
if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "error: run as root, or install:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
