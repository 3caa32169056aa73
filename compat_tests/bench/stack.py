"""The benchmark stack: Daphne + the reference consumer and laurel, side by side, on one Redis.

Started by `laurel-bench` (cmd/laurel-bench), never by pytest. It

1. starts a redis-server of its own (channel layer db 0, cache db 2) and, with --db postgres, a
   throwaway PostgreSQL cluster (compat_tests/harness/servers.py);
2. migrates the reference project (compat_tests/djproject) and creates --users users and --sessions
   real Django sessions, exactly what django.contrib.auth.login() stores (_auth_user_id,
   _auth_user_backend, _auth_user_hash), through Django's own SessionStore encoding;
3. starts one Daphne process (`daphne djproject.asgi:application`, the seed's routing) and --laurel-procs
   `laurel serve` processes configured from the project's real settings (manage.py laurel_settings),
   sharing one port when there is more than one (laurel's --reuse-port);
4. with --backend pubsub, runs both servers with CHANNEL_LAYERS BACKEND
   "channels_redis.pubsub.RedisPubSubChannelLayer": a settings module generated into the temp dir
   imports djproject.settings and replaces only the BACKEND (as compat_tests/e2e/test_pubsub_backend.py
   does), so Daphne, manage.py, the publisher and laurel (through manage.py laurel_settings) all use it;
5. prints one JSON line describing the stack (ports, pids, the cookie file: one Cookie header per line)
   and keeps everything running until its stdin is closed, then stops it all.

Both servers run with access logging off (-v 0), so neither pays for a log line per socket.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
COMPAT = os.path.dirname(HERE)
ROOT = os.path.dirname(COMPAT)
DJPROJECT = os.path.join(COMPAT, "djproject")
sys.path.insert(0, COMPAT)

from harness.servers import free_port, start_postgres, start_redis, wait_port  # noqa: E402

BIN = os.path.dirname(sys.executable)

# Runs inside the Django project: creates users and sessions in bulk and prints the session keys.
SESSIONS_CODE = r"""
import json, sys
import django
django.setup()
from django.conf import settings
from django.contrib.auth import get_user_model, BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone
from datetime import timedelta

users_n, sessions_n = int(sys.argv[1]), int(sys.argv[2])
User = get_user_model()
with transaction.atomic():
    # In bulk: a storm of 10,000 sockets has 10,000 users (one per browser).
    names = [f"bench{i}" for i in range(users_n)]
    bench_users = User.objects.filter(username__startswith="bench")
    have = set(bench_users.values_list("username", flat=True))
    fresh = []
    for name in names:
        if name not in have:
            u = User(username=name, is_active=True)
            u.set_unusable_password()
            fresh.append(u)
    User.objects.bulk_create(fresh, batch_size=2000)
    bench_users.update(is_active=True)
    by_name = {u.username: u for u in bench_users}
    users = [by_name[name] for name in names]
backend = settings.AUTHENTICATION_BACKENDS[0]
expire = timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE)
store = SessionStore()
rows, keys = [], []
for i in range(sessions_n):
    u = users[i % users_n]
    key = store._get_new_session_key()
    data = {SESSION_KEY: u._meta.pk.value_to_string(u), BACKEND_SESSION_KEY: backend,
            HASH_SESSION_KEY: u.get_session_auth_hash()}
    rows.append(Session(session_key=key, session_data=store.encode(data), expire_date=expire))
    keys.append(key)
for i in range(0, len(rows), 2000):
    Session.objects.bulk_create(rows[i:i + 2000])
