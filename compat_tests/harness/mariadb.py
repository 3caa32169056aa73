"""Start a throwaway MariaDB server (Debian's mariadb-server package) on a free loopback port.

The server lives in its own temporary directory (datadir, socket, pid file, error log) and is
stopped by the fixture that started it; the machine's own mariadb service is never used. Auth is
real: `mariadb-install-db --auth-root-authentication-method=normal` gives root@127.0.0.1 with an
empty password over TCP. The server's default character set is utf8mb4 (Debian's packaged
configuration does the same; --no-defaults would otherwise leave latin1).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass

from harness.servers import free_port, wait_port


def _bin(*names: str) -> str:
    for name in names:
        for d in ("", "/usr/sbin/", "/usr/bin/"):
            path = shutil.which(d + name) if d else shutil.which(name)
            if path:
                return path
    raise RuntimeError(f"{names[0]} not found: install Debian's mariadb-server package "
                       "(scripts/deps.sh does)")


@dataclass
class MariaDB:
    """A mariadbd process. `dsn` is the go-sql-driver/mysql form, `url` a mysql:// URL."""

    port: int
    dir: str
    proc: subprocess.Popen | None = None

    @property
    def datadir(self) -> str:
        return os.path.join(self.dir, "data")

    @property
    def url(self) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/"

    def dsn(self, database: str = "") -> str:
        return f"root@tcp(127.0.0.1:{self.port})/{database}"

    def start(self) -> "MariaDB":
        as_root = os.geteuid() == 0
        if as_root:
            shutil.chown(self.dir, "mysql", "mysql")
        user = ["--user=mysql"] if as_root else []
        subprocess.run(
            [_bin("mariadb-install-db", "mysql_install_db"), "--no-defaults",
             f"--datadir={self.datadir}", *user, "--auth-root-authentication-method=normal",
             "--skip-test-db"],
            check=True, capture_output=True)
        self._log = open(os.path.join(self.dir, "stdout.log"), "wb")
        self.proc = subprocess.Popen(
            [_bin("mariadbd", "mysqld"), "--no-defaults", f"--datadir={self.datadir}",
             f"--port={self.port}", "--bind-address=127.0.0.1",
             f"--socket={os.path.join(self.dir, 'sock')}",
             f"--pid-file={os.path.join(self.dir, 'mariadbd.pid')}",
             f"--log-error={os.path.join(self.dir, 'error.log')}", *user,
             "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
             "--skip-log-bin", "--innodb-flush-log-at-trx-commit=0", "--innodb-buffer-pool-size=64M"],
            stdout=self._log, stderr=subprocess.STDOUT)
        try:
            wait_port(self.port, timeout=60)
            # The port opens before the server accepts queries; wait for a real answer.
            deadline = time.monotonic() + 30
            while True:
                try:
                    self.sql("SELECT 1")
                    break
                except subprocess.CalledProcessError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
        except Exception:
            self.stop()
            raise RuntimeError(f"mariadbd did not start: {self.error_log()}") from None
        return self

    def error_log(self, n: int = 4000) -> str:
        try:
            with open(os.path.join(self.dir, "error.log"), "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def sql(self, statement: str, database: str = "") -> str:
        """Run one statement as root with the mariadb client; return its tab-separated output."""
        args = [_bin("mariadb", "mysql"), "--no-defaults", "-h", "127.0.0.1", "-P", str(self.port),
                "-u", "root", "--batch", "--skip-column-names", "-e", statement]
        if database:
            args.append(database)
        return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()

    def createdb(self, name: str) -> str:
        """Create database `name` (utf8mb4); return its go-sql-driver DSN."""
        self.sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        return self.dsn(name)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None
        shutil.rmtree(self.dir, ignore_errors=True)


def start_mariadb() -> MariaDB:
    d = tempfile.mkdtemp(prefix="laurel-mariadb-")
    os.chmod(d, 0o755)
    return MariaDB(port=free_port(), dir=d).start()
