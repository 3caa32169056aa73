"""Session store down, revocation, and laurel restarts (SIGTERM drain, reconnect)."""

from __future__ import annotations

import signal
import time
import uuid

import pytest

from .conftest import close_code, group_send, members, recv_json, restart_postgres, subscribe, wait_for


@pytest.fixture
def redis(redis_factory):
    return redis_factory()


def test_session_store_down(stack, redis, laurel_factory):
    lr = laurel_factory(redis.url)
    key_open, key_new = stack.sessions(f"sd{uuid.uuid4().hex[:8]}", f"sd{uuid.uuid4().hex[:8]}")
    ws = lr.ws(key_open)
    subscribe(ws, "sd1")
    wait_for(lambda: members(redis.url, "task_sd1"), 5, "membership")
    stack.pg.stop()
    try:
        # New handshakes: 503 with a clear log line, not 403 (the user is not "logged out").
        assert lr.status_of(key_new) == 503
        assert "session store unavailable" in lr.log_text()
        # The open socket keeps working.
        group_send(redis.url, "task_sd1", {"type": "task.progress", "pct": 50})
        assert recv_json(ws) == {"type": "task_progress", "pct": 50}
    finally:
        restart_postgres(stack.pg)
    # Recovery is automatic.
    wait_for(lambda: lr.status_of(key_new) == 101, 15, "handshakes accepted again")
    group_send(redis.url, "task_sd1", {"type": "task.done"})
    assert recv_json(ws) == {"type": "task_done"}
    ws.close()


def test_revocation_closes_with_4003(stack, redis, laurel_factory):
    lr = laurel_factory(redis.url, revalidate_interval="1s")
    names = {k: f"rv{k[:2]}{uuid.uuid4().hex[:6]}" for k in ("logout", "password", "deactivate", "control")}
    keys = dict(zip(names, stack.sessions(*names.values())))
    socks = {k: lr.ws(keys[k]) for k in names}
    # Give every socket a moment to be registered, then revoke three ways.
    time.sleep(0.3)
    stack.dj("logout", keys["logout"])
    stack.dj("setpassword", names["password"])
    stack.dj("deactivate", names["deactivate"])
    t0 = time.monotonic()
    for k in ("logout", "password", "deactivate"):
        assert close_code(socks[k], timeout=10) == 4003, k
    elapsed = time.monotonic() - t0
    # Bound: one revalidation interval (1 s) + djangoauth's verdict cache TTL (2 s) + scheduling slack.
    assert elapsed < 1 + 2 + 2, f"revoked sockets closed {elapsed:.1f}s after the last revocation (interval 1 s)"
    # The untouched session stays open and working.
    socks["control"].send('{"action": "subscribe", "task_id": "rvc"}')
    wait_for(lambda: members(redis.url, "task_rvc"), 5, "control membership")
    group_send(redis.url, "task_rvc", {"type": "task.done"})
    assert recv_json(socks["control"]) == {"type": "task_done"}
    # Revoked sessions cannot come back either.
    assert lr.status_of(keys["logout"]) == 403
    socks["control"].close()


def test_sigterm_drains_with_1001_and_clients_reconnect(stack, redis, laurel_factory):
    lr = laurel_factory(redis.url, drain_period="1s")
    users = [f"dr{i}{uuid.uuid4().hex[:6]}" for i in range(3)]
    keys = stack.sessions(*users)
    socks = []
    for i, key in enumerate(keys):
        ws = lr.ws(key)
        subscribe(ws, f"drain{i}")
        socks.append(ws)
    for i in range(3):
        wait_for(lambda i=i: members(redis.url, f"task_drain{i}"), 5, "membership")
    uid_groups = [g.decode() for g in __import__("redis").Redis.from_url(redis.url).keys("asgi:group:user_*")]
    assert uid_groups
    t0 = time.monotonic()
    lr.proc.send_signal(signal.SIGTERM)
    codes = [close_code(ws, timeout=10) for ws in socks]
    closed_after = time.monotonic() - t0
    assert codes == [1001, 1001, 1001]
    assert closed_after < 1 + 2, f"closed {closed_after:.1f}s after SIGTERM, drain period 1 s"
    assert lr.proc.wait(20) == 0, lr.logs()
    # Every membership of the old process is gone from Redis.
    for i in range(3):
        assert members(redis.url, f"task_drain{i}") == []
    r = __import__("redis").Redis.from_url(redis.url)
    assert [g for g in uid_groups if r.zcard(g)] == []
    # A new process on the same port: the client reconnects and resubscribes.
    lr2 = laurel_factory(redis.url, port=lr.port)
    with lr2.ws(keys[0]) as ws:
        subscribe(ws, "drain0")
        wait_for(lambda: members(redis.url, "task_drain0"), 5, "membership after reconnect")
        group_send(redis.url, "task_drain0", {"type": "task.done", "again": True})
        assert recv_json(ws) == {"type": "task_done", "again": True}


def test_kill9_memberships_are_reaped(stack, redis, laurel_factory):
    """A laurel killed with SIGKILL cannot discard its memberships; a live process sweeps them after
    3 heartbeat intervals, and Python's group_send then no longer writes to the dead inbox."""
    victim = laurel_factory(redis.url, heartbeat_interval="0.5s")
    survivor = laurel_factory(redis.url, heartbeat_interval="0.5s")
    k1, k2 = stack.sessions(f"k9a{uuid.uuid4().hex[:6]}", f"k9b{uuid.uuid4().hex[:6]}")
    dead_ws, live_ws = victim.ws(k1), survivor.ws(k2)
    subscribe(dead_ws, "k9")
    subscribe(live_ws, "k9")
    wait_for(lambda: len(members(redis.url, "task_k9")) == 2, 5, "both members")
    r = __import__("redis").Redis.from_url(redis.url)
    assert r.zcard("asgi:laurel:procs") == 2
    victim.proc.kill()
    victim.proc.wait(5)
    killed = time.monotonic()
    # The victim's entries (its task group and its user_<id> group) disappear; the survivor's stay.
    wait_for(lambda: len(members(redis.url, "task_k9")) == 1, 10, "dead member reaped")
    reaped_after = time.monotonic() - killed
    assert reaped_after < 3 * 0.5 + 2, reaped_after
    [left] = members(redis.url, "task_k9")
    assert r.zcard("asgi:laurel:procs") == 1
    user_groups = {g.decode(): [m.decode() for m in r.zrange(g, 0, -1)] for g in r.keys("asgi:group:user_*")}
    prefixes = {m.split("!")[0] for ms in user_groups.values() for m in ms}
    assert prefixes == {left.split("!")[0]}, user_groups
    # Python's group_send reaches the survivor only; no inbox is left for the dead process.
    group_send(redis.url, "task_k9", {"type": "task.done"})
    assert recv_json(live_ws) == {"type": "task_done"}
    assert [k for k in r.keys("asgispecific.*") if not k.decode().startswith("asgi" + left.split("!")[0])] == []
    live_ws.close()
    survivor.stop()
    assert r.zcard("asgi:laurel:procs") == 0
