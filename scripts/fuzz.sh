#!/usr/bin/env bash
# Runs every Go fuzz target for the given time each (default 10s), one after another.
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-10s}
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  targets=$(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u || true)
  for t in $targets; do
    echo "fuzz $pkg $t ($dur)"
    go test -run='^$' -fuzz="^$t\$" -fuzztime="$dur" "$pkg"
  done
done
