"""A redis-server restart (killed, started again on the same port, empty)
while both layers stay up: after it, Python's group_send reaches a Go
channel and Go's reaches a Python channel again, without recreating either
layer. laurel's inbox readers reconnect with a backoff (50 ms doubling to
5 s); a command issued while the server is down may fail once on either side,
so operations are retried for a bounded time, as a caller would.
"""

from __future__ import annotations

import time
import uuid

import pytest
import redis as redis_py

from channelsproto.client import GoError, assert_same, py_receive

pytestmark = [pytest.mark.wire, pytest.mark.slow]


def retry(fn, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except (GoError, redis_py.RedisError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_both_sides_recover_after_restart(redis_factory, layerctl, py_layer, arun):
    server = redis_factory()
    cfg = {"hosts": [server.url], "prefix": "lt" + uuid.uuid4().hex[:12]}
    py, go = py_layer(cfg), layerctl.new(cfg)
    gch, pch = go.new_channel(), arun(py.new_channel())

    def join_and_exchange(n):
        retry(lambda: go.group_add("r", pch))
        retry(lambda: arun(py.group_add("r", gch)))
        msg = {"type": "restart", "n": n}
        retry(lambda: arun(py.group_send("r", msg)))
        assert_same(go.receive(gch), msg)
        assert_same(arun(py_receive(py, pch)), msg)

    join_and_exchange(1)
    port = server.port
    server.stop(kill=True)
    time.sleep(0.5)  # Go's readers now fail and back off
    redis_factory(port=port)  # same port, empty data: memberships must be re-added
    join_and_exchange(2)
    retry(lambda: go.group_send("r", {"type": "restart", "n": 3}))
    assert_same(go.receive(gch), {"type": "restart", "n": 3})
    assert_same(arun(py_receive(py, pch)), {"type": "restart", "n": 3})