json.dump({"keys": keys, "users": [u.pk for u in users]}, sys.stdout)
"""


PUBSUB = "channels_redis.pubsub.RedisPubSubChannelLayer"

SETTINGS = f'''"""djproject.settings with the pub/sub channel layer (written by compat_tests/bench/stack.py)."""
from djproject.settings import *  # noqa: F401,F403
from djproject.settings import CHANNEL_LAYERS

CHANNEL_LAYERS["default"]["BACKEND"] = {PUBSUB!r}
'''


def manage(env, *args, timeout=300) -> str:
    out = subprocess.run([sys.executable, "manage.py", *args], cwd=DJPROJECT, env=env,
                         capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def wait_ready(url: str, proc: subprocess.Popen, log: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{log}: exited with {proc.returncode}:\n{open(log, errors='replace').read()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout}s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--users", type=int, default=1)
    ap.add_argument("--sessions", type=int, default=1)
    ap.add_argument("--backend", choices=["core", "pubsub"], default="core",
                    help="channel layer: channels_redis.core.RedisChannelLayer or .pubsub.RedisPubSubChannelLayer")
    ap.add_argument("--laurel-bin", required=True)
    ap.add_argument("--laurel-arg", action="append", default=[], help="extra argument to laurel serve (repeatable)")
    ap.add_argument("--laurel-procs", type=int, default=1)
    ap.add_argument("--no-daphne", action="store_true")
    ap.add_argument("--no-laurel", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()

    d = tempfile.mkdtemp(prefix="laurel-bench-")
    procs: list[subprocess.Popen] = []
    r = start_redis(["--maxclients", "20000"])
    pg = None
    try:
        env = dict(os.environ)
        env.update(DJANGO_SETTINGS_MODULE="djproject.settings", DJANGO_REDIS_URL=f"redis://127.0.0.1:{r.port}",
                   DJANGO_DB_PATH=os.path.join(d, "db.sqlite3"), PYTHONPATH=DJPROJECT, PYTHONUNBUFFERED="1",
                   PATH=BIN + os.pathsep + env.get("PATH", ""))
        if a.backend == "pubsub":
            with open(os.path.join(d, "pubsub_settings.py"), "w") as f:
                f.write(SETTINGS)
            env.update(DJANGO_SETTINGS_MODULE="pubsub_settings", PYTHONPATH=d + os.pathsep + DJPROJECT)
        for k in ("DJANGO_DATABASE_URL", "DJANGO_SESSION_ENGINE", "DJANGO_DEBUG", "DJANGO_ALLOWED_HOSTS"):
            env.pop(k, None)
        if a.db == "postgres":
            pg = start_postgres()
            env["DJANGO_DATABASE_URL"] = pg.createdb("bench")
        manage(env, "migrate", "-v0")
        out = subprocess.run([sys.executable, "-c", SESSIONS_CODE, str(a.users), str(a.sessions)], cwd=DJPROJECT,
                             env=env, capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise RuntimeError(f"creating sessions failed:\n{out.stderr}")
        created = json.loads(out.stdout)
        cookies = os.path.join(d, "cookies.txt")
        with open(cookies, "w") as f:
            for k in created["keys"]:
                f.write(f"sessionid={k}\n")

        def start(name, args, cwd=DJPROJECT):
            log = os.path.join(d, f"{name}.log")
            with open(log, "wb") as f:
                p = subprocess.Popen(args, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
            procs.append(p)
            return p, log

        pg_pid = 0
        if pg:  # the postmaster: laurel-bench sums its and its backends' CPU
            with open(os.path.join(pg.dir, "data", "postmaster.pid")) as f:
                pg_pid = int(f.readline())
        desc = {"dir": d, "pg_pid": pg_pid, "redis_url": f"redis://127.0.0.1:{r.port}/0", "redis_pid": r.proc.pid,
                "cookies": cookies, "users": created["users"], "db": a.db, "backend": a.backend}
        if not a.no_daphne:
            port = free_port()
            p, log = start("daphne", [os.path.join(BIN, "daphne"), "-v", "0", "-b", "127.0.0.1", "-p", str(port),
                                      "djproject.asgi:application"])
            wait_port(port, timeout=60)
            desc["daphne"] = {"port": port, "pids": [p.pid], "log": log}
        if not a.no_laurel:
            settings = json.loads(manage(env, "laurel_settings"))
            want = PUBSUB if a.backend == "pubsub" else "channels_redis.core.RedisChannelLayer"
            if settings["CHANNEL_LAYERS"]["default"]["BACKEND"] != want:
                raise RuntimeError(f"laurel_settings gave BACKEND {settings['CHANNEL_LAYERS']['default']['BACKEND']!r}, want {want!r}")
            from e2e.conftest import to_toml  # the e2e suite's settings → TOML writer

            cfg = os.path.join(d, "laurel.toml")
            with open(cfg, "w") as f:
                f.write(to_toml(settings))
            port = free_port()
            pids, metrics, logs = [], [], []
            for i in range(a.laurel_procs):
                mport = free_port()
                args = [a.laurel_bin, "serve", "--config", cfg, "-v", "0", "-b", "127.0.0.1", "-p", str(port),
                        "--metrics-bind", f"127.0.0.1:{mport}", *a.laurel_arg]
                if a.laurel_procs > 1:
                    args.append("--reuse-port")
                p, log = start(f"laurel{i}", args, cwd=d)
                wait_ready(f"http://127.0.0.1:{mport}/readyz", p, log)
                pids.append(p.pid)
                metrics.append(f"http://127.0.0.1:{mport}/metrics")
                logs.append(log)
            desc["laurel"] = {"port": port, "pids": pids, "metrics": metrics, "log": logs[0]}
        print(json.dumps(desc), flush=True)
        sys.stdin.read()  # until laurel-bench closes our stdin (or dies)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in reversed(procs):
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        r.stop()
        if pg:
            pg.stop()
        if not a.keep:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
