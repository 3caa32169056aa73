"""Two and three Redis hosts (sharding) shared by Python and Go.

channels_redis shards the group ZSET by consistent_hash(group) and a
process-specific inbox by consistent_hash("specific.<client_prefix>!"), but a
direct send() to a specific channel hashes the FULL name (a bug since
channels_redis 2.2.0), so with several hosts it can land on a host the
receiver never reads. laurel reads its inbox on every host, so a Python
send() to a Go channel still arrives: asserted below for names that hash to
the "wrong" host.
"""

from __future__ import annotations

import uuid

import pytest
import redis as redis_py

from channelsproto.client import assert_same, py_receive

pytestmark = pytest.mark.wire


@pytest.fixture(params=[2, 3], ids=["2-hosts", "3-hosts"])
def shards(request, redis_factory, layerctl, py_layer):
    """(python layer, go layer, [redis-py client per host], prefix) on 2 or 3 fresh hosts."""
    hosts = [redis_factory() for _ in range(request.param)]
    prefix = "lt" + uuid.uuid4().hex[:12]
    cfg = {"hosts": [h.url for h in hosts], "prefix": prefix}
    clients = [redis_py.Redis.from_url(h.url) for h in hosts]
    yield py_layer(cfg), layerctl.new(cfg), clients, prefix
    for c in clients:
        c.close()


def where(clients, key: str) -> list[int]:
    return [i for i, c in enumerate(clients) if c.exists(key)]


def test_group_key_lands_on_same_shard(shards, arun):
    py, go, clients, prefix = shards
    groups = [f"room-{i}" for i in range(12)]
    seen = set()
    for g in groups:
        go.group_add(g, "x.go")
        arun(py.group_add(g, "x.py"))
        want = py.consistent_hash(g)
        seen.add(want)
        assert where(clients, f"{prefix}:group:{g}") == [want], g
        assert {m.decode() for m in clients[want].zrange(f"{prefix}:group:{g}", 0, -1)} == {"x.go", "x.py"}
    assert seen == set(range(len(clients))), "test groups should cover every shard"


def test_python_group_send_reaches_go_on_both_shards(shards, arun):
    py, go, clients, prefix = shards
    chans = [go.new_channel() for _ in range(3)]
    for i in range(8):
        g = f"grp{i}"
        for ch in chans:
            go.group_add(g, ch)
        msg = {"type": "sharded", "group": g}
        arun(py.group_send(g, msg))
        for ch in chans:
            assert_same(go.receive(ch), msg)


def test_go_group_send_reaches_python_on_both_shards(shards, arun):
    py, go, clients, prefix = shards
    chans = [arun(py.new_channel()) for _ in range(3)]
    inbox = f"{prefix}{chans[0][: chans[0].index('!') + 1]}"
    for i in range(8):
        g = f"grp{i}"
        for ch in chans:
            arun(py.group_add(g, ch))
        msg = {"type": "sharded", "group": g}
        go.group_send(g, msg)
        # Go stored the message where Python reads: consistent_hash(non-local name).
        assert where(clients, inbox) == [py.consistent_hash(chans[0][: chans[0].index("!") + 1])]
        for ch in chans:
            assert_same(arun(py_receive(py, ch)), msg)


def test_python_direct_send_to_go_channel_arrives(shards, arun):
    """Python hashes the full channel name on send(); laurel still receives it."""
    py, go, clients, prefix = shards
    wrong = right = 0
    for i in range(40):
        ch = go.new_channel()
        nonlocal_name = ch[: ch.index("!") + 1]
        landed = py.consistent_hash(ch)
        if landed != py.consistent_hash(nonlocal_name):
            wrong += 1
        else:
            right += 1
        msg = {"type": "direct", "i": i}
        arun(py.send(ch, msg))  # lands on host `landed`; Go's readers may pop it at once
        assert_same(go.receive(ch), msg)
        if wrong >= 3 and right >= 3:
            break
    assert wrong >= 3 and right >= 3, "channel names should hash to both shards"


def test_go_direct_send_to_python_channel_arrives(shards, arun):
    """Go's send() to a specific channel puts it where its receiver reads:
    consistent_hash of the non-local name (deliberately not Python's
    full-name hash, which loses messages); Python receives every one."""
    py, go, clients, prefix = shards
    for i in range(10):
        ch = arun(py.new_channel())
        msg = {"type": "direct", "i": i}
        go.send(ch, msg)
        assert_same(arun(py_receive(py, ch)), msg)


def test_normal_channel_round_robin(shards, arun):
    """Python spreads sends to a normal channel over the hosts round-robin;
    Go's receive finds them on every host."""
    py, go, clients, prefix = shards
    for i in range(4):
        arun(py.send("tasks", {"type": "job", "i": i}))
    assert where(clients, prefix + "tasks") == list(range(len(clients)))
    got = sorted(go.receive("tasks")["i"] for _ in range(4))
    assert got == [0, 1, 2, 3]
