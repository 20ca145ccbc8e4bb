#!/usr/bin/env bash
# Runs every test of the module: vet, then all packages with the race
# detector. This is the command README.md gives and .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")"
test -z "$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
go vet ./...
go test -race -count=1 -timeout 20m ./...
