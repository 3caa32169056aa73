"""Soak: N sockets (default 10 000) held open for D seconds (default 600) with steady traffic, while
laurel's memory, goroutines and deliveries are sampled. Not part of CI (it takes minutes and most of
a machine); results go to docs/reliability.md.

    .venv/bin/python compat_tests/reliability/soak.py [--sockets 10000] [--seconds 600] [--rate 100]
        [--out DIR] [--profile-every 60] [--gogc N] [--rev HEAD]

It starts its own redis-server, PostgreSQL (Django's session and user tables, migrated by
djproject) and `laurel serve` built from a commit (--rev, default HEAD: not the working tree) without
-race, as deployed, with `--metrics-bind` and `--pprof`
and GODEBUG=gctrace=1. All sockets use one logged-in session; each subscribes to one of 1 000 task
groups; every second `--rate` group_sends go out through real channels_redis to task groups chosen
at random, and every 10 s one goes to the user group, which fans out to every socket.

Every 10 s it prints and records (DIR/samples.jsonl): open sockets; frames expected (the size of
each group at send time, summed), received by the clients and the difference still in flight;
laurel's RSS (and its anonymous part), CPU, goroutines, and the Go heap from /metrics
(go_memstats_*: heap in use, heap idle and not yet returned to the OS, the next GC goal). Every
--profile-every seconds it saves a heap profile (DIR/heap-NNNN.pb.gz; the heap as of the last GC,
no GC forced). At the end it stops sending, waits for the frames in flight, and reports:

- the drift of RSS, goroutines and live heap (the heap marked live by each GC, from gctrace) between
  the sample a quarter into the run (after warm-up) and the last one;
- frames lost (expected minus received after the drain) and laurel's own drop counters;
- `go tool pprof -top -diff_base` between the heap profile at the baseline and the last one: what
  grew, by allocation site.

It exits 1 if RSS or goroutines grew by more than 10 %, a socket was lost, or a frame was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

import redis as redis_py

HERE = os.path.dirname(os.path.abspath(__file__))
COMPAT = os.path.dirname(HERE)
ROOT = os.path.dirname(COMPAT)
sys.path.insert(0, COMPAT)

from channels_redis.core import RedisChannelLayer  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

from e2e.conftest import to_toml  # noqa: E402
from harness.servers import free_port, start_postgres, start_redis  # noqa: E402

TASKS = 1000
CLK_TCK = os.sysconf("SC_CLK_TCK")
GCTRACE = re.compile(rb"^gc (\d+) @([\d.]+)s .*? (\d+)->(\d+)->(\d+) MB, (\d+) MB goal.*$", re.M)


def proc_status(pid: int) -> dict:
    """VmRSS and RssAnon in MiB, and CPU seconds used so far."""
    with open(f"/proc/{pid}/status") as f:
        st = f.read()
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return {
        "rss": int(re.search(r"VmRSS:\s+(\d+)", st).group(1)) / 1024,
        "anon": int(re.search(r"RssAnon:\s+(\d+)", st).group(1)) / 1024,
        "cpu_s": (int(fields[11]) + int(fields[12])) / CLK_TCK,
    }


def scrape(port: int) -> dict[str, float]:
    """Every sample of /metrics: 'name{labels}' -> value."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def by_label(m: dict[str, float], name: str) -> dict[str, float]:
    """{label set: value} of the non-zero samples of metric `name`."""
    return {k[len(name):]: v for k, v in m.items() if (k == name or k.startswith(name + "{")) and v}


def gc_live(log: str) -> list[tuple[float, int, int]]:
    """(seconds since laurel started, live heap MB after the GC, goal MB) of every GC the runtime
    started by itself (gctrace lines in laurel's log; those forced by a heap profile are left out)."""
    with open(log, "rb") as f:
        return [(float(m.group(2)), int(m.group(5)), int(m.group(6))) for m in GCTRACE.finditer(f.read())
                if not m.group(0).rstrip().endswith(b"(forced)")]


class OverCapacity(logging.Handler):
    """Counts what channels_redis' group_send refused because the receiving channel was at capacity
    ('N of M channels over capacity in group G', logged at INFO): those frames never reach laurel."""

    LINE = re.compile(r"(\d+) of (\d+) channels over capacity in group (\S+)")

    def __init__(self):
        super().__init__(logging.INFO)
        self.events = self.frames = 0

    def emit(self, record):
        m = self.LINE.search(record.getMessage())
        if m:
            self.events += 1
            # All of laurel's sockets share one Redis key (its process inbox): over capacity there
            # means no member of the group got the message.
            self.frames += int(m.group(2)) if m.group(1) == "1" else 0


