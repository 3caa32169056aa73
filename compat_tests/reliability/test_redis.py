"""Redis failures: kill -9 and restart under load (with and without persistence), and Redis
unreachable when laurel starts. What must hold: laurel stays up, /readyz goes 503 then 200, every
live socket's group memberships are back in Redis, delivery of new messages resumes within 2 s of
Redis answering again, and the goroutine count returns to where it was."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from .conftest import group_send, members, recv_json, subscribe, wait_for

SOCKETS = 4


def _open_subscribed(lr, keys, tag):
    socks = []
    for i, key in enumerate(keys):
        ws = lr.ws(key)
        subscribe(ws, f"{tag}{i}")
        socks.append(ws)
    for i in range(len(keys)):
        wait_for(lambda i=i: members(lr.redis_url, f"task_{tag}{i}"), 10, f"task_{tag}{i} membership")
    return socks


@pytest.mark.parametrize("persistence", ["none", "appendonly"])
def test_redis_kill9_restart_under_load(stack, redis_factory, laurel_factory, persistence):
    extra = ["--appendonly", "yes", "--appendfsync", "always"] if persistence == "appendonly" else []
    r = redis_factory(extra)
    lr = laurel_factory(r.url)
    users = [f"rr{persistence[:2]}{i}{uuid.uuid4().hex[:6]}" for i in range(SOCKETS)]
    keys = stack.sessions(*users)
    tag = uuid.uuid4().hex[:8]
    socks = _open_subscribed(lr, keys, tag)
    # Steady traffic before the crash: every socket gets its messages.
    for i, ws in enumerate(socks):
        group_send(r.url, f"task_{tag}{i}", {"type": "task.progress", "n": 0})
        assert recv_json(ws)["n"] == 0
    goroutines_before = lr.metric("go_goroutines")

    # Load while Redis dies: a background sender keeps sending until told to stop.
    stop = threading.Event()

    def load():
        n = 0
        while not stop.is_set():
            try:
                group_send(r.url, f"task_{tag}0", {"type": "task.progress", "n": -1})
            except Exception:  # noqa: BLE001 - Redis is down on purpose
                time.sleep(0.05)
            n += 1
    t = threading.Thread(target=load, daemon=True)
    t.start()
    time.sleep(0.5)
    r.stop(kill=True)  # kill -9
    wait_for(lambda: lr.readyz() == 503, 10, "/readyz 503 while Redis is down")
    time.sleep(1.5)
    stop.set()
    t.join(10)
    assert lr.alive(), lr.logs()

    r.start()  # same port, same dir: with appendonly the old data comes back
    returned = time.monotonic()
    wait_for(lambda: lr.readyz() == 200, 10, "/readyz 200 after Redis returned")
    for i in range(SOCKETS):
        wait_for(lambda i=i: members(r.url, f"task_{tag}{i}"), 2.0, f"task_{tag}{i} re-registered")
    # Drain what arrived from the load thread before the crash.
    for ws in socks:
        while True:
            try:
                ws.recv(timeout=0.2)
            except TimeoutError:
                break
    # Delivery resumes: each socket gets a fresh message, sent once every 100 ms until it arrives.
    resumed = None
    for i, ws in enumerate(socks):
        marker = uuid.uuid4().hex
        got = None
        while got is None:
            group_send(r.url, f"task_{tag}{i}", {"type": "task.done", "marker": marker})
            try:
                while True:
                    msg = recv_json(ws, timeout=0.1)
                    if msg.get("marker") == marker:
                        got = time.monotonic()
                        break
            except TimeoutError:
                pass
            assert time.monotonic() - returned < 10, f"socket {i} got nothing after Redis returned:\n{lr.logs()}"
        if resumed is None:
            resumed = got - returned
    assert resumed < 2.0, f"delivery resumed {resumed:.2f}s after Redis returned"
    assert lr.alive()
    for ws in socks:
        ws.close()
    wait_for(lambda: lr.metric("laurel_sockets_open") == 0, 10, "sockets closed")
    # No goroutine per idle socket, so the count with the sockets open is the
    # server's own level: a goroutine leaked by the crash, a reconnect round
    # or a closed socket would keep it above that.
    wait_for(lambda: lr.metric("go_goroutines") <= goroutines_before, 10,
             f"goroutines back to the level before the crash ({goroutines_before})")
    assert "group memberships re-added" in lr.log_text()


def test_redis_unreachable_at_start(stack, redis_factory, laurel_factory):
    from harness.servers import free_port
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    lr = laurel_factory(url, wait_ready=False)
    wait_for(lambda: lr.readyz() == 503, 15, "/readyz 503 without Redis")
    time.sleep(2)  # a few retry rounds
    assert lr.alive(), lr.logs()
    assert lr.readyz() == 503
    assert "Redis unreachable at start-up" in lr.log_text()
    r = redis_factory(port=port)
    t0 = time.monotonic()
    wait_for(lambda: lr.readyz() == 200, 5, "/readyz 200 once Redis runs")
    ready_after = time.monotonic() - t0
    key, = stack.sessions(f"ru{uuid.uuid4().hex[:8]}")
    with lr.ws(key) as ws:
        subscribe(ws, "start1")
        wait_for(lambda: members(r.url, "task_start1"), 5, "membership")
        group_send(r.url, "task_start1", {"type": "task.done", "ok": True})
        assert recv_json(ws) == {"type": "task_done", "ok": True}
    assert ready_after < 3, ready_after
