#!/usr/bin/env bash
# golangci-lint at a pinned version, with the project's config.
# Usage: scripts/lint.sh [packages…]   (default ./...; e.g. scripts/lint.sh ./consumer/...)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -eq 0 ]; then
  set -- ./...
fi
exec go run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0 run "$@"
