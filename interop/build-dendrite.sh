#!/usr/bin/env bash
# Builds Dendrite v0.15.2's binaries (dendrite, create-account,
# generate-config, generate-keys) for the interop tests, from the module in
# dendritebuild/, which requires only Dendrite, so Dendrite builds with its
# own pinned gomatrixserverlib. The binaries go into $DENDRITE_BIN_DIR
# (default $HOME/.cache/embedmatrix-interop/dendrite-v0.15.2); the build is
# skipped when they are all there already. Prints the directory last.
set -euo pipefail
cd "$(dirname "$0")/dendritebuild"

version=v0.15.2
dir="${DENDRITE_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/embedmatrix-interop/dendrite-$version}"
tools=(dendrite create-account generate-config generate-keys)

missing=0
for t in "${tools[@]}"; do
  [ -x "$dir/$t" ] || missing=1
done
if [ "$missing" = 0 ]; then
  echo "build-dendrite: Dendrite $version binaries already in $dir" >&2
  echo "$dir"
  exit 0
fi

command -v gcc >/dev/null 2>&1 || { echo "build-dendrite: gcc is needed (cgo SQLite)" >&2; exit 1; }
mkdir -p "$dir"
start=$(date +%s)
echo "build-dendrite: building Dendrite $version into $dir" >&2
tmp=$(mktemp -d "$dir/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pkgs=()
for t in "${tools[@]}"; do
  pkgs+=("github.com/element-hq/dendrite/cmd/$t")
done

CGO_ENABLED=1 go build -trimpath -o "$tmp/" "${pkgs[@]}"
for t in "${tools[@]}"; do
  mv -f "$tmp/$t" "$dir/$t"
done
echo "build-dendrite: built in $(( $(date +%s) - start ))s" >&2
echo "$dir"
