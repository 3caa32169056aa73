#!/usr/bin/env bash
# golangci-lint at a pinned version, with the project's config.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0 run ./...
