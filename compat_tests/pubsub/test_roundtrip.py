"""Messages cross between real channels_redis RedisPubSubChannelLayer and
laurel's PubSubLayer intact, for every value type (the core suite's
VALUE_SAMPLES) and in both directions: send to a channel and group_send to a
group, compared by type, value and dict order.

Limits of the pub/sub layer that both sides share: a group's members are the
channels each process added itself (membership is process-local), and a
message published before the receiver's SUBSCRIBE reached Redis is lost
(delivery is at most once), hence wait_subscribers before each publish.
"""

from __future__ import annotations

import pytest

from channelsproto.cases import VALUE_SAMPLES
from pubsub.client import assert_same, py_receive_pubsub, wait_subscribers

pytestmark = pytest.mark.wire
samples = pytest.mark.parametrize("msg", VALUE_SAMPLES.values(), ids=VALUE_SAMPLES.keys())


@samples
def test_python_send_to_go_channel(layers, arun, rdb, msg):
    py, go = layers
    ch = go.new_channel()
    wait_subscribers(rdb, ch)
    arun(py.send(ch, msg))
    assert_same(go.receive(ch), msg)


@samples
def test_python_group_send_to_go_members(layers, arun, msg):
    """Go group_add waits for the SUBSCRIBE confirmation, so a Python
    group_send right after it is delivered to every Go member."""
    py, go = layers
    a, b = go.new_channel(), go.new_channel()
    go.group_add("room", a)
    go.group_add("room", b)
    arun(py.group_send("room", msg))
    assert_same(go.receive(a), msg)
    assert_same(go.receive(b), msg)


@samples
def test_go_send_to_python_channel(layers, arun, rdb, msg):
    py, go = layers
    ch = arun(py.new_channel())
    wait_subscribers(rdb, ch)
    go.send(ch, msg)
    assert_same(arun(py_receive_pubsub(py, ch)), msg)


@samples
def test_go_group_send_to_python_members(layers, arun, rdb, config, msg):
    py, go = layers
    a, b = arun(py.new_channel()), arun(py.new_channel())
    arun(py.group_add("room", a))
    arun(py.group_add("room", b))
    wait_subscribers(rdb, f"{config['prefix']}__group__room")
    go.group_send("room", msg)
    assert_same(arun(py_receive_pubsub(py, a)), msg)
    assert_same(arun(py_receive_pubsub(py, b)), msg)


def test_group_spanning_both_processes(layers, arun, rdb, config):
    """Each process adds its own channel; a group_send from either side reaches both."""
    py, go = layers
    pa, ga = arun(py.new_channel()), go.new_channel()
    arun(py.group_add("mixed", pa))
    go.group_add("mixed", ga)
    wait_subscribers(rdb, f"{config['prefix']}__group__mixed", 2)
    for sender in ("python", "go"):
        msg = {"type": "chat.message", "from": sender, "n": 7}
        if sender == "python":
            arun(py.group_send("mixed", msg))
        else:
            go.group_send("mixed", msg)
        assert_same(arun(py_receive_pubsub(py, pa)), msg)
        assert_same(go.receive(ga), msg)


def test_go_receive_on_plain_channel_subscribes(layers, arun):
    """receive() on a name the process never made subscribes to it, on both sides."""
    py, go = layers
    fut = go.receive_async("plain.channel.for.go", timeout=10)
    msg = {"type": "plain", "v": 1}
    import time

    deadline = time.monotonic() + 10
    while not fut.done() and time.monotonic() < deadline:
        arun(py.send("plain.channel.for.go", msg))
        time.sleep(0.05)
    resp = fut.result(10)
    assert resp["ok"], resp
    from pubsub.client import untag

    assert_same(untag(resp["result"]["message"]), msg)
