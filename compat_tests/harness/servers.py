"""Start real redis-server and PostgreSQL instances on free loopback ports.

Every server lives in its own temporary directory and is stopped by the
fixture that started it; nothing here touches the machine's own services.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(port: int, host: str = "127.0.0.1", timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


@dataclass
class Redis:
    """A redis-server process. `url` is redis://127.0.0.1:<port>/0."""

    port: int
    dir: str
    extra: list[str] = field(default_factory=list)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "Redis":
        args = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", self.dir,
            "--logfile", os.path.join(self.dir, "redis.log"),
            *self.extra,
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        return self

    def stop(self, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill() if kill else self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], check=True, capture_output=True, text=True
        )
        return out.stdout.strip()


def scratch_dir(prefix: str) -> str:
    """A new temporary directory, removed when the test process exits (LAUREL_KEEP_TMP=1 keeps it).

    Servers are stopped by their fixtures before that; a removal that fails is ignored. Without it
    every run left its Redis, PostgreSQL and -race binaries in /tmp (about 1.5 GB a CI run).
    """
    d = tempfile.mkdtemp(prefix=prefix)
    if os.environ.get("LAUREL_KEEP_TMP") != "1":
        atexit.register(shutil.rmtree, d, ignore_errors=True)
    return d


def start_redis(extra: list[str] | None = None, port: int | None = None) -> Redis:
    d = scratch_dir("laurel-redis-")
    return Redis(port=port or free_port(), dir=d, extra=extra or []).start()


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} not found: install Debian's postgresql package")
    return found[-1]


@dataclass
class Postgres:
    """A throwaway PostgreSQL cluster owned by the `postgres` OS user when run as root."""

    port: int
    dir: str
    user: str = "postgres"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, args: list[str]) -> None:
        if os.geteuid() == 0:
            args = ["runuser", "-u", "postgres", "--", *args]
        subprocess.run(args, check=True, capture_output=True)

    def start(self) -> "Postgres":
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run([_pg_bin("initdb"), "-D", os.path.join(self.dir, "data"), "-U", "postgres",
                   "-A", "trust", "--no-sync", "-E", "UTF8"])
        self._run([_pg_bin("pg_ctl"), "-D", os.path.join(self.dir, "data"), "-w", "-l",
                   os.path.join(self.dir, "pg.log"), "-o",
                   f"-p {self.port} -h 127.0.0.1 -k {self.dir} -c fsync=off", "start"])
        wait_port(self.port)
        return self

    def stop(self) -> None:
        try:
            self._run([_pg_bin("pg_ctl"), "-D", os.path.join(self.dir, "data"), "-m", "fast", "stop"])
        except subprocess.CalledProcessError:
            pass

    def createdb(self, name: str) -> str:
        self._run([_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name])
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


def start_postgres() -> Postgres:
    d = scratch_dir("laurel-pg-")
    os.chmod(d, 0o755)
    return Postgres(port=free_port(), dir=d).start()
