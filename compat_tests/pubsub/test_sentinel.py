"""The pub/sub layer on a Sentinel-managed Redis (master, replica, one sentinel;
the helpers are the core suite's, compat_tests/channelsproto/test_sentinel.py).

Both sides are configured with {"sentinels": [...], "master_name": ...},
exchange messages, then SENTINEL FAILOVER promotes the replica. When the
sentinel reconfigures the old master it runs CLIENT KILL TYPE pubsub there,
so both sides lose their subscriber connection: redis-py reconnects through
the sentinel, and laurel's reader counts the error and resubscribes
everything on the new master. Messages published during the switch are lost
(delivery is at most once); afterwards old and new groups work both ways.
"""

from __future__ import annotations

import pytest

from channelsproto.test_sentinel import MASTER, retry, sentinel_setup, wait_for  # noqa: F401 (fixture)
from pubsub.client import assert_same, py_receive_pubsub, wait_subscribers

pytestmark = [pytest.mark.wire, pytest.mark.slow]


def exchange(py, go, arun, rdb, prefix, phase):
    # Right after the switch, a Python call on a killed connection may fail
    # once (seen with 4.0.0 / redis-py 4.6) before redis-py reconnects: retried.
    pch, gch = retry(lambda: arun(py.new_channel())), go.new_channel()
    retry(lambda: arun(py.group_add(phase, pch)))
    go.group_add(phase, gch)
    wait_subscribers(rdb, f"{prefix}__group__{phase}", 2)
    msg = {"type": "sentinel", "phase": phase}
    retry(lambda: arun(py.group_send(phase, msg)))
    assert_same(go.receive(gch), msg)
    assert_same(arun(py_receive_pubsub(py, pch)), msg)
    retry(lambda: go.group_send(phase, {**msg, "from": "go"}))
    assert_same(go.receive(gch), {**msg, "from": "go"})
    assert_same(arun(py_receive_pubsub(py, pch)), {**msg, "from": "go"})


def test_sentinel_and_failover(sentinel_setup, pubsubctl, py_pubsub, prefix, arun):
    import redis as redis_py

    s, master, replica = sentinel_setup
    cfg = {"hosts": [{"sentinels": [["127.0.0.1", s.port]], "master_name": MASTER}], "prefix": prefix}
    py, go = py_pubsub(cfg), pubsubctl.new(cfg)
    old = redis_py.Redis(port=master.port)
    new = redis_py.Redis(port=replica.port)
    exchange(py, go, arun, old, prefix, "before")

    s.failover()
    wait_for(lambda: s.master_port() == replica.port, what="sentinel to promote the replica")
    wait_for(lambda: "role:slave" in master.cli("INFO", "replication"), timeout=40, what="old master to become a replica")
    # laurel resubscribed its "before" channels on the new master.
    wait_for(lambda: go.stats()["reader_errors"] >= 1, what="laurel to notice the killed subscriber")
    wait_for(lambda: dict(new.pubsub_numsub(f"{prefix}__group__before"))[f"{prefix}__group__before".encode()] >= 1,
             what="laurel's group subscription on the new master")
    # New subscriptions and PUBLISHes go to the new master, both ways.
    exchange(py, go, arun, new, prefix, "after")
    old.close()
    new.close()
