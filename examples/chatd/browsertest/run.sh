#!/bin/sh
# Runs chatd's browser test: two chatd processes on loopback, driven in
# headless chromium. Installs Debian's chromium first when it is missing
# (needs root or sudo). Screenshots and chatd logs go to $BROWSERTEST_OUT,
# or to a new /tmp/chatd-browsertest-* directory; the test prints which.
#
#   examples/chatd/browsertest/run.sh
set -eu
cd "$(dirname "$0")"

if [ -z "${CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
	echo "run.sh: installing chromium" >&2
	sudo=""
	if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

exec go test -count=1 -v -timeout 5m ./...
