"""Capacity (ChannelFull) and expiry (message and group membership) agree.

Capacity counts the members of the Redis key, whoever wrote them: a channel
filled by Go is full for Python and the reverse. send over capacity raises
(channels.exceptions.ChannelFull / channelsproto.ErrChannelFull); group_send
over capacity drops silently on both sides.

Where this cannot be done the same way in Go: a Python process only pops its
inbox key while a receive() is running, so its key fills up; laurel's inbox
readers pop the key as soon as a channel exists (into per-channel local
buffers of `capacity` messages, dropping the oldest, like Python's
BoundedQueue). A laurel inbox key therefore never stays full, and the
capacity and expiry checks below target Python inboxes and normal channels,
which both sides only read on demand.
"""

from __future__ import annotations

import re
import time

import pytest
from channels.exceptions import ChannelFull
from channels_redis.core import RedisChannelLayer

from channelsproto.client import GoError, assert_same, py_receive

pytestmark = pytest.mark.wire


@pytest.fixture
def cap(layerctl, py_layer, config):
    def make(**extra):
        cfg = {**config, **extra}
        return py_layer(cfg), layerctl.new(cfg)

    return make


def go_full(fn):
    with pytest.raises(GoError) as e:
        fn()
    assert e.value.kind == "channel_full", e.value


@pytest.mark.parametrize("target", ["plain", "specific"])
def test_go_filled_channel_is_full_for_both(cap, arun, rdb, prefix, target):
    py, go = cap(capacity=3)
    ch = arun(py.new_channel()) if target == "specific" else "cap.plain"
    for i in range(3):
        go.send(ch, {"type": "fill", "i": i})
    go_full(lambda: go.send(ch, {"type": "fill", "i": 3}))
    with pytest.raises(ChannelFull):
        arun(py.send(ch, {"type": "fill", "i": 4}))
    key = prefix + (ch[: ch.index("!") + 1] if "!" in ch else ch)
    assert rdb.zcard(key) == 3
    # Python sees Go's messages in order, then there is room again for both.
    assert [arun(py_receive(py, ch))["i"] for _ in range(3)] == [0, 1, 2]
    go.send(ch, {"type": "fill", "i": 5})
    arun(py.send(ch, {"type": "fill", "i": 6}))


def test_python_filled_channel_is_full_for_go(cap, arun):
    py, go = cap(capacity=2)
    ch = arun(py.new_channel())
    arun(py.send(ch, {"type": "a"}))
    arun(py.send(ch, {"type": "b"}))
    go_full(lambda: go.send(ch, {"type": "c"}))
    assert_same(arun(py_receive(py, ch)), {"type": "a"})
    go.send(ch, {"type": "c"})
    # The same on a normal channel, which Go also reads.
    arun(py.send("cap.norm", {"type": "a"}))
    arun(py.send("cap.norm", {"type": "b"}))
    go_full(lambda: go.send("cap.norm", {"type": "c"}))
    assert_same(go.receive("cap.norm"), {"type": "a"})
    go.send("cap.norm", {"type": "c"})


def test_capacity_is_per_process_key(cap, arun):
    """All channels of one process share one key, so one full local channel
    makes its sibling full too, on both sides."""
    py, go = cap(capacity=2)
    a, b = arun(py.new_channel()), arun(py.new_channel())
    go.send(a, {"type": "x"})
    arun(py.send(a, {"type": "y"}))
    go_full(lambda: go.send(b, {"type": "z"}))
    with pytest.raises(ChannelFull):
        arun(py.send(b, {"type": "z"}))


def test_channel_capacity_glob(cap, arun):
    """channel_capacity globs (fnmatch, full match) override capacity on both sides."""
    py, go = cap(capacity=50, channel_capacity={"small.*": 1, "tiny?": 2})
    go.send("small.one", {"type": "x"})
    go_full(lambda: go.send("small.one", {"type": "x"}))
    with pytest.raises(ChannelFull):
        arun(py.send("small.one", {"type": "x"}))
    for _ in range(2):
        arun(py.send("tinyA", {"type": "x"}))
    go_full(lambda: go.send("tinyA", {"type": "x"}))
    # "tinyAB" does not match "tiny?" (full match), so the default 50 applies.
    for _ in range(3):
        go.send("tinyAB", {"type": "x"})
        arun(py.send("tinyAB", {"type": "x"}))


