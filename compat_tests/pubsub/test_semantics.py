"""Behaviour of the pub/sub layer beyond the bytes, compared side by side.

- group membership is process-local: group_add of another process's channel
  fails on both sides (Python: RuntimeError; laurel: invalid_name);
- one SUBSCRIBE per group per process, UNSUBSCRIBE when the last local
  member leaves (PUBSUB NUMSUB counts processes, not members);
- a receive that times out unsubscribes its channel on both sides;
- flush() unsubscribes everything and forgets local state;
- laurel's Dispatcher sees one Delivery per Redis message, listing every
  local member (the server encodes a group frame once);
- delivery is at most once: a PUBLISH while nobody is subscribed is lost
  on both sides, and after a CLIENT KILL both resubscribe on their own.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from pubsub.client import DISCARD_TOLERANT, GoError, assert_same, py_receive_pubsub, wait_subscribers

pytestmark = pytest.mark.wire


def numsub(rdb, name):
    return dict(rdb.pubsub_numsub(name)).get(name.encode(), 0)


def test_group_add_needs_local_channel(layers, arun):
    py, go = layers
    pch, gch = arun(py.new_channel()), go.new_channel()
    with pytest.raises(RuntimeError, match="exist in-process"):
        arun(py.group_add("g", gch))
    with pytest.raises(GoError) as e:
        go.group_add("g", pch)
    assert e.value.kind == "invalid_name"
    assert "in-process" in e.value.message


def test_one_subscription_per_process(layers, arun, rdb, prefix):
    py, go = layers
    gname = f"{prefix}__group__g"
    pa, pb = arun(py.new_channel()), arun(py.new_channel())
    ga, gb = go.new_channel(), go.new_channel()
    for ch in (pa, pb):
        arun(py.group_add("g", ch))
    for ch in (ga, gb):
        go.group_add("g", ch)
    wait_subscribers(rdb, gname, 2)
    # One member leaves on each side: still subscribed.
    arun(py.group_discard("g", pa))
    go.group_discard("g", ga)
    arun(asyncio.sleep(0.1))
    assert numsub(rdb, gname) == 2
    # The last local member leaves: UNSUBSCRIBE, one process at a time.
    go.group_discard("g", gb)
    wait_subscribers(rdb, gname, 1)
    arun(py.group_discard("g", pb))
    wait_subscribers(rdb, gname, 0)


@pytest.mark.skipif(not DISCARD_TOLERANT, reason="channels_redis 4.0.0 asserts on discarding a non-member")
def test_discard_non_member_is_noop(layers, arun):
    py, go = layers
    arun(py.group_discard("never", "nobody"))
    go.group_discard("never", "nobody")


@pytest.mark.skipif(DISCARD_TOLERANT, reason="only channels_redis 4.0.0 asserts")
def test_discard_non_member_asserts_in_400(layers, arun):
    """4.0.0 raises AssertionError; laurel follows 4.1.0+ and does nothing."""
    py, go = layers
    with pytest.raises(AssertionError):
        arun(py.group_discard("never", "nobody"))
    go.group_discard("never", "nobody")


def test_receive_timeout_unsubscribes(layers, arun, rdb):
    py, go = layers
    pch, gch = arun(py.new_channel()), go.new_channel()
    wait_subscribers(rdb, pch)
    wait_subscribers(rdb, gch)
    with pytest.raises(asyncio.TimeoutError):
        arun(py_receive_pubsub(py, pch, timeout=0.2))
    with pytest.raises(GoError) as e:
        go.receive(gch, timeout=0.2)
    assert e.value.kind == "timeout"
    wait_subscribers(rdb, pch, 0)
    wait_subscribers(rdb, gch, 0)


def test_flush_unsubscribes_everything(layers, arun, rdb, prefix):
    py, go = layers
    pch, gch = arun(py.new_channel()), go.new_channel()
    arun(py.group_add("g", pch))
    go.group_add("g", gch)
    wait_subscribers(rdb, f"{prefix}__group__g", 2)
    arun(py.flush())
    go.flush()
    for name in (pch, gch, f"{prefix}__group__g"):
        wait_subscribers(rdb, name, 0)
    # Both forgot the channels: group_add now fails on both sides.
    with pytest.raises(RuntimeError):
        arun(py.group_add("g", pch))
    with pytest.raises(GoError):
        go.group_add("g", gch)


def test_one_delivery_per_message(pubsubctl, py_pubsub, config, arun):
    """Python group_send to three Go members: the Dispatcher gets one Delivery naming all three."""
    py = py_pubsub(config)
    go = pubsubctl.new(config, dispatch=True)
    members = [go.new_channel() for _ in range(3)]
    for ch in members:
        go.group_add("fan", ch)
    msg = {"type": "fan.out", "n": 1}
    arun(py.group_send("fan", msg))
    arun(py.send(members[1], {"type": "direct"}))
    ds = go.deliveries(2)
    assert len(ds) == 2
    assert ds[0][0] == members
    assert_same(ds[0][1], msg)
    assert ds[1][0] == [members[1]]
    # Nothing more arrives (one Delivery per Redis message).
    time.sleep(0.2)
    assert len(go.deliveries(2)) == 2


def test_release_channel(pubsubctl, py_pubsub, config, arun, rdb):
    """laurel-only: ReleaseChannel leaves the groups and unsubscribes the channel."""
    go = pubsubctl.new(config)
    a, b = go.new_channel(), go.new_channel()
    go.group_add("g", a)
    go.group_add("g2", a)
    go.group_add("g2", b)
    go.release(a)
    wait_subscribers(rdb, a, 0)
    wait_subscribers(rdb, f"{config['prefix']}__group__g", 0)
    assert numsub(rdb, f"{config['prefix']}__group__g2") == 1


def test_lost_while_unsubscribed(layers, arun, rdb):
    """At most once: a message sent before anyone subscribes is gone for good."""
    py, go = layers
    name = "late.subscriber." + str(time.monotonic_ns())
    arun(py.send(name, {"type": "lost"}))
    go.send(name, {"type": "lost"})
    fut = go.receive_async(name, timeout=10)
    wait_subscribers(rdb, name)
    arun(py.send(name, {"type": "kept"}))
    resp = fut.result(10)
    assert resp["ok"], resp
    from pubsub.client import untag

    assert untag(resp["result"]["message"]) == {"type": "kept"}


@pytest.mark.slow
def test_both_resubscribe_after_client_kill(redis_factory, pubsubctl, py_pubsub, arun):
    """CLIENT KILL TYPE pubsub: laurel resubscribes (logged, counted); redis-py's
    PubSub reconnects and resubscribes Python's channels, while its receive
    task logs "Unexpected exception in receive task" and sleeps 1 s."""
    import redis as redis_py

    host = redis_factory()
    cfg = {"hosts": [host.url], "prefix": "kill"}
    rdb = redis_py.Redis.from_url(host.url)
    py, go = py_pubsub(cfg), pubsubctl.new(cfg)
    pch, gch = arun(py.new_channel()), go.new_channel()
    arun(py.group_add("g", pch))
    go.group_add("g", gch)
    wait_subscribers(rdb, "kill__group__g", 2)
    rdb.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    # Python's reader only runs while its loop does.
    deadline = time.monotonic() + 20
    while numsub(rdb, "kill__group__g") != 2 and time.monotonic() < deadline:
        arun(asyncio.sleep(0.1))
    assert numsub(rdb, "kill__group__g") == 2, "both processes resubscribe"
    assert go.stats()["reader_errors"] >= 1
    go.group_send("g", {"type": "after.kill"})
    assert_same(arun(py_receive_pubsub(py, pch)), {"type": "after.kill"})
    assert_same(go.receive(gch), {"type": "after.kill"})
    rdb.close()
