"""Fixtures for the Chromium tests: a headless Chromium (Debian's /usr/bin/chromium driven by the
venv's Playwright, never `playwright install`), `laurel dev` on free ports, and `laurel serve`
instances in front of the e2e stack (compat_tests/e2e: Django project, Celery worker, Daphne) that a
test may kill and restart on the same port.

laurel is built with -race: a race report in the log of any laurel this suite started fails the test
during which it was written (`no_data_race`, harness/racelog.py), or the module or session whose
teardown wrote it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass

import pytest
import requests

from harness.racelog import RaceWatch, check_logs
from harness.servers import free_port

# The e2e stack is another engineer's; its fixtures are imported, not copied.
from e2e.conftest import _tail, stack, to_toml  # noqa: F401  (stack is a fixture)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CLIENT_DIR = os.path.join(ROOT, "client")

# The log of every laurel started in this pytest process, read on from where the previous check
# stopped, so a report fails exactly one test.
_race_watches: list[RaceWatch] = []


@pytest.fixture(autouse=True)
def no_data_race():
    """Fails the test if a laurel reported a data race while it ran (its shutdown included when the
    test's own fixture stopped it)."""
    yield
    check_logs(_race_watches)


@pytest.fixture(scope="session")
def chromium():
    """A headless Chromium browser (Playwright sync API)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium):
    """A fresh browser context (own cookies) and page; console errors are collected in page.errors."""
    ctx = chromium.new_context(viewport={"width": 760, "height": 620})
    pg = ctx.new_page()
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    try:
        yield pg
    finally:
        ctx.close()


def wait_ready(url: str, proc: subprocess.Popen, log: str, timeout: float = 90) -> None:
    """Wait for GET url to answer 200 while proc is alive."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}:\n{_tail(log)}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout}s:\n{_tail(log)}")


@dataclass
class DevServer:
    """A running `laurel dev`."""

    proc: subprocess.Popen
    base_url: str
    dir: str
    stdout: str
    stderr: str
    redis_port: int
    race: RaceWatch | None = None  # follows stderr, where the race detector writes

    def banner(self) -> str:
        with open(self.stdout) as f:
            return f.read()

    def settings(self) -> dict:
        import tomllib

        with open(os.path.join(self.dir, "laurel.toml"), "rb") as f:
            return tomllib.load(f)

    def stop(self) -> int:
        """Ctrl-C, as a developer stops it; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError(f"laurel dev did not stop on SIGINT:\n{_tail(self.stderr)}")
        return self.proc.returncode


def start_dev(binary: str, redis_port: int | None = None) -> DevServer:
    d = tempfile.mkdtemp(prefix="laurel-dev-")
    port = free_port()
    redis_port = redis_port or free_port()
    out, err = os.path.join(d, "stdout.log"), os.path.join(d, "stderr.log")
    with open(out, "wb") as fo, open(err, "wb") as fe:
        proc = subprocess.Popen(
            [binary, "dev", "-b", "127.0.0.1", "-p", str(port), "--redis-port", str(redis_port),
             "--dir", os.path.join(d, "data")],
            cwd=d, stdout=fo, stderr=fe,
        )
    dev = DevServer(proc, f"http://127.0.0.1:{port}", os.path.join(d, "data"), out, err, redis_port,
                    RaceWatch("laurel dev", err))
    _race_watches.append(dev.race)
    try:
        wait_ready(dev.base_url + "/readyz", proc, err)
    except Exception:
        dev.stop()
        raise
    return dev


@pytest.fixture(scope="module", params=["embedded-redis", "external-redis"])
def dev_server(request, go_build):
    """`laurel dev` on free ports, with its embedded Redis or with the suite's redis-server."""
    binary = go_build("./cmd/laurel")
    redis_port = None
    if request.param == "external-redis":
        redis_port = request.getfixturevalue("redis_server").port
    dev = start_dev(binary, redis_port)
    try:
        yield dev
    finally:
        code = dev.stop()
        dev.race.check()  # a race during shutdown (exit status 66 too)
        assert code == 0, f"laurel dev exited with {code} on Ctrl-C:\n{_tail(dev.stderr)}"
        shutil.rmtree(os.path.dirname(dev.dir), ignore_errors=True)


class Laurel:
    """`laurel serve` in front of the e2e stack's Daphne, on a fixed port it can be restarted on."""

    def __init__(self, binary: str, stack, workdir: str):
        self.binary, self.stack = binary, stack
        self.port = free_port()
        self.config = os.path.join(workdir, "laurel.toml")
        self.log = os.path.join(workdir, "laurel.log")
        self.race = RaceWatch("laurel serve", self.log)
        _race_watches.append(self.race)
        with open(self.config, "w") as f:
            f.write(to_toml(json.loads(stack.manage("laurel_settings"))))
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log, "ab") as f:
            self.proc = subprocess.Popen(
                [self.binary, "serve", "--config", self.config, "-b", "127.0.0.1", "-p", str(self.port),
                 "--upstream", f"http://127.0.0.1:{self.stack.daphne_port}"],
                stdout=f, stderr=subprocess.STDOUT,
            )
        wait_ready(self.base_url + "/readyz", self.proc, self.log, timeout=30)

    def kill(self) -> None:
        """SIGKILL: no drain, no close frame — a crash."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def laurel_server(stack, go_build, tmp_path):
    """A started Laurel in front of the e2e stack."""
    lr = Laurel(go_build("./cmd/laurel"), stack, str(tmp_path))
    lr.start()
    try:
        yield lr
    finally:
        lr.stop()
