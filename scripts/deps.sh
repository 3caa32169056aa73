#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine, idempotently:
# Debian packages (redis-server, redis-sentinel, PostgreSQL, Chromium), the Python
# venvs with pinned packages, and the Go modules.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v redis-sentinel >/dev/null || need_apt+=(redis-sentinel)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v chromium >/dev/null || need_apt+=(chromium)
# mysql: a throwaway MariaDB for djangoauth's MySQL tests, and what pip needs to build
# mysqlclient (Django's MySQL driver) in the compat venvs.
{ [ -x /usr/sbin/mariadbd ] || command -v mariadbd >/dev/null; } || need_apt+=(mariadb-server)
{ command -v pkg-config >/dev/null && pkg-config --exists mysqlclient; } ||
  need_apt+=(default-libmysqlclient-dev pkg-config)
command -v gcc >/dev/null || need_apt+=(build-essential)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "deps: apt-get install ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# Debian starts these services on install; the tests start their own on free ports.
for svc in redis-server postgresql mariadb; do
  (command -v service >/dev/null && service "$svc" stop >/dev/null 2>&1) || true
done

# venv_for NAME REQUIREMENTS: a venv under .venvs/NAME, rebuilt when the file changes.
venv_for() {
  local dir=$1 req=$2 stamp
  stamp="$dir/.requirements.sha256"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(sha256sum "$req" | cut -d' ' -f1)" ]; then
    return 0
  fi
  echo "deps: building $dir from $req"
  rm -rf "$dir"
  # An env file may ask for another interpreter (`# python: python3.12`): found on PATH or
  # among pyenv's versions; without it the venv falls back to python3, and says so.
  local want py=""
  want=$(sed -n 's/^# python: //p' "$req")
  if [ -n "$want" ]; then
    for cand in "$want" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/*/bin/"$want"; do
      if "$cand" -c 'import sys' >/dev/null 2>&1; then py=$cand; break; fi
    done
    [ -n "$py" ] || echo "deps: $want not found for $req, using python3"
  fi
  ${py:-python3} -m venv "$dir"
  "$dir/bin/pip" install -q --disable-pip-version-check $(sed -n 's/^# pip-flags: //p' "$req") -r "$req"
  sha256sum "$req" | cut -d' ' -f1 >"$stamp"
}
venv_for .venv compat_tests/requirements.txt
# The compat venvs are independent: build them at the same time (pip's cache is safe to share),
# each into a log printed once it is done; any failure fails the script after all have ended.
jobs=()
for req in compat_tests/envs/*.txt; do
  [ -e "$req" ] || continue
  log=$(mktemp)
  (venv_for ".venvs/$(basename "$req" .txt)" "$req") >"$log" 2>&1 &
  jobs+=("$!|$log|$req")
done
failed=0
for j in ${jobs[@]+"${jobs[@]}"}; do
  IFS='|' read -r pid log req <<<"$j"
  if ! wait "$pid"; then
    failed=1
    echo "deps: building the venv for $req failed:"
  fi
  cat "$log"
  rm -f "$log"
done
[ "$failed" = 0 ] || exit 1

go mod download
