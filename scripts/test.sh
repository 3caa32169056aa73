#!/usr/bin/env bash
# The whole test suite: installs what it needs, then runs lint, the Go tests with
# -race against a real redis-server, a short fuzz pass, and the Python compat suite
# in every environment under compat_tests/envs. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/deps.sh

work=$(mktemp -d)
cleanup() {
  [ -f "$work/redis.pid" ] && kill "$(cat "$work/redis.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# A throwaway redis-server for the Go integration tests.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
  --daemonize yes --pidfile "$work/redis.pid" --logfile "$work/redis.log"
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
export REDIS_URL="redis://127.0.0.1:$port/0"

echo "== gofmt / go vet"
unformatted=$(gofmt -l $(git ls-files '*.go') 2>/dev/null || true)
if [ -n "$unformatted" ]; then echo "not gofmt-formatted:"; echo "$unformatted"; exit 1; fi
go vet ./...

echo "== golangci-lint"
scripts/lint.sh

echo "== go test -race"
go test -race -count=1 ./...

echo "== go fuzz (short)"
scripts/fuzz.sh 10s

echo "== compat_tests (main environment)"
.venv/bin/python -m pytest -c compat_tests/pytest.ini compat_tests

for req in compat_tests/envs/*.txt; do
  [ -e "$req" ] || continue
  name=$(basename "$req" .txt)
  args=$(sed -n 's/^# pytest-args: //p' "$req")
  echo "== compat_tests ($name): $args"
  # shellcheck disable=SC2086
  ".venvs/$name/bin/python" -m pytest -c compat_tests/pytest.ini $args
done
echo "== all tests passed"