def report(args, samples, final, profiles, gcs, launch_lag, over, closes, open_clients, binary, out) -> int:
    """Print the verdict's figures; 0 when RSS and goroutines stayed flat and nothing was lost."""
    traffic = [s for s in samples if s["phase"] == "traffic"]
    # Baseline: the first sample a quarter into the run, or later if the heap had not yet reached its
    # steady-state GC goal: until the second GC after the ramp (not counting forced ones), RSS grows while the heap grows to the
    # goal set by the live heap of the whole socket population (GOGC), and the Go runtime keeps that
    # memory mapped afterwards (the scavenger only returns what lies well above the goal).
    quarter = first = traffic[len(traffic) // 4]
    post_ramp = [g for g in gcs if g[0] >= launch_lag]
    settled = None
    if len(post_ramp) >= 2:
        settled = next((s for s in traffic if s["t"] >= post_ramp[1][0] - launch_lag), None)
        if settled and settled["t"] > first["t"]:
            first = settled
    last = final

    def drift(k, base=None):
        base = base or first
        return (last[k] - base[k]) / base[k] if base[k] else float("nan")

    print(f"\nbaseline t={first['t']}s ({'after the 2nd GC after the ramp' if first is settled else 'a quarter in'}), "
          f"last t={last['t']}s (after the drain)")
    for k in ("rss", "anon", "goroutines", "heap_inuse", "heap_retained", "stacks", "next_gc"):
        print(f"  {k:>13}: {first[k]} -> {last[k]} ({drift(k):+.1%})")
    if first is not quarter:
        print(f"  (from a quarter in, t={quarter['t']}s: RSS {quarter['rss']} -> {last['rss']} "
              f"({drift('rss', quarter):+.1%}), goroutines {drift('goroutines', quarter):+.1%})")
    if settled is None:
        print("  note: fewer than 2 GCs after the ramp: the heap never cycled at its steady-state goal, "
              "so RSS had not necessarily reached its plateau")
    print(f"  RSS over the whole run: min {min(s['rss'] for s in traffic)}, max {max(s['rss'] for s in traffic)} MiB")
    if post_ramp:
        print("  GCs after the ramp (s since traffic began: live heap after GC -> goal, MB): "
              + ", ".join(f"{g[0] - launch_lag:.0f}s: {g[1]}->{g[2]}" for g in post_ramp))
    lost = last["expected"] - last["received"] - over.frames
    print(f"  publisher slots skipped (100 ms late): {last['skipped_slots']}; "
          f"messages laurel read from Redis: {last['layer_messages']}")
    print(f"  sends {last['sends']}; frames expected {last['expected']}, received {last['received']}, "
          f"refused by Redis at capacity {over.frames} ({over.events} group_sends), lost {lost}; "
          f"laurel delivered {last['delivered']}, drops {last['drops'] or 'none'}, "
          f"server closes {last['closes'] or 'none'}")
    print(f"  sockets open at the end: laurel {last['open']}, clients {open_clients}; "
          f"client-side closes {dict(closes) or 'none'}")
    if "baseline-gc" in profiles:
        top = subprocess.run(["go", "tool", "pprof", "-top", "-nodecount=12", "-sample_index=inuse_space",
                              "-diff_base", profiles["baseline-gc"], binary, profiles["final-gc"]],
                             capture_output=True, text=True)
        with open(os.path.join(out, "heap-diff.txt"), "w") as f:
            f.write(top.stdout + top.stderr)
        print("\nlive heap at the end minus live heap a quarter in (both after a forced GC; "
              f"go tool pprof -diff_base):\n{top.stdout}{top.stderr}")
    ok = (drift("rss") <= 0.10 and drift("goroutines") <= 0.10 and last["open"] == args.sockets
          and open_clients == args.sockets and lost == 0)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sockets", type=int, default=10_000)
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--rate", type=int, default=100, help="task group_sends per second")
    ap.add_argument("--out", help="directory for samples and heap profiles (default: a new temporary one)")
    ap.add_argument("--profile-every", type=int, default=60, help="seconds between heap profiles")
    ap.add_argument("--gogc", help="GOGC for laurel (default: unset, as deployed)")
    ap.add_argument("--rev", default="HEAD", help="git revision to build laurel from, or 'worktree'")
    args = ap.parse_args()

    d = tempfile.mkdtemp(prefix="laurel-soak-")
    out = args.out or d
    os.makedirs(out, exist_ok=True)
    binary = os.path.join(d, "laurel")
    if args.rev == "worktree":
        src, rev = ROOT, "the working tree (uncommitted changes included)"
    else:
        # A commit, not the shared working tree: other people's uncommitted edits stay out.
        src = os.path.join(d, "src")
        os.makedirs(src)
        archive = subprocess.run(["git", "archive", args.rev], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", src], input=archive, check=True)
        rev = subprocess.run(["git", "log", "-1", "--format=%h %cI %s", args.rev], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.strip()
    subprocess.run(["go", "build", "-o", binary, "./cmd/laurel"], cwd=src, check=True)
    print(f"laurel built from {rev}; output in {out}", flush=True)
    r, pg = start_redis(), start_postgres()
    lp = None
    over = OverCapacity()
    logging.getLogger("channels_redis").addHandler(over)
    logging.getLogger("channels_redis").setLevel(logging.INFO)
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
        port, mport = free_port(), free_port()
        log = os.path.join(out, "laurel.log")
        lenv = {**os.environ, "GODEBUG": "gctrace=1"}
        lenv.pop("GOGC", None)
        if args.gogc:
            lenv["GOGC"] = args.gogc
        with open(log, "wb") as f:
            lp = subprocess.Popen([binary, "serve", "--config", cfg, "-p", str(port), "--access-log", "off",
                                   "--metrics-bind", f"127.0.0.1:{mport}", "--pprof"],
                                  stdout=f, stderr=subprocess.STDOUT, env=lenv)
        launched = time.monotonic()  # gctrace's clock starts (about) here
        for _ in range(150):
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{mport}/readyz", timeout=2).status == 200:
                    break
            except OSError:
                await asyncio.sleep(0.2)
        else:
            raise RuntimeError(f"laurel not ready; see {log}")

        received = 0
        closes: collections.Counter = collections.Counter()

        async def client(i: int):
            nonlocal received
            try:
                async with connect(f"ws://127.0.0.1:{port}/ws/tasks/", origin=f"http://127.0.0.1:{port}",
                                   additional_headers={"Cookie": f"sessionid={key}"}, open_timeout=120,
                                   ping_interval=None, max_queue=None) as ws:
                    await ws.send(json.dumps({"action": "subscribe", "task_id": f"soak{i % TASKS}"}))
                    async for _ in ws:
                        received += 1
            except asyncio.CancelledError:
                raise
            except ConnectionClosed as e:
                closes[e.rcvd.code if e.rcvd else "no close frame"] += 1
            except Exception as e:  # noqa: BLE001 - any failure of a client is a lost socket, reported
                closes[type(e).__name__] += 1

        t0 = time.monotonic()
        tasks = []
        for i in range(args.sockets):
            tasks.append(asyncio.create_task(client(i)))
            if i % 200 == 199:
                await asyncio.sleep(0.05)
        rc = redis_py.Redis.from_url(r.url)
        user_groups = []
        while True:
            user_groups = [k.decode().split("asgi:group:", 1)[1] for k in rc.keys("asgi:group:user_*")]
            sizes = {f"task_soak{k}": rc.zcard(f"asgi:group:task_soak{k}") for k in range(TASKS)}
            if user_groups and sum(sizes.values()) >= args.sockets:
                break
            if time.monotonic() - t0 > 300 or sum(closes.values()):
                raise RuntimeError(f"ramp failed: {sum(sizes.values())} subscribed, closes {dict(closes)}")
            await asyncio.sleep(1)
        uid = user_groups[0]
        sizes[uid] = rc.zcard(f"asgi:group:{uid}")
        print(f"ramp: {args.sockets} sockets subscribed in {time.monotonic() - t0:.1f}s; "
              f"{uid} has {sizes[uid]} members", flush=True)

        layer = RedisChannelLayer(hosts=[{"address": r.url}])
        # redis-py 8 caps a pool at 100 connections (MaxConnectionsError beyond): at most 64 sends at once.
        sem = asyncio.Semaphore(64)

        async def send(group: str) -> None:
            async with sem:
                await layer.group_send(group, {"type": "task.progress", "pct": 1})

        expected = sends = skipped = 0
        samples: list[dict] = []
        profiles: dict[str, str] = {}
        start = time.monotonic()
        last_cpu, last_t = proc_status(lp.pid)["cpu_s"], start
        next_sample, next_fanout, next_profile = start, start, start
        base_t = args.seconds // 4
        fsamples = open(os.path.join(out, "samples.jsonl"), "w")

        def profile(name: str, gc: bool = False) -> None:
            """A heap profile: as of the last GC, or (gc) after a GC forced now: the exact live heap."""
            path = os.path.join(out, f"heap-{name}.pb.gz")
            url = f"http://127.0.0.1:{mport}/debug/pprof/heap" + ("?gc=1" if gc else "")
            with urllib.request.urlopen(url, timeout=60) as resp, open(path, "wb") as f:
                f.write(resp.read())
            profiles[name] = path

        def sample(now: float, phase: str) -> dict:
            nonlocal last_cpu, last_t
            m, ps = scrape(mport), proc_status(lp.pid)
            s = {
                "t": round(now - start), "phase": phase, "open": int(m.get("laurel_sockets_open", -1)),
                "sends": sends, "expected": expected, "received": received, "in_flight": expected - received,
                "refused": over.frames, "skipped_slots": skipped,
                "layer_messages": int(m.get("laurel_layer_messages_total", 0)),
                "rss": round(ps["rss"], 1), "anon": round(ps["anon"], 1),
                "cpu_pct": round(100 * (ps["cpu_s"] - last_cpu) / (now - last_t), 1) if now - last_t > 1 else 0.0,
                "load1": os.getloadavg()[0],
                "goroutines": int(m["go_goroutines"]),
                "heap_inuse": round(m["go_memstats_heap_inuse_bytes"] / 2**20, 1),
                "heap_alloc": round(m["go_memstats_heap_alloc_bytes"] / 2**20, 1),
                "heap_retained": round((m["go_memstats_heap_idle_bytes"] - m["go_memstats_heap_released_bytes"])
                                       / 2**20, 1),
                "stacks": round(m["go_memstats_stack_inuse_bytes"] / 2**20, 1),
                "go_sys": round(m["go_memstats_sys_bytes"] / 2**20, 1),
                "next_gc": round(m["go_memstats_next_gc_bytes"] / 2**20, 1),
                "gcs": int(m["go_gc_duration_seconds_count"]),
                "delivered": int(m.get("laurel_frames_delivered_total", 0)),
                "drops": by_label(m, "laurel_drops_total"),
                "closes": by_label(m, "laurel_server_closes_total"),
            }
            last_cpu, last_t = ps["cpu_s"], now
            fsamples.write(json.dumps(s) + "\n")
            fsamples.flush()
            samples.append(s)
            print("t=%(t)4ds open=%(open)d expected=%(expected)d received=%(received)d in_flight=%(in_flight)d "
                  "refused=%(refused)d skipped=%(skipped_slots)d rss=%(rss).0f anon=%(anon).0f cpu=%(cpu_pct).0f%% load=%(load1).1f "
                  "goroutines=%(goroutines)d heap_inuse=%(heap_inuse).0f retained=%(heap_retained).0f "
                  "next_gc=%(next_gc).0f stacks=%(stacks).0f gcs=%(gcs)d MiB" % s, flush=True)
            return s

        # Steady traffic: the second's sends spread over ten 100 ms slots.
        slot = 0
        while time.monotonic() - start < args.seconds:
            tick = time.monotonic()
            n = args.rate // 10 + (1 if slot % 10 < args.rate % 10 else 0)
            batch = [f"task_soak{random.randrange(TASKS)}" for _ in range(n)]
            if tick >= next_fanout:
                batch.append(uid)
                next_fanout += 10
            await asyncio.gather(*[send(g) for g in batch])
            sends += len(batch)
            expected += sum(sizes[g] for g in batch)
            if tick >= next_sample:
                sample(tick, "traffic")
                next_sample += 10
            if tick >= next_profile:
                profile(f"{round(tick - start):04d}")
                next_profile += args.profile_every
            if base_t is not None and tick - start >= base_t:
                profile("baseline-gc", gc=True)
                base_t = None
            # Never catch up with a burst: a slot that is already late is skipped (and counted), so
            # a stall of this process cannot push more than one slot's sends at laurel at once.
            slot += 1
            while start + slot * 0.1 < time.monotonic() - 0.1:
                slot += 1
                skipped += 1
            await asyncio.sleep(max(0, start + slot * 0.1 - time.monotonic()))

        # Drain: wait for what is in flight, up to 60 s or 10 s without progress.
        t_end = time.monotonic()
        seen, stalled_since = received, time.monotonic()
        while (received + over.frames < expected and time.monotonic() - t_end < 60
               and time.monotonic() - stalled_since < 10):
            await asyncio.sleep(0.5)
            if received != seen:
                seen, stalled_since = received, time.monotonic()
        final = sample(time.monotonic(), "drained")
        with open(os.path.join(out, "meta.json"), "w") as f:
            json.dump({"rev": rev, "args": vars(args), "ramp_s": round(start - t0, 1),
                       "gctrace_offset_s": round(start - launched, 1)}, f)
        profile(f"{final['t']:04d}")
        profile("final-gc", gc=True)
        open_clients = sum(1 for t in tasks if not t.done())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return report(args, samples, final, profiles, gc_live(log), start - launched, over, closes, open_clients,
                      binary, out)
    finally:
        if lp:
            lp.terminate()
            lp.wait(60)
        r.stop()
        pg.stop()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
