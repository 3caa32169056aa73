"""Fixtures of the djangoauth compat suite (see docs/djangoauth-compat.md)."""

from __future__ import annotations

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from djangoauth_cases import PROFILES_BY_NAME  # noqa: E402
from djangoauth_harness import ProfileRun, run_profile  # noqa: E402

AUTHCHECK_PKG = "./compat_tests/cmd/authcheck"

_runs: dict[str, ProfileRun] = {}


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
def djangoauth_run(tmp_path_factory, postgres_server, redis_server, authcheck_binary):
    """djangoauth_run(profile_name) -> ProfileRun, computed once per profile and session."""

    def get(name: str) -> ProfileRun:
        if name not in _runs:
            workdir = str(tmp_path_factory.mktemp(f"djangoauth-{name}"))
            _runs[name] = run_profile(PROFILES_BY_NAME[name], workdir, postgres_server,
                                      redis_server, authcheck_binary)
        return _runs[name]

    return get


def pytest_terminal_summary(terminalreporter):
    if not _runs:
        return
    terminalreporter.section("djangoauth compat: what ran")
    for name, run in _runs.items():
        v = ", ".join(f"{k} {val}" for k, val in run.versions.items())
        terminalreporter.write_line(f"{name}: {v}")
