"""The reliability stack: real PostgreSQL (Django's session and user tables), real redis-servers,
and `laurel serve` built with -race, each test starting the processes it is going to break.

laurel is built with -race: a race report in the log of any laurel this suite started fails the test
during which it was written (`no_data_race`, harness/racelog.py), or the module whose teardown wrote it.

`stack` (module-wide): a PostgreSQL cluster of its own with djproject migrated into it, and
`sessions(*usernames)` to log users in through Django's own APIs (djhelper.py). `laurel_factory`
starts laurel processes against a given Redis with [laurel] overrides; every process is stopped
(SIGKILL if it does not exit) at teardown.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass

import pytest
import redis as redis_py
import requests
from channels_redis.core import RedisChannelLayer
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

HERE = os.path.dirname(os.path.abspath(__file__))
COMPAT = os.path.dirname(HERE)
DJPROJECT = os.path.join(COMPAT, "djproject")
BIN = os.path.dirname(sys.executable)

from harness.racelog import RaceWatch, check_logs  # noqa: E402
from harness.servers import Postgres, _pg_bin, free_port, start_postgres, start_redis  # noqa: E402

from e2e.conftest import to_toml  # noqa: E402


def tail(path: str, n: int = 60) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def wait_for(pred, timeout: float, what: str, interval: float = 0.05):
    """Poll pred() until it returns a truthy value; returns it, or fails naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def restart_postgres(pg: Postgres) -> None:
    """Start a stopped cluster again (same data directory, port and options as harness start())."""
    pg._run([_pg_bin("pg_ctl"), "-D", os.path.join(pg.dir, "data"), "-w", "-l",
             os.path.join(pg.dir, "pg.log"), "-o",
             f"-p {pg.port} -h 127.0.0.1 -k {pg.dir} -c fsync=off", "start"])


@dataclass
class Stack:
    dir: str
    pg: Postgres
    db_url: str
    env: dict

    def dj(self, *args: str) -> str:
        out = subprocess.run([sys.executable, os.path.join(HERE, "djhelper.py"), *args], env=self.env,
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise AssertionError(f"djhelper {args} failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout

    def sessions(self, *usernames: str) -> list[str]:
        """Log each user in (fresh user, fresh session); returns the session keys in order."""
        keys = self.dj("session", *usernames).split()
        assert len(keys) == len(usernames)
        return keys

    def settings(self, redis_url: str) -> dict:
        out = subprocess.run([sys.executable, "manage.py", "laurel_settings"], cwd=DJPROJECT,
                             env={**self.env, "DJANGO_REDIS_URL": redis_url.rsplit("/", 1)[0]},
                             capture_output=True, text=True, timeout=60, check=True)
        return json.loads(out.stdout)


@pytest.fixture(scope="module")
def stack():
    d = tempfile.mkdtemp(prefix="laurel-rel-")
    pg = start_postgres()
    try:
        pg.createdb("rel")
        db_url = f"postgresql://postgres@127.0.0.1:{pg.port}/rel"
        env = dict(os.environ)
        env.update(DJANGO_SETTINGS_MODULE="djproject.settings", DJANGO_DATABASE_URL=db_url,
                   PYTHONPATH=DJPROJECT, PYTHONUNBUFFERED="1", PATH=BIN + os.pathsep + env.get("PATH", ""))
        for k in ("DJANGO_SESSION_ENGINE", "DJANGO_DEBUG", "DJANGO_ALLOWED_HOSTS", "DJANGO_DB_PATH"):
            env.pop(k, None)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=DJPROJECT, env=env, check=True,
                       timeout=120)
        yield Stack(d, pg, db_url, env)
    finally:
        pg.stop()
        shutil.rmtree(d, ignore_errors=True)


class Laurel:
    """A running `laurel serve`: its port, log and process, plus client helpers."""

    def __init__(self, proc: subprocess.Popen, port: int, log: str, redis_url: str):
        self.proc, self.port, self.log, self.redis_url = proc, port, log, redis_url
        self.race = RaceWatch(f"laurel on port {port}", log)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        return tail(self.log, 80)

    def log_text(self) -> str:
        with open(self.log, errors="replace") as f:
            return f.read()

    def readyz(self) -> int:
        try:
            return requests.get(self.base + "/readyz", timeout=3).status_code
        except requests.RequestException:
            return 0

    def metric(self, name: str, labels: str = "") -> float:
        """Sum of the samples of metric `name` whose label set contains `labels` (e.g. 'code="4008"')."""
        text = requests.get(self.base + "/metrics", timeout=5).text
        total = 0.0
        for line in text.splitlines():
            m = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})?\s+(\S+)$", line)
            if m and labels in (m.group(1) or ""):
                total += float(m.group(2))
        return total

    def ws(self, session_key: str | None, path: str = "/ws/tasks/", **kw):
        """Open a socket as a browser would (Origin, Cookie). Raises InvalidStatus when refused."""
        headers = {"Cookie": f"sessionid={session_key}"} if session_key else {}
        return connect(f"ws://127.0.0.1:{self.port}{path}", origin=f"http://127.0.0.1:{self.port}",
                       additional_headers=headers, open_timeout=15, close_timeout=5, max_size=None, legacy=True, **kw)

    def status_of(self, session_key: str | None) -> int:
        """The HTTP status of a handshake: 101 when accepted (the socket is closed again)."""
        try:
            ws = self.ws(session_key)
        except InvalidStatus as e:
            return e.response.status_code
        ws.close()
        return 101

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _starter(stack, binary: str, started: list):
    def start(redis_url: str, wait_ready: bool = True, port: int | None = None, **laurel_cfg) -> Laurel:
        settings = stack.settings(redis_url)
        settings["CHANNEL_LAYERS"]["default"]["CONFIG"]["hosts"] = [{"address": redis_url, "socket_timeout": 15.0}]
        settings["laurel"] = {"log_level": "info", "ping_interval": "20s", **laurel_cfg}
        cfg = os.path.join(stack.dir, f"laurel-{uuid.uuid4().hex[:8]}.toml")
        with open(cfg, "w") as f:
            f.write(to_toml(settings))
        port = port or free_port()
        log = cfg[:-5] + ".log"
        with open(log, "wb") as f:
            p = subprocess.Popen([binary, "serve", "--config", cfg, "-b", "127.0.0.1", "-p", str(port), "-v", "1",
                                  "--access-log", "off"], cwd=stack.dir, stdout=f, stderr=subprocess.STDOUT)
        lr = Laurel(p, port, log, redis_url)
        started.append(lr)
        _race_watches.append(lr.race)
        if wait_ready:
            def ready():
                if p.poll() is not None:
                    raise AssertionError(f"laurel exited {p.returncode}:\n{lr.logs()}")
                return lr.readyz() == 200
            wait_for(ready, 30, "laurel /readyz 200")
        return lr
    return start


