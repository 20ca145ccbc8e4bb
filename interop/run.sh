#!/usr/bin/env bash
# Runs the Dendrite interop suite: builds Dendrite v0.15.2 once into a cache
# directory (build-dendrite.sh; skipped when the binaries are there), then
# runs every interop test with INTEROP_REQUIRED=1, so a missing Dendrite
# fails instead of skipping. Extra arguments go to go test (e.g. -run).
#
#   interop/run.sh                        # from anywhere
#   DENDRITE_BIN_DIR=/some/dir interop/run.sh
#
# Environment: INTEROP_KNOWN_BUGS=1 also runs what is skipped for a known
# bug (it fails); INTEROP_LOG=debug shows our server's logs; INTEROP_DENDRITE_LOG=debug
# writes Dendrite's debug log; INTEROP_KEEP=1 keeps the shared Dendrite's
# directory of a failed run.
set -euo pipefail
cd "$(dirname "$0")"

start=$(date +%s)
DENDRITE_BIN_DIR="$(./build-dendrite.sh)"
export DENDRITE_BIN_DIR
built=$(date +%s)
echo "run.sh: Dendrite binaries in $DENDRITE_BIN_DIR ($((built - start))s)"

test -z "$(gofmt -l .)" || { echo "run.sh: gofmt needed:"; gofmt -l .; exit 1; }
go vet ./...

export INTEROP_REQUIRED=1
figures="$(mktemp)"
trap 'rm -f "$figures"' EXIT
export INTEROP_FIGURES="$figures"
status=0
go test -count=1 -v -timeout 15m "$@" ./... || status=$?
if [ -s "$figures" ]; then
  echo "--- interop figures"
  cat "$figures"
fi
echo "run.sh: tests took $(($(date +%s) - built))s, exit $status"
exit "$status"
