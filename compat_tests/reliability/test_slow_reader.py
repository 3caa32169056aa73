"""Slow reader: a client that stops reading is closed with 4008 once its queue is full, while the
other clients' delivery latency stays within 2x of what it was without it (measured here)."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
import uuid

from channels_redis.core import RedisChannelLayer

from .conftest import ConnectionClosed, frame, members, raw_handshake, subscribe, wait_for

NORMAL = 5
ROUNDS = 25
PAYLOAD = "p" * 100_000


class Sender:
    """One channels_redis layer on its own event loop thread, as a long-running Django worker has."""

    def __init__(self, url: str):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.layer = RedisChannelLayer(hosts=[{"address": url}])

    def group_send(self, group: str, msg: dict) -> None:
        asyncio.run_coroutine_threadsafe(self.layer.group_send(group, msg), self.loop).result(10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.layer.close_pools(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def test_slow_reader_closed_others_unaffected(stack, redis_factory, laurel_factory):
    r = redis_factory()
    lr = laurel_factory(r.url, queue_size=32)
    keys = stack.sessions(*[f"sl{i}{uuid.uuid4().hex[:6]}" for i in range(NORMAL + 1)])
    group = f"all{uuid.uuid4().hex[:6]}"
    arrivals: dict[int, dict[str, float]] = {i: {} for i in range(NORMAL)}
    socks = []
    for i in range(NORMAL):
        ws = lr.ws(keys[i], max_queue=None)
        subscribe(ws, group)
        socks.append(ws)

        def reader(i=i, ws=ws):
            try:
                while True:
                    m = ws.recv()
                    arrivals[i][m[m.index('"seq": "') + 8:][:32]] = time.monotonic()
            except (ConnectionClosed, ValueError):
                pass
        threading.Thread(target=reader, daemon=True).start()
    wait_for(lambda: len(members(r.url, f"task_{group}")) == NORMAL, 10, "normal members")
    sender = Sender(r.url)

    def round_latencies() -> list[float]:
        seq = uuid.uuid4().hex
        t0 = time.monotonic()
        sender.group_send(f"task_{group}", {"type": "task.progress", "seq": seq, "data": PAYLOAD})
        wait_for(lambda: all(seq in arrivals[i] for i in range(NORMAL)), 10, "round delivered", interval=0.001)
        return [arrivals[i][seq] - t0 for i in range(NORMAL)]

    try:
        for _ in range(5):  # warm up
            round_latencies()
        normal = [x for _ in range(ROUNDS) for x in round_latencies()]

        # The slow client: tiny receive buffer, joins the same group, then never reads again.
        s, status, _ = raw_handshake(lr.port, f"sessionid={keys[NORMAL]}", rcvbuf=4096)
        assert status == 101
        s.sendall(frame(0x1, ('{"action": "subscribe", "task_id": "%s"}' % group).encode()))
        wait_for(lambda: len(members(r.url, f"task_{group}")) == NORMAL + 1, 10, "slow member")

        during = []
        for _ in range(300):
            during += round_latencies()
            if lr.metric("laurel_drops_total", 'reason="queue_full"') >= 1:
                break
        assert lr.metric("laurel_drops_total", 'reason="queue_full"') >= 1, lr.logs()
        full = time.monotonic()
        # Closed (4008 requested; the connection dropped after the 2 s close grace because its writer
        # is blocked) and gone from the group, while the others keep receiving.
        while len(members(r.url, f"task_{group}")) != NORMAL:
            during += round_latencies()
            assert time.monotonic() - full < 5, "slow consumer not closed within 5 s of its queue filling"
        assert lr.metric("laurel_sockets_open") == NORMAL
        assert "slow consumer" in lr.log_text()
        for _ in range(ROUNDS // 2):
            during += round_latencies()

        med_normal, med_during = statistics.median(normal), statistics.median(during)
        p90_normal = statistics.quantiles(normal, n=10)[-1]
        p90_during = statistics.quantiles(during, n=10)[-1]
        print(f"latency median normal {med_normal * 1e3:.2f} ms, during {med_during * 1e3:.2f} ms; "
              f"p90 {p90_normal * 1e3:.2f} / {p90_during * 1e3:.2f} ms")
        assert med_during <= 2 * med_normal, (med_normal, med_during)
        s.close()
    finally:
        sender.close()
        for ws in socks:
            ws.close()
