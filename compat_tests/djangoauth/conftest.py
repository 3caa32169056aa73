"""Fixtures of the djangoauth compat suite (see docs/djangoauth-compat.md)."""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from djangoauth_cases import PROFILES_BY_NAME  # noqa: E402
from djangoauth_harness import ProfileRun, run_profile  # noqa: E402

AUTHCHECK_PKG = "./compat_tests/cmd/authcheck"

_runs: dict[str, ProfileRun | Exception] = {}
_runs_lock = threading.Lock()
# Profiles the selected tests need, in collection order (filled by pytest_collection_finish).
_wanted: list[str] = []
# Profiles run at once. Each run is mostly a Django subprocess plus authcheck subprocesses; two
# at a time keep both cores busy.
PARALLEL_PROFILES = max(1, min(2, os.cpu_count() or 1))


def pytest_collection_finish(session):
    for item in session.items:
        if os.path.dirname(str(item.path)) != HERE:
            continue
        callspec = getattr(item, "callspec", None)
        name = callspec.params.get("profile_name") if callspec else None
        if name and name not in _wanted:
            _wanted.append(name)


@pytest.fixture(scope="session")
def authcheck_binary(go_build):
    """A callable returning the -race authcheck binary; it raises (and keeps raising) when the
    build fails, so every laurel comparison fails with the build error."""
    result: dict = {}

    def get() -> str:
        if "error" in result:
            raise result["error"]
        if "path" not in result:
            try:
                result["path"] = go_build(AUTHCHECK_PKG)
            except Exception as e:  # noqa: BLE001
                result["error"] = RuntimeError(f"building {AUTHCHECK_PKG} failed: {e}")
                raise result["error"] from e
        return result["path"]

    return get


@pytest.fixture(scope="session")
def djangoauth_run(request, tmp_path_factory, postgres_server, redis_server, authcheck_binary):
    """djangoauth_run(profile_name) -> ProfileRun, computed once per profile and session."""
    # MariaDB is started only when a selected test needs a MySQL profile; if it cannot start,
    # only the MySQL profiles fail (with the reason), not the whole suite.
    mariadb_server = None
    if any(PROFILES_BY_NAME[n].database == "mysql" for n in _wanted):
        try:
            mariadb_server = request.getfixturevalue("mariadb_server")
        except Exception as e:  # noqa: BLE001 - re-raised by every MySQL profile
            mariadb_server = e

    def one(name: str) -> ProfileRun | Exception:
        try:
            if PROFILES_BY_NAME[name].database == "mysql" and isinstance(mariadb_server, Exception):
                raise RuntimeError("the mariadb_server fixture did not start") from mariadb_server
            workdir = str(tmp_path_factory.mktemp(f"djangoauth-{name}"))
            return run_profile(PROFILES_BY_NAME[name], workdir, postgres_server, redis_server,
                               authcheck_binary, mariadb_server)
        except Exception as e:  # noqa: BLE001 - re-raised in every test of the profile
            return e

    def get(name: str) -> ProfileRun:
        with _runs_lock:
            if name not in _runs:
                # Run this profile and the next ones the selected tests need, PARALLEL_PROFILES
                # at once (one round per test, so no single test waits for the whole matrix and
                # runs into pytest-timeout). The binary is built first so parallel runs do not
                # race to build it.
                try:
                    authcheck_binary()
                except Exception:  # noqa: BLE001 - each run records the error itself
                    pass
                todo = [n for n in dict.fromkeys([name, *_wanted]) if n not in _runs]
                todo = todo[:PARALLEL_PROFILES]
                with ThreadPoolExecutor(PARALLEL_PROFILES) as pool:
                    for n, run in zip(todo, pool.map(one, todo)):
                        _runs[n] = run
            run = _runs[name]
        if isinstance(run, Exception):
            raise RuntimeError(f"profile {name} did not run") from run
        return run

    return get


def pytest_terminal_summary(terminalreporter):
    if not _runs:
        return
    terminalreporter.section("djangoauth compat: what ran")
    for name, run in _runs.items():
        if isinstance(run, Exception):
            terminalreporter.write_line(f"{name}: did not run: {run}")
            continue
        v = ", ".join(f"{k} {val}" for k, val in run.versions.items())
        terminalreporter.write_line(f"{name}: {v}")
