"""The e2e stack, started once per session, and the `target` fixture (daphne, laurel).

Stack: a redis-server of its own (channel layer on db 0, Celery broker on db 1, cache on db 2), the
reference Django project (compat_tests/djproject) migrated into a fresh SQLite file with two test
users, a real Celery worker (solo pool), Daphne serving djproject.asgi:application, and — only when
the laurel target is selected — `laurel serve` in front of Daphne with `--upstream`, configured by a
TOML file generated from the project's real settings (manage.py laurel_settings).

TARGETS is the single switch that decides which servers the scenarios run against. LAUREL_E2E_TARGETS
(comma list) overrides it for local runs. When "laurel" is selected, a laurel that does not build
fails the laurel-parametrized tests with the compiler's message; it is never skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import pytest
import redis as redis_py
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
COMPAT = os.path.dirname(HERE)
ROOT = os.path.dirname(COMPAT)
DJPROJECT = os.path.join(COMPAT, "djproject")
sys.path.insert(0, COMPAT)

from harness.racelog import RaceWatch, check_logs  # noqa: E402
from harness.servers import free_port, start_redis, wait_port  # noqa: E402

from .client import USERS  # noqa: E402

# The switch: servers every scenario runs against. Add "laurel" once `go build ./cmd/laurel` works
# and the handshake scenarios pass against it.
TARGETS = ["daphne", "laurel"]
if os.environ.get("LAUREL_E2E_TARGETS"):
    TARGETS = os.environ["LAUREL_E2E_TARGETS"].split(",")

BIN = os.path.dirname(sys.executable)


def _tail(path: str, n: int = 40) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


@dataclass
class Proc:
    """A long-running subprocess with its log file."""

    name: str
    proc: subprocess.Popen
    log: str
    race: RaceWatch = field(init=False)

    def __post_init__(self) -> None:
        self.race = RaceWatch(self.name, self.log)

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{_tail(self.log)}")

    def check_no_race(self) -> None:
        """laurel runs built with -race: a race report in its log fails the test that saw it."""
        self.race.check()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@dataclass
class Stack:
    """Everything the scenarios talk to. `env` is the environment the Django project runs with."""

    dir: str
    redis: object
    env: dict
    user_ids: dict
    procs: dict = field(default_factory=dict)
    daphne_port: int = 0
    laurel_port: int = 0
    laurel_error: str | None = None

    def start(self, name: str, args: list[str], cwd: str = DJPROJECT) -> Proc:
        log = os.path.join(self.dir, f"{name}.log")
        f = open(log, "wb")
        p = subprocess.Popen(args, cwd=cwd, env=self.env, stdout=f, stderr=subprocess.STDOUT)
        f.close()
        self.procs[name] = Proc(name, p, log)
        return self.procs[name]

    def manage(self, *args: str, timeout: float = 60) -> str:
        """Run `manage.py ARGS` with the project's environment; returns stdout, raises on failure."""
        out = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=DJPROJECT, env=self.env,
            capture_output=True, text=True, timeout=timeout,
        )
        if out.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout

    def layer_redis(self) -> redis_py.Redis:
        return redis_py.Redis(host="127.0.0.1", port=self.redis.port, db=0)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{_tail(p.log)}" for p in self.procs.values())


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items() if x is not None) + "}"
    raise TypeError(f"no TOML form for {v!r}")


