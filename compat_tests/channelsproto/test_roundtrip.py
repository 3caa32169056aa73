"""Messages cross between real channels_redis and laurel's channelsproto intact.

For every value type Python allows (cases.VALUE_SAMPLES) and in both
directions, the message one side sends is the object the other side's
receive returns: same types (bytes vs str, int vs float vs bool), same values
(up to 2**64-1 and down to -2**63), same dict key order.
"""

from __future__ import annotations

import time

import pytest

from channelsproto.cases import VALUE_SAMPLES
from channelsproto.client import GoError, assert_same, py_receive

pytestmark = pytest.mark.wire
samples = pytest.mark.parametrize("msg", VALUE_SAMPLES.values(), ids=VALUE_SAMPLES.keys())


@samples
def test_python_send_to_go_channel(layers, arun, msg):
    py, go = layers
    ch = go.new_channel()
    arun(py.send(ch, msg))
    assert_same(go.receive(ch), msg)


@samples
def test_python_group_send_to_go_group_members(layers, arun, msg):
    """Go group_add + Python group_send: one stored message fans out to every Go member."""
    py, go = layers
    a, b = go.new_channel(), go.new_channel()
    go.group_add("room", a)
    go.group_add("room", b)
    arun(py.group_send("room", msg))
    assert_same(go.receive(a), msg)
    assert_same(go.receive(b), msg)


@samples
def test_go_send_to_python_channel(layers, arun, msg):
    py, go = layers
    ch = arun(py.new_channel())
    go.send(ch, msg)
    assert_same(arun(py_receive(py, ch)), msg)


@samples
def test_go_group_send_to_python_group_members(layers, arun, msg):
    """Python new_channel + group_add, Go group_send, Python receive."""
    py, go = layers
    a, b = arun(py.new_channel()), arun(py.new_channel())
    arun(py.group_add("room", a))
    arun(py.group_add("room", b))
    go.group_send("room", msg)
    assert_same(arun(py_receive(py, a)), msg)
    assert_same(arun(py_receive(py, b)), msg)


def test_mixed_group_both_directions(layers, arun):
    """A group holding Python and Go channels, added by either side, reaches all of them
    whichever side sends."""
    py, go = layers
    pa, ga = arun(py.new_channel()), go.new_channel()
    arun(py.group_add("mixed", ga))
    go.group_add("mixed", pa)
    for sender in ("python", "go"):
        msg = {"type": "chat.message", "from": sender, "n": 7}
        if sender == "python":
            arun(py.group_send("mixed", msg))
        else:
            go.group_send("mixed", msg)
        assert_same(arun(py_receive(py, pa)), msg)
        assert_same(go.receive(ga), msg)


def test_group_discard_both_directions(layers, arun):
    """A channel discarded by either side stops receiving; the others still do."""
    py, go = layers
    pa, ga, gb = arun(py.new_channel()), go.new_channel(), go.new_channel()
    for ch in (pa, ga, gb):
        go.group_add("g", ch)
    arun(py.group_discard("g", ga))
    go.group_discard("g", pa)
    go.group_discard("g", "never.added")  # a no-op, as in Python
    arun(py.group_send("g", {"type": "after.discard"}))
    assert_same(go.receive(gb), {"type": "after.discard"})
    with pytest.raises(GoError) as e:
        go.receive(ga, timeout=0.5)
    assert e.value.kind == "timeout", e.value
    with pytest.raises(TimeoutError):
        arun(py_receive(py, pa, timeout=0.5))


def test_order_is_fifo_both_directions(layers, arun):
    py, go = layers
    pch, gch = arun(py.new_channel()), go.new_channel()
    for i in range(10):
        arun(py.send(gch, {"type": "seq", "i": i}))
        go.send(pch, {"type": "seq", "i": i})
    assert [go.receive(gch)["i"] for _ in range(10)] == list(range(10))
    assert [arun(py_receive(py, pch))["i"] for _ in range(10)] == list(range(10))


@pytest.mark.parametrize("channel", ["tasks", "background-jobs.v2_x"])
def test_normal_channel_both_directions(layers, arun, channel):
    """Normal (non-process-specific) channels as runworker uses them: a Python
    send is received by Go and the reverse, with no __asgi_channel__ key."""
    py, go = layers
    arun(py.send(channel, {"type": "job.run", "id": 1}))
    assert_same(go.receive(channel), {"type": "job.run", "id": 1})
    go.send(channel, {"type": "job.run", "id": 2})
    assert_same(arun(py_receive(py, channel)), {"type": "job.run", "id": 2})


def test_flush_both_directions(layers, arun, rdb, prefix):
    """Each side's flush() deletes every key under the prefix, whoever wrote it."""
    py, go = layers
    for flusher in ("python", "go"):
        go.group_add("f", "x.y")
        go.send("f.plain", {"type": "f"})
        arun(py.group_add("f2", "x.y"))
        arun(py.send("f.plain2", {"type": "f"}))
        assert len(list(rdb.scan_iter(match=prefix + "*"))) == 4
        if flusher == "python":
            arun(py.flush())
        else:
            go.flush()
        assert list(rdb.scan_iter(match=prefix + "*")) == []


@pytest.mark.parametrize("receiver", ["go", "python"])
def test_inflight_backup_is_restored_first(layers, arun, rdb, prefix, receiver):
    """A receiver that died between BZPOPMIN and its cleanup leaves the message
    in "<key>$inflight". The next receive, by either implementation, moves it
    back with its original score (channels_redis' cleanup script) and so
    returns it before newer messages."""
    py, go = layers
    key = prefix + "inflight.norm"
    old = py.serialize({"type": "in-flight", "n": 1})
    rdb.zadd(key + "$inflight", {old: time.time() - 5})
    arun(py.send("inflight.norm", {"type": "queued", "n": 2}))
    if receiver == "go":
        got = [go.receive("inflight.norm") for _ in range(2)]
    else:
        got = [arun(py_receive(py, "inflight.norm")) for _ in range(2)]
        arun(py.wait_received())  # Python's backup cleaners run as tasks
    assert_same(got, [{"type": "in-flight", "n": 1}, {"type": "queued", "n": 2}])
    assert rdb.zcard(key + "$inflight") == 0
