#!/usr/bin/env bash
# The whole test suite: installs what it needs, then runs lint, the Go tests with
# -race against a real redis-server, a short fuzz pass, and the Python compat suite
# in every environment under compat_tests/envs. Exits non-zero on any failure.
#
#   scripts/test.sh          everything (`make test`, CI)
#   scripts/test.sh compat   the Python compat suite only (`make compat`)
#
# The compat suite is discovered, never listed: every compat_tests folder holding a
# test_*.py is one stage, so a new folder is run by both commands without editing either.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mode=${1:-all}
case $mode in
  all | compat) ;;
  *) echo "usage: $0 [compat]" >&2; exit 2 ;;
esac

scripts/deps.sh

work=$(mktemp -d)
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  [ -f "$work/redis.pid" ] && kill "$(cat "$work/redis.pid")" 2>/dev/null || true
  [ -d "$work/pg/data" ] && as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -m fast stop >/dev/null 2>&1 || true
  [ -f "$work/mysql/mariadbd.pid" ] && kill "$(cat "$work/mysql/mariadbd.pid")" 2>/dev/null &&
    for _ in $(seq 100); do [ -f "$work/mysql/mariadbd.pid" ] || break; sleep 0.1; done || true
  rm -rf "$work"
}
trap cleanup EXIT

# go_test_servers: a throwaway redis-server, PostgreSQL and MariaDB for the Go integration
# tests (the compat suites start their own servers).
go_test_servers() {
  # A throwaway redis-server for the Go integration tests.
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
    --daemonize yes --pidfile "$work/redis.pid" --logfile "$work/redis.log"
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  export REDIS_URL="redis://127.0.0.1:$port/0"

  # A throwaway PostgreSQL for djangoauth's Go integration tests.
  chmod 755 "$work"; mkdir -p "$work/pg"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$work/pg"
  pgport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  as_pg "$pgbin/initdb" -D "$work/pg/data" -U postgres -A trust --no-sync -E UTF8 >/dev/null
  as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -w -l "$work/pg/pg.log" \
    -o "-p $pgport -h 127.0.0.1 -k $work/pg -c fsync=off" start >/dev/null
  export LAUREL_TEST_POSTGRES="postgres://postgres@127.0.0.1:$pgport/postgres?sslmode=disable"

  # mysql: a throwaway MariaDB for djangoauth's Go integration tests (root, empty password, TCP).
  mkdir -p "$work/mysql"
  mysql_user=(); [ "$(id -u)" = 0 ] && { chown mysql:mysql "$work/mysql"; mysql_user=(--user=mysql); }
  myport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mariadb-install-db --no-defaults --datadir="$work/mysql/data" "${mysql_user[@]}" \
    --auth-root-authentication-method=normal --skip-test-db >"$work/mysql/install.log" 2>&1
  mariadbd --no-defaults --datadir="$work/mysql/data" --port="$myport" --bind-address=127.0.0.1 \
    --socket="$work/mysql/sock" --pid-file="$work/mysql/mariadbd.pid" --log-error="$work/mysql/error.log" \
    "${mysql_user[@]}" --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
    --skip-log-bin --innodb-flush-log-at-trx-commit=0 --innodb-buffer-pool-size=64M >/dev/null 2>&1 &
  for _ in $(seq 300); do
    mariadb --no-defaults -h 127.0.0.1 -P "$myport" -u root -e 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.2
  done
  mariadb --no-defaults -h 127.0.0.1 -P "$myport" -u root \
    -e 'CREATE DATABASE laurel_test CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci'
  export LAUREL_TEST_MYSQL="root@tcp(127.0.0.1:$myport)/laurel_test"
}

failed=()
# stage NAME CMD...: runs one stage; a failure is recorded and the next stage still runs,
# so one CI log shows every problem.
stage() {
  local name=$1; shift
  echo "== $name"
  local t0=$SECONDS
  if "$@"; then
    echo "== $name: ok ($((SECONDS - t0))s)"
  else
    echo "== $name: FAILED ($((SECONDS - t0))s)"
    failed+=("$name")
  fi
}

gofmt_check() {
  local unformatted
  unformatted=$(gofmt -l $(git ls-files '*.go') 2>/dev/null || true)
  [ -z "$unformatted" ] || { echo "not gofmt-formatted:"; echo "$unformatted"; return 1; }
}

if [ "$mode" = all ]; then
  go_test_servers
  stage "gofmt" gofmt_check
  stage "go vet" go vet ./...
  stage "golangci-lint" scripts/lint.sh
  stage "go test -race" go test -race -count=1 ./...
  stage "go fuzz (short)" scripts/fuzz.sh 20000x
fi

# Each folder of the compat suite runs in its own pytest process: the folders are
# independent suites (their helper modules share names such as client.py) and each
# starts its own servers. A folder counts when it holds a test_*.py.
compat_dirs=()
for dir in compat_tests/*/; do
  compgen -G "${dir}test_*.py" >/dev/null && compat_dirs+=("${dir%/}")
done
[ ${#compat_dirs[@]} -gt 0 ] || { echo "no compat_tests folder with tests found" >&2; exit 1; }
for dir in "${compat_dirs[@]}"; do
  stage "$dir" .venv/bin/python -m pytest -c compat_tests/pytest.ini "$dir"
done

for req in compat_tests/envs/*.txt; do
  [ -e "$req" ] || continue
  name=$(basename "$req" .txt)
  # shellcheck disable=SC2046
  stage "compat_tests ($name)" ".venvs/$name/bin/python" -m pytest -c compat_tests/pytest.ini \
    $(sed -n 's/^# pytest-args: //p' "$req")
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "== FAILED stages: ${failed[*]}"
  exit 1
fi
echo "== all stages passed"
