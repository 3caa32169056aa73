"""Two Redis hosts shared by Python and Go.

Both layers pick a host with _consistent_hash(<exact Pub/Sub channel>,
len(hosts)): a specific channel "<prefix>specific.<hex>", a plain channel
name, or "<prefix>__group__<group>". Every subscription is checked to be on
the host Python's own _get_shard picks, and messages cross in both
directions for names on both hosts.
"""

from __future__ import annotations

import uuid

import pytest
import redis as redis_py
from channels_redis.utils import _consistent_hash

from pubsub.client import assert_same, py_receive_pubsub, wait_subscribers

pytestmark = pytest.mark.wire


@pytest.fixture
def shards(redis_factory, pubsubctl, py_pubsub):
    hosts = [redis_factory(), redis_factory()]
    prefix = "ps" + uuid.uuid4().hex[:12]
    cfg = {"hosts": [h.url for h in hosts], "prefix": prefix}
    clients = [redis_py.Redis.from_url(h.url) for h in hosts]
    yield py_pubsub(cfg), pubsubctl.new(cfg), clients, prefix
    for c in clients:
        c.close()


def covering(prefix, n=6):
    """Group names g0, g1, ... (at least n) until their channels hash to both hosts."""
    groups, i = [], 0
    while len(groups) < n or {_consistent_hash(f"{prefix}__group__{g}", 2) for g in groups} != {0, 1}:
        groups.append(f"g{i}")
        i += 1
    return groups


def subscribed_on(clients, name):
    return [i for i, c in enumerate(clients) if dict(c.pubsub_numsub(name)).get(name.encode(), 0) > 0]


def test_go_subscriptions_on_pythons_shard(shards, arun):
    py, go, clients, prefix = shards
    chans = [go.new_channel() for _ in range(8)]
    groups = covering(prefix, 8)
    for i, g in enumerate(groups):
        go.group_add(g, chans[i % len(chans)])
    py_loop_layer = None

    async def loop_layer():
        return py._get_layer()

    py_loop_layer = arun(loop_layer())
    seen = set()
    for name in chans + [f"{prefix}__group__{g}" for g in groups]:
        want = py_loop_layer._shards.index(py_loop_layer._get_shard(name))
        assert want == _consistent_hash(name, 2)
        seen.add(want)
        wait_subscribers(clients[want], name)
        assert subscribed_on(clients, name) == [want], name
    assert seen == {0, 1}, "names should cover both shards"


def test_python_to_go_on_both_shards(shards, arun):
    py, go, clients, prefix = shards
    chans = [go.new_channel() for _ in range(6)]
    while {_consistent_hash(ch, 2) for ch in chans} != {0, 1}:
        chans.append(go.new_channel())
    for ch in chans:
        wait_subscribers(clients[_consistent_hash(ch, 2)], ch)
    for i, ch in enumerate(chans):
        arun(py.send(ch, {"type": "direct", "i": i}))
    for i, ch in enumerate(chans):
        assert_same(go.receive(ch), {"type": "direct", "i": i})
    groups = covering(prefix)
    for g in groups:
        go.group_add(g, chans[0])
    for g in groups:
        arun(py.group_send(g, {"type": "group", "g": g}))
    # The groups live on different shards, read by different connections: order across
    # shards is not defined (in Python either), so compare the set of messages.
    got = [go.receive(chans[0]) for _ in groups]
    for m in got:
        assert m["type"] == "group"
    assert sorted(m["g"] for m in got) == sorted(groups)


def test_go_to_python_on_both_shards(shards, arun):
    py, go, clients, prefix = shards
    chans = [arun(py.new_channel()) for _ in range(6)]
    while {_consistent_hash(ch, 2) for ch in chans} != {0, 1}:
        chans.append(arun(py.new_channel()))
    for ch in chans:
        wait_subscribers(clients[_consistent_hash(ch, 2)], ch)
    for i, ch in enumerate(chans):
        go.send(ch, {"type": "direct", "i": i})
    for i, ch in enumerate(chans):
        assert_same(arun(py_receive_pubsub(py, ch)), {"type": "direct", "i": i})
    groups = covering(prefix)
    for g in groups:
        arun(py.group_add(g, chans[0]))
    for g in groups:
        name = f"{prefix}__group__{g}"
        wait_subscribers(clients[_consistent_hash(name, 2)], name)
    for g in groups:
        go.group_send(g, {"type": "group", "g": g})
    got = [arun(py_receive_pubsub(py, chans[0])) for _ in groups]
    assert sorted(m["g"] for m in got) == sorted(groups)
