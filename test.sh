#!/usr/bin/env bash
# Runs every test of the project on this machine, installing what the tests
# need first (as root, from Debian's packages: gcc, PostgreSQL, Chromium;
# Dendrite is built from the Go module proxy). This is the test command
# README.md gives and .ci/run calls.
#
#   ./test.sh            everything
#   HS_QUICK=1 ./test.sh only the library's own module (no PostgreSQL,
#                        no Dendrite, no browser)
#
# Each part's own command, to run it alone: interop/run.sh,
# examples/chatd/browsertest/run.sh, bash .ci/postgres.sh.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$PATH:/usr/local/go/bin"
start=$(date +%s)
step() { echo; echo "== $* ($(( $(date +%s) - start ))s)"; }

step "toolchain"
go version
if ! command -v gcc >/dev/null 2>&1; then
  apt-get update && apt-get install -y gcc
fi

step "gofmt and go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt needed:"; echo "$unformatted"; exit 1; fi
go vet ./...

if [ -z "${HS_QUICK:-}" ]; then
  step "PostgreSQL for storage/postgres"
  bash .ci/postgres.sh /tmp/hs_postgres.env
  . /tmp/hs_postgres.env
  export HS_POSTGRES_REQUIRED=1
fi

step "the library: go test -race ./..."
go test -race -count=1 -timeout 30m ./...

if [ -z "${HS_QUICK:-}" ]; then
  step "interop against a real Dendrite"
  interop/run.sh
fi

if [ -z "${HS_QUICK:-}" ]; then
  step "chatd in a real browser (headless Chromium)"
  examples/chatd/browsertest/run.sh
fi

step "done"