def test_group_send_over_capacity_drops_silently(cap, arun, rdb, prefix):
    py, go = cap(capacity=1)
    pch = arun(py.new_channel())
    for ch in (pch, "busy.norm"):
        go.group_add("busy", ch)
    go.group_send("busy", {"type": "first"})
    go.group_send("busy", {"type": "dropped by go"})  # no error
    arun(py.group_send("busy", {"type": "dropped by python"}))  # no error
    assert rdb.zcard(prefix + pch[: pch.index("!") + 1]) == 1
    assert rdb.zcard(prefix + "busy.norm") == 1
    assert_same(arun(py_receive(py, pch)), {"type": "first"})
    assert_same(go.receive("busy.norm"), {"type": "first"})
    with pytest.raises(GoError) as e:
        go.receive("busy.norm", timeout=0.3)
    assert e.value.kind == "timeout"


@pytest.mark.slow
def test_group_expiry_prunes_members_both_sides(cap, arun, rdb, prefix):
    """Memberships older than group_expiry are pruned at the next group_send, by
    either side: nothing is delivered and the group key is emptied."""
    py, go = cap(group_expiry=2)
    gch, pch = go.new_channel(), arun(py.new_channel())
    go.group_add("old-py", pch)  # Go adds a Python channel
    arun(py.group_add("old-go", gch))  # Python adds a Go channel
    time.sleep(3.1)  # ZREMRANGEBYSCORE 0 int(now) - group_expiry
    go.group_send("old-py", {"type": "late"})
    arun(py.group_send("old-go", {"type": "late"}))
    assert rdb.zcard(prefix + ":group:old-py") == 0
    assert rdb.zcard(prefix + ":group:old-go") == 0
    with pytest.raises(TimeoutError):
        arun(py_receive(py, pch, timeout=0.5))
    with pytest.raises(GoError) as e:
        go.receive(gch, timeout=0.5)
    assert e.value.kind == "timeout"
    # A fresh group_add refreshes the membership on both sides.
    go.group_add("old-py", pch)
    arun(py.group_add("old-go", gch))
    go.group_send("old-py", {"type": "fresh"})
    arun(py.group_send("old-go", {"type": "fresh"}))
    assert_same(arun(py_receive(py, pch)), {"type": "fresh"})
    assert_same(go.receive(gch), {"type": "fresh"})


@pytest.mark.slow
def test_message_expiry_both_sides(cap, arun, rdb, prefix):
    """Every add sets the key TTL to expiry; messages older than expiry are
    pruned by the next send, whichever side wrote them and whichever sends."""
    py, go = cap(expiry=2)
    pch = arun(py.new_channel())
    nkey, pkey = prefix + "exp.norm", prefix + pch[: pch.index("!") + 1]
    arun(py.send("exp.norm", {"type": "stale"}))
    go.send(pch, {"type": "stale"})
    assert 0 < rdb.pttl(nkey) <= 2000 and 0 < rdb.pttl(pkey) <= 2000  # EXPIRE key 2
    # Drop the TTL so that only score-based pruning can remove the stale messages.
    rdb.persist(nkey)
    rdb.persist(pkey)
    time.sleep(3.1)  # ZREMRANGEBYSCORE key 0 int(now) - expiry
    go.send("exp.norm", {"type": "fresh"})  # Go prunes Python's stale message
    arun(py.send(pch, {"type": "fresh"}))  # Python prunes Go's stale message
    assert rdb.zcard(nkey) == 1 and rdb.zcard(pkey) == 1
    assert 0 < rdb.pttl(nkey) <= 2000 and 0 < rdb.pttl(pkey) <= 2000  # EXPIRE key 2
    assert_same(go.receive("exp.norm"), {"type": "fresh"})
    assert_same(arun(py_receive(py, pch)), {"type": "fresh"})


def test_channel_capacity_regex(layerctl, loop, arun, config):
    """A compiled re.Pattern key in Python (matched with .match, anchored only at
    the start) is written "re:<pattern>" in laurel's JSON CONFIG."""
    py = RedisChannelLayer(**config, capacity=50, channel_capacity={re.compile(r"burst\d"): 1})
    go = layerctl.new({**config, "capacity": 50, "channel_capacity": {r"re:burst\d": 1}})
    try:
        # "burst1-extra" matches at the start: capacity 1 for both.
        go.send("burst1-extra", {"type": "x"})
        go_full(lambda: go.send("burst1-extra", {"type": "x"}))
        with pytest.raises(ChannelFull):
            arun(py.send("burst1-extra", {"type": "x"}))
        # "xburst1" does not match at the start: default capacity.
        for _ in range(2):
            go.send("xburst1", {"type": "x"})
            arun(py.send("xburst1", {"type": "x"}))
    finally:
        arun(py.close_pools())
