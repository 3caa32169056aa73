"""Shared fixtures: real servers on free ports and Go programs built with -race."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from harness.servers import scratch_dir, start_postgres, start_redis  # noqa: E402


@pytest.fixture(scope="session")
def redis_server():
    """One redis-server for the whole run. Tests isolate themselves with unique prefixes."""
    r = start_redis()
    yield r
    r.stop()


@pytest.fixture
def redis_factory():
    """Start extra redis-servers (sharding, restarts); all stopped at teardown."""
    started = []

    def make(extra=None, port=None):
        r = start_redis(extra, port)
        started.append(r)
        return r

    yield make
    for r in started:
        r.stop(kill=True)


@pytest.fixture(scope="session")
def postgres_server():
    pg = start_postgres()
    yield pg
    pg.stop()


_built: dict[str, str] = {}


@pytest.fixture(scope="session")
def go_build():
    """go_build("./compat_tests/cmd/layerctl") -> path of a binary built with -race."""
    out = scratch_dir("laurel-bin-")

    def build(pkg: str) -> str:
        if pkg in _built:
            return _built[pkg]
        path = os.path.join(out, os.path.basename(pkg.rstrip("/")))
        subprocess.run(["go", "build", "-race", "-o", path, pkg], cwd=ROOT, check=True)
        _built[pkg] = path
        return path

    return build


# --- mariadb_server (djangoauth's MySQL/MariaDB session engine) -------------------------------


@pytest.fixture(scope="session")
def mariadb_server():
    """A throwaway MariaDB server (harness/mariadb.py): `.port`, `.dsn(db)`, `.createdb(name)`,
    `.sql(statement)`; root@127.0.0.1 with an empty password."""
    from harness.mariadb import start_mariadb

    m = start_mariadb()
    yield m
    m.stop()
