"""Soak: N sockets (default 10 000) held open for D seconds (default 600) with steady traffic, while
laurel's RSS and goroutine count are sampled. Not part of CI (it takes minutes and most of a
machine); results go to docs/reliability.md.

    .venv/bin/python compat_tests/reliability/soak.py [--sockets 10000] [--seconds 600] [--rate 200]

It starts its own redis-server, PostgreSQL (Django's session and user tables, migrated by
djproject) and `laurel serve` (built without -race, as deployed). All sockets use one logged-in
session; each subscribes to one of 1 000 task groups; every second `--rate` group_sends go out
through real channels_redis (task groups at random, plus one to a user group every 10 s that fans
out to every socket). Every 10 s it prints: elapsed, open sockets, frames received, RSS MiB,
goroutines. At the end it reports the drift of RSS and goroutines between the sample taken a quarter
into the run (after warm-up) and the last one, and exits 1 if either grew by more than 10 % or a
socket was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
COMPAT = os.path.dirname(HERE)
ROOT = os.path.dirname(COMPAT)
sys.path.insert(0, COMPAT)

from channels_redis.core import RedisChannelLayer  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from e2e.conftest import to_toml  # noqa: E402
from harness.servers import free_port, start_postgres, start_redis  # noqa: E402


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024


def metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(m.group(1)) if m else float("nan")


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sockets", type=int, default=10_000)
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--rate", type=int, default=200, help="group_sends per second")
    args = ap.parse_args()

    d = tempfile.mkdtemp(prefix="laurel-soak-")
    binary = os.path.join(d, "laurel")
    subprocess.run(["go", "build", "-o", binary, "./cmd/laurel"], cwd=ROOT, check=True)
    r, pg = start_redis(), start_postgres()
    lp = None
    try:
        pg.createdb("soak")
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "djproject.settings",
               "DJANGO_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{pg.port}/soak",
               "DJANGO_REDIS_URL": f"redis://127.0.0.1:{r.port}", "PYTHONPATH": os.path.join(COMPAT, "djproject")}
        dj = os.path.join(COMPAT, "djproject")
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=dj, env=env, check=True)
        key = subprocess.run([sys.executable, os.path.join(HERE, "djhelper.py"), "session", "soak"], env=env,
                             check=True, capture_output=True, text=True).stdout.strip()
        settings = json.loads(subprocess.run([sys.executable, "manage.py", "laurel_settings"], cwd=dj, env=env,
                                             check=True, capture_output=True, text=True).stdout)
        settings["laurel"] = {"log_level": "warn"}
        cfg = os.path.join(d, "laurel.toml")
        with open(cfg, "w") as f:
            f.write(to_toml(settings))
        port = free_port()
        log = open(os.path.join(d, "laurel.log"), "wb")
        lp = subprocess.Popen([binary, "serve", "--config", cfg, "-p", str(port), "--access-log", "off"],
                              stdout=log, stderr=subprocess.STDOUT)
        for _ in range(100):
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2).status == 200:
                    break
            except OSError:
                await asyncio.sleep(0.2)
        received = 0

        async def client(i: int):
            nonlocal received
            async with connect(f"ws://127.0.0.1:{port}/ws/tasks/", origin=f"http://127.0.0.1:{port}",
                               additional_headers={"Cookie": f"sessionid={key}"}, open_timeout=60,
                               ping_interval=None) as ws:
                await ws.send(json.dumps({"action": "subscribe", "task_id": f"soak{i % 1000}"}))
                async for _ in ws:
                    received += 1

        t0 = time.monotonic()
        tasks = []
        for i in range(args.sockets):
            tasks.append(asyncio.create_task(client(i)))
            if i % 200 == 199:
                await asyncio.sleep(0.05)
        while metric(port, "laurel_sockets_open") < args.sockets:
            await asyncio.sleep(1)
        print(f"ramp: {args.sockets} sockets in {time.monotonic() - t0:.1f}s", flush=True)

        layer = RedisChannelLayer(hosts=[{"address": r.url}])
        uid = None
        samples = []
        start = time.monotonic()
        next_sample = start
        while time.monotonic() - start < args.seconds:
            tick = time.monotonic()
            await asyncio.gather(*[layer.group_send(f"task_soak{random.randrange(1000)}",
                                                    {"type": "task.progress", "pct": 1}) for _ in range(args.rate)])
            if int(tick - start) % 10 == 0:
                if uid is None:
                    keys = [k.decode() for k in __import__("redis").Redis.from_url(r.url).keys("asgi:group:user_*")]
                    uid = keys[0].split("asgi:group:")[1]
                await layer.group_send(uid, {"type": "user.notice", "n": 1})
            if tick >= next_sample:
                s = (round(tick - start), int(metric(port, "laurel_sockets_open")), received, rss_mib(lp.pid),
                     int(metric(port, "go_goroutines")), metric(port, "go_memstats_heap_inuse_bytes") / 2**20)
                samples.append(s)
                print("t=%4ds open=%d frames=%d rss=%.1fMiB goroutines=%d heap_inuse=%.1fMiB" % s, flush=True)
                next_sample += 10
            await asyncio.sleep(max(0, 1 - (time.monotonic() - tick)))
        for t in tasks:
            t.cancel()
        # Baseline: the first sample after a quarter of the run. Until then RSS grows while every
        # socket's buffers and the Go heap reach their working size (see docs/reliability.md).
        first, last = samples[len(samples) // 4], samples[-1]
        rss_drift = (last[3] - first[3]) / first[3]
        g_drift = (last[4] - first[4]) / first[4]
        print(f"RSS {first[3]:.1f} -> {last[3]:.1f} MiB ({rss_drift:+.1%}); "
              f"goroutines {first[4]} -> {last[4]} ({g_drift:+.1%}); frames {received}")
        return 0 if rss_drift <= 0.10 and g_drift <= 0.10 and last[1] == args.sockets else 1
    finally:
        if lp:
            lp.terminate()
            lp.wait(60)
        r.stop()
        pg.stop()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