def to_toml(d: dict, prefix: str = "") -> str:
    """A minimal TOML writer for the settings dict: scalars and lists first, then sub-tables."""
    lines, tables = [], []
    for k, v in d.items():
        if v is None:
            continue
        if isinstance(v, dict):
            tables.append((k, v))
        else:
            lines.append(f"{k} = {_toml_value(v)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for k, v in tables:
        name = f"{prefix}.{k}" if prefix else k
        out += f"\n[{name}]\n" + to_toml(v, name)
    return out


def _wait_log(proc: Proc, needle: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.check_alive()
        if needle in _tail(proc.log, 200):
            return
        time.sleep(0.1)
    raise TimeoutError(f"{proc.name} not ready after {timeout}s:\n{_tail(proc.log)}")


@pytest.fixture(scope="session")
def stack():
    d = tempfile.mkdtemp(prefix="laurel-e2e-")
    r = start_redis()
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="djproject.settings",
        DJANGO_REDIS_URL=f"redis://127.0.0.1:{r.port}",
        DJANGO_DB_PATH=os.path.join(d, "db.sqlite3"),
        PYTHONPATH=DJPROJECT,
        PYTHONUNBUFFERED="1",
        PATH=BIN + os.pathsep + env.get("PATH", ""),
    )
    for k in ("DJANGO_DATABASE_URL", "DJANGO_SESSION_ENGINE", "DJANGO_DEBUG", "DJANGO_ALLOWED_HOSTS"):
        env.pop(k, None)
    s = Stack(dir=d, redis=r, env=env, user_ids={})
    try:
        s.manage("migrate", "-v0")
        for name, pw in USERS.items():
            s.user_ids[name] = int(s.manage("createtestuser", name, pw).strip())
        celery = s.start("celery", [
            os.path.join(BIN, "celery"), "-A", "djproject", "worker", "--pool=solo", "--loglevel=INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", "e2e@%h",
        ])
        s.daphne_port = free_port()
        daphne = s.start("daphne", [
            os.path.join(BIN, "daphne"), "-b", "127.0.0.1", "-p", str(s.daphne_port), "djproject.asgi:application",
        ])
        wait_port(s.daphne_port, timeout=30)
        daphne.check_alive()
        _wait_log(celery, " ready.", 60)
        yield s
    finally:
        for p in reversed(list(s.procs.values())):
            p.stop()
        r.stop()
        try:
            # A race reported after the last test's check (during shutdown) fails the session.
            check_logs(p.race for p in s.procs.values())
        finally:
            if os.environ.get("LAUREL_E2E_KEEP") != "1":
                shutil.rmtree(d, ignore_errors=True)


def _start_laurel(stack: Stack, go_build, name: str = "laurel", extra: tuple[str, ...] = ()) -> tuple[int, str | None]:
    """Start `laurel serve` (named name, with extra flags) in front of Daphne: (port, error or None)."""
    try:
        binary = go_build("./cmd/laurel")
    except subprocess.CalledProcessError as e:
        return 0, f"`go build -race ./cmd/laurel` failed (exit {e.returncode}); see the output above"
    settings = json.loads(stack.manage("laurel_settings"))
    cfg = os.path.join(stack.dir, f"{name}.toml")
    with open(cfg, "w") as f:
        f.write(to_toml(settings))
    port = free_port()
    p = stack.start(name, [
        binary, "serve", "--config", cfg, "-b", "127.0.0.1", "-p", str(port),
        "--upstream", f"http://127.0.0.1:{stack.daphne_port}", *extra,
    ], cwd=stack.dir)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if p.proc.poll() is not None:
            return port, f"{name} serve exited with {p.proc.returncode}:\n{_tail(p.log)}"
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return port, None
        except requests.RequestException:
            pass
        time.sleep(0.2)
    return port, f"{name} /readyz not 200 after 30s:\n{_tail(p.log)}"


@dataclass
class Target:
    """A server under test: `base_url` is what the browser talks to (HTTP and WebSocket)."""

    name: str
    base_url: str
    stack: Stack


@pytest.fixture(scope="session")
def daphne(stack) -> Target:
    return Target("daphne", f"http://127.0.0.1:{stack.daphne_port}", stack)


@pytest.fixture(scope="session")
def laurel(stack, go_build) -> Target:
    if "laurel" not in stack.procs and stack.laurel_error is None:
        stack.laurel_port, stack.laurel_error = _start_laurel(stack, go_build)
    if stack.laurel_error:
        pytest.fail(stack.laurel_error, pytrace=False)
    return Target("laurel", f"http://127.0.0.1:{stack.laurel_port}", stack)


@pytest.fixture(scope="session")
def laurel_process(stack, go_build) -> Target:
    """A second laurel on the same stack, with --group-membership process (one member per process)."""
    port, err = _start_laurel(stack, go_build, "laurel-process", ("--group-membership", "process"))
    if err:
        pytest.fail(err, pytrace=False)
    return Target("laurel-process", f"http://127.0.0.1:{port}", stack)


@pytest.fixture(params=TARGETS)
def target(request) -> Target:
    t = request.getfixturevalue(request.param)
    yield t
    for p in t.stack.procs.values():
        p.check_alive()
        p.check_no_race()


@pytest.fixture(scope="session")
def transcripts():
    """scenario name → {target name → transcript}: what each server showed the client."""
    return {}
