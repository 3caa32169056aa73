"""The benchmark publisher: real channels_redis group_send, as a Django view or Celery task calls it.

    python publish.py --redis redis://127.0.0.1:P/0 --groups task_a,task_b --rate 20 --duration 30
    python publish.py --redis ... --group-prefix task_bench- --groups-n 10000 --concurrency 8 --duration 30

Every event is the seed's task.update with two extra fields the reference consumer and laurel both
forward untouched: "seq" (per-group sequence number from 0) and "ts" (time.time_ns() taken just before
the group_send call), from which laurel-bench computes loss and publish→receipt latency.

--rate is the total number of group_send calls per second over all groups (0: back to back);
the run stops after --count calls or --duration seconds, whichever comes first. --concurrency
publishers (asyncio tasks, like that many Celery workers) share the groups round-robin. The layer is
configured as the reference project's CHANNEL_LAYERS (socket_timeout 15, see its settings.py), with
the BACKEND --backend names: core (channels_redis.core.RedisChannelLayer, the project's default) or
pubsub (channels_redis.pubsub.RedisPubSubChannelLayer, as stack.py --backend pubsub configures the
servers).
Prints one JSON line: sent, errors, first error, elapsed seconds, how far behind schedule the
pacing fell (max_lag_s), and the median and p99 duration of one group_send call (send_ms_p50/p99):
the part of a frame's measured latency spent before the message reached Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer


async def run(a) -> dict:
    if a.groups:
        groups = a.groups.split(",")
    else:
        groups = [f"{a.group_prefix}{i}" for i in range(a.groups_n)]
    cls = RedisPubSubChannelLayer if a.backend == "pubsub" else RedisChannelLayer
    layer = cls(hosts=[{"address": a.redis, "socket_timeout": 15}])
    total = a.count if a.count > 0 else None
    deadline = time.monotonic() + a.duration if a.duration > 0 else None
    seqs = {g: 0 for g in groups}
    stats = {"sent": 0, "errors": 0, "first_error": "", "max_lag_s": 0.0}
    counter = 0
    durations: list[float] = []
    start = time.monotonic()

    def next_index():
        nonlocal counter
        if total is not None and counter >= total:
            return None
        if deadline is not None and time.monotonic() >= deadline:
            return None
        counter += 1
        return counter - 1

    async def publisher(k: int):
        while True:
            i = next_index()
            if i is None:
                return
            if a.rate > 0:
                due = start + i / a.rate
                lag = time.monotonic() - due
                if lag < 0:
                    await asyncio.sleep(-lag)
                else:
                    stats["max_lag_s"] = max(stats["max_lag_s"], lag)
            g = groups[i % len(groups)]
            seq = seqs[g]
            seqs[g] = seq + 1
            event = {"type": "task.update", "task_id": g, "status": "processing", "seq": seq,
                     "ts": time.time_ns()}
            try:
                t0 = time.perf_counter()
                await layer.group_send(g, event)
                durations.append(time.perf_counter() - t0)
                stats["sent"] += 1
            except Exception as e:  # counted and reported, the run goes on
                stats["errors"] += 1
                stats["first_error"] = stats["first_error"] or repr(e)

    try:
        await asyncio.gather(*(publisher(k) for k in range(a.concurrency)))
    finally:
        # The pub/sub layer has no close_pools(); its flush() closes its connections.
        await (layer.flush() if a.backend == "pubsub" else layer.close_pools())
    stats["elapsed_s"] = time.monotonic() - start
    if durations:
        durations.sort()
        stats["send_ms_p50"] = 1000 * durations[len(durations) // 2]
        stats["send_ms_p99"] = 1000 * durations[min(len(durations) - 1, int(len(durations) * 0.99))]
    return stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--redis", required=True, help="channel layer Redis URL (db 0)")
    ap.add_argument("--backend", choices=["core", "pubsub"], default="core", help="channel layer class")
    ap.add_argument("--groups", default="", help="comma-separated group names")
    ap.add_argument("--group-prefix", default="task_bench-")
    ap.add_argument("--groups-n", type=int, default=1)
    ap.add_argument("--rate", type=float, default=0, help="group_send calls per second in total; 0 = back to back")
    ap.add_argument("--duration", type=float, default=0, help="seconds; 0 = until --count")
    ap.add_argument("--count", type=int, default=0, help="group_send calls; 0 = until --duration")
    ap.add_argument("--concurrency", type=int, default=1)
    a = ap.parse_args()
    if a.count <= 0 and a.duration <= 0:
        ap.error("give --count or --duration")
    print(json.dumps(asyncio.run(run(a))), flush=True)


if __name__ == "__main__":
    main()
