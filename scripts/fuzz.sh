#!/usr/bin/env bash
# Runs every Go fuzz target for the given budget each (default 10s), one after another.
# The budget is -fuzztime's: a duration (30s, 2m) or a count of executions (20000x).
# CI uses a count: Go 1.26's fuzz coordinator can fail a target with a bare
# "context deadline exceeded" when a duration runs out (golang/go#75804, fixed in Go 1.27);
# a count sets no deadline, so that race cannot happen.
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