def _kill_all(started: list) -> None:
    for lr in started:
        if lr.proc.poll() is None:
            lr.proc.kill()
            lr.proc.wait(5)
    check_logs(lr.race for lr in started)


# Every laurel started in this pytest process, alive or not: each log is read from where the
# previous check stopped, so a report fails exactly one test.
_race_watches: list[RaceWatch] = []


@pytest.fixture(autouse=True)
def no_data_race():
    """Fails the test if a laurel reported a data race while it ran (its processes included: this
    fixture is torn down after the test's own factories have stopped them)."""
    yield
    check_logs(_race_watches)


@pytest.fixture
def laurel_factory(stack, go_build):
    """start(redis_url, wait_ready=True, port=None, **laurel_settings) -> Laurel; killed at teardown."""
    started: list[Laurel] = []
    yield _starter(stack, go_build("./cmd/laurel"), started)
    _kill_all(started)


@pytest.fixture(scope="module")
def module_laurel_factory(stack, go_build):
    """laurel_factory for processes shared by a whole module."""
    started: list[Laurel] = []
    yield _starter(stack, go_build("./cmd/laurel"), started)
    _kill_all(started)


@pytest.fixture(scope="module")
def module_redis():
    r = start_redis()
    yield r
    r.stop(kill=True)


def group_send(redis_url: str, group: str, message: dict, **layer_kw) -> None:
    """Python's channels_redis group_send (the way a Django view or Celery task sends)."""
    async def go():
        layer = RedisChannelLayer(hosts=[{"address": redis_url}], **layer_kw)
        try:
            await layer.group_send(group, message)
        finally:
            await layer.close_pools() if hasattr(layer, "close_pools") else None
    asyncio.run(go())


def members(redis_url: str, group: str) -> list[str]:
    """Current members of a channels_redis group (the sorted set asgi:group:<name>)."""
    r = redis_py.Redis.from_url(redis_url)
    try:
        return [m.decode() for m in r.zrange(f"asgi:group:{group}", 0, -1)]
    finally:
        r.close()


def recv_json(ws, timeout: float = 10.0) -> dict:
    return json.loads(ws.recv(timeout=timeout))


def close_code(ws, timeout: float = 10.0) -> int | None:
    """Read until the server closes; returns the close code it sent (None: no close frame)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("server did not close the socket")
        try:
            ws.recv(timeout=left)
        except ConnectionClosed as e:
            return e.rcvd.code if e.rcvd else None
        except TimeoutError as e:
            raise AssertionError("server did not close the socket") from e


def subscribe(ws, task_id: str) -> None:
    ws.send(json.dumps({"action": "subscribe", "task_id": task_id}))


__all__ = ["ConnectionClosed", "InvalidStatus", "close_code", "group_send", "members", "recv_json", "restart_postgres",
           "subscribe", "tail", "wait_for"]


# --- raw WebSocket client: frames websockets refuses to send, and a client that never reads -----

import base64  # noqa: E402
import socket as socketlib  # noqa: E402
import struct  # noqa: E402


def raw_handshake(port: int, cookie: str | None, *, version: str = "13", upgrade: bool = True,
                  extra: str = "", rcvbuf: int | None = None, path: str = "/ws/tasks/"):
    """Send a handshake by hand; returns (socket, status, response head). The socket stays open."""
    s = socketlib.socket()
    if rcvbuf:
        s.setsockopt(socketlib.SOL_SOCKET, socketlib.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Origin: http://127.0.0.1:{port}"]
    if upgrade:
        lines += ["Upgrade: websocket", "Connection: Upgrade"]
    lines += [f"Sec-WebSocket-Key: {key}", f"Sec-WebSocket-Version: {version}"]
    if cookie is not None:
        lines.append(f"Cookie: {cookie}")
    req = "\r\n".join(lines) + "\r\n" + extra + "\r\n"
    s.sendall(req.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
    return s, status, head


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A masked client frame (RFC 6455 5.2)."""
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        hdr = struct.pack("!BB", b0, 0x80 | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, 0x80 | 127, n)
    mask = os.urandom(4)
    body = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    return hdr + mask + body


def read_frame(s) -> tuple[int, bytes]:
    """One unmasked server frame: (opcode, payload)."""
    def exact(n):
        buf = b""
        while len(buf) < n:
            c = s.recv(n - len(buf))
            if not c:
                raise ConnectionError("closed")
            buf += c
        return buf
    b0, b1 = exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", exact(8))[0]
    return b0 & 0x0F, exact(n)
