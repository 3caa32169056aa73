"""Byte-level equality of what each side stores in Redis.

Python and Go each do the same operation under their own key prefix; then the
keys (minus the prefix), their types, TTLs and the stored members after the
random prefix are read with redis-py and must be equal. This covers send to
normal and process-specific channels, group_add and group_send (one stored
message per process key, "__asgi_channel__" appended last as a list).
"""

from __future__ import annotations

import time
import uuid

import pytest
import redis as redis_py

from channelsproto.cases import BYTE_SAMPLES
from channelsproto.client import GoError

pytestmark = pytest.mark.wire

PREFIX_LEN = 12  # channels_redis' random_prefix_length default (hard-coded before 4.2.1)
EXPIRY = 37
GROUP_EXPIRY = 500


def other_prefix():
    return "lt" + uuid.uuid4().hex[:12]


def snapshot(rdb: redis_py.Redis, prefix: str) -> dict:
    """{key without prefix: (type, ttl, [(member, score), ...])} for every key under prefix."""
    out = {}
    for key in rdb.scan_iter(match=prefix.encode() + b"*", count=1000):
        kind = rdb.type(key).decode()
        assert kind == "zset", f"{key!r} is a {kind}"
        members = rdb.zrange(key, 0, -1, withscores=True)
        out[key[len(prefix):].decode()] = (kind, rdb.ttl(key), members)
    return out


def assert_same_store(py_snap: dict, go_snap: dict, since: float, strip: int = PREFIX_LEN):
    """Same keys, types, members (after `strip` bytes) and TTLs; TTLs may differ
    by the time the operations took, counted from `since`."""
    assert sorted(py_snap) == sorted(go_snap), "different keys"
    now = time.time()
    slack = 1 + int(now - since)
    for key, (pkind, pttl, pmembers) in py_snap.items():
        gkind, gttl, gmembers = go_snap[key]
        assert gkind == pkind, key
        assert abs(gttl - pttl) <= slack, f"{key}: TTL go {gttl} python {pttl}"
        assert len(gmembers) == len(pmembers), key
        for (pm, ps), (gm, gs) in zip(pmembers, gmembers):
            assert len(gm) == len(pm), f"{key}: go stored {len(gm)} bytes, python {len(pm)}"
            assert gm[strip:] == pm[strip:], f"{key}: body differs\n go: {gm[strip:strip+120]!r}\npy: {pm[strip:strip+120]!r}"
            assert abs(gs - now) < 30 and abs(ps - now) < 30, f"{key}: scores are not time.time()"


@pytest.fixture
def pair(layerctl, py_layer, redis_server, rdb):
    """(python layer, go layer, python prefix, go prefix) with equal settings."""
    pp, gp = other_prefix(), other_prefix()
    base = {"hosts": [redis_server.url], "expiry": EXPIRY, "group_expiry": GROUP_EXPIRY}
    return py_layer({**base, "prefix": pp}), layerctl.new({**base, "prefix": gp}), pp, gp


@pytest.mark.parametrize("msg", BYTE_SAMPLES.values(), ids=BYTE_SAMPLES.keys())
def test_send_stores_identical_bytes(pair, arun, rdb, msg):
    py, go, pp, gp = pair
    fake = uuid.uuid4().hex
    t0 = time.time()
    for ch in ("bytes.plain", f"specific.{fake}!local.1"):
        arun(py.send(ch, msg))
        go.send(ch, msg)
    ps, gs = snapshot(rdb, pp), snapshot(rdb, gp)
    assert sorted(ps) == ["bytes.plain", f"specific.{fake}!"]
    assert_same_store(ps, gs, t0)
    assert EXPIRY - (time.time() - t0) - 1 <= ps["bytes.plain"][1] <= EXPIRY


@pytest.mark.parametrize("msg", BYTE_SAMPLES.values(), ids=BYTE_SAMPLES.keys())
def test_group_send_stores_identical_bytes(pair, arun, rdb, msg):
    py, go, pp, gp = pair
    cp1, cp2 = uuid.uuid4().hex, uuid.uuid4().hex
    members = [f"specific.{cp1}!a", "plain.member", f"specific.{cp2}!x", f"specific.{cp1}!b"]
    t0 = time.time()
    for m in members:
        arun(py.group_add("chat_room-1", m))
        go.group_add("chat_room-1", m)
    ps, gs = snapshot(rdb, pp), snapshot(rdb, gp)
    assert sorted(ps) == [":group:chat_room-1"]
    assert [m.decode() for m, _ in gs[":group:chat_room-1"][2]] == members
    assert_same_store(ps, gs, t0, strip=0)
    assert ps[":group:chat_room-1"][1] == GROUP_EXPIRY

    t0 = time.time()
    arun(py.group_send("chat_room-1", msg))
    go.group_send("chat_room-1", msg)
    ps, gs = snapshot(rdb, pp), snapshot(rdb, gp)
    assert sorted(ps) == sorted([":group:chat_room-1", "plain.member", f"specific.{cp1}!", f"specific.{cp2}!"])
    assert_same_store(ps, gs, t0)


def test_random_prefix_is_random(pair, rdb):
    """Two identical Go messages stay two members: their 12-byte prefixes differ."""
    _, go, _, gp = pair
    for _ in range(3):
        go.send("dup", {"type": "same"})
    members = rdb.zrange(gp + "dup", 0, -1)
    assert len(members) == 3
    assert len({m[:PREFIX_LEN] for m in members}) == 3
    assert len({m[PREFIX_LEN:] for m in members}) == 1


def test_reference_vector(pair, rdb):
    """The reference sheet's test vector, stored by Go."""
    _, go, _, gp = pair
    go.send("vec", {"type": "task.update", "pct": 50})
    (member,) = rdb.zrange(gp + "vec", 0, -1)
    assert member[PREFIX_LEN:].hex() == "82a474797065ab7461736b2e757064617465a370637432"


def test_go_rejects_reserved_key(pair):
    """Python asserts "__asgi_channel__" is not in a sent message; Go refuses it too."""
    _, go, _, _ = pair
    with pytest.raises(GoError) as e:
        go.send("x", {"type": "a", "__asgi_channel__": "y"})
    assert e.value.kind == "invalid_message"
