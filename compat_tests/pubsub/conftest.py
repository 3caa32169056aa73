"""Fixtures of the pub/sub differential suite.

Every test drives real channels_redis RedisPubSubChannelLayer (whichever
version the running venv holds: 4.3.0 in .venv, 4.0.0 in .venvs/cr400pubsub)
and laurel's channelsproto.PubSubLayer (through pubsubctl) on the same real
redis-server, and compares what each side receives or PUBLISHes.

The layer's own limits apply to both sides and shape the tests: group
membership is process-local (a process can only add its own channels, and
membership lives in memory, not in Redis), and delivery is at most once (a
PUBLISH with no subscriber yet is lost), so tests wait for Redis to count a
subscription (wait_subscribers) before publishing to it.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import redis as redis_py
from channels_redis.pubsub import RedisPubSubChannelLayer

from pubsub.client import GoError, PubSubCtl


@pytest.fixture(scope="session")
def pubsubctl_proc(go_build):
    ctl = PubSubCtl(go_build("./compat_tests/cmd/pubsubctl"))
    yield ctl
    ctl.close()
    assert ctl.proc.returncode == 0, f"pubsubctl exited {ctl.proc.returncode}: {ctl.stderr_tail()}"


@pytest.fixture
def pubsubctl(pubsubctl_proc):
    """The session's pubsubctl; the test's Go layers are closed at teardown and
    the test fails if the race detector fired or pubsubctl died."""
    with open(pubsubctl_proc.stderr_path, "rb") as f:
        start = len(f.read())
    first = len(pubsubctl_proc.opened)
    yield pubsubctl_proc
    for gl in pubsubctl_proc.opened[first:]:
        try:
            gl.close()
        except GoError:
            pass
    del pubsubctl_proc.opened[first:]
    with open(pubsubctl_proc.stderr_path, "rb") as f:
        log = f.read()[start:].decode(errors="replace")
    assert "DATA RACE" not in log, log
    assert pubsubctl_proc.proc.poll() is None, f"pubsubctl died: {pubsubctl_proc.stderr_tail()}"


@pytest.fixture
def loop():
    lp = asyncio.new_event_loop()
    yield lp
    lp.close()  # channels_redis' _wrap_close flushes the loop's layer here


@pytest.fixture
def arun(loop):
    return loop.run_until_complete


@pytest.fixture
def py_pubsub(loop):
    """py_pubsub(config) -> a real RedisPubSubChannelLayer."""

    def make(config: dict) -> RedisPubSubChannelLayer:
        return RedisPubSubChannelLayer(**json.loads(json.dumps(config)))

    return make


@pytest.fixture
def prefix():
    return "ps" + uuid.uuid4().hex[:12]


@pytest.fixture
def rdb(redis_server):
    c = redis_py.Redis.from_url(redis_server.url)
    yield c
    c.close()


@pytest.fixture
def config(redis_server, prefix):
    return {"hosts": [redis_server.url], "prefix": prefix}


@pytest.fixture
def layers(pubsubctl, py_pubsub, config):
    """(python pubsub layer, go pubsub layer) from the same config."""
    return py_pubsub(config), pubsubctl.new(config)


@pytest.fixture
def wire(rdb):
    """wire(*names) -> a raw redis-py SUBSCRIBE capturing PUBLISHed bytes;
    .next() returns (channel, payload bytes)."""
    made = []

    class Tap:
        def __init__(self, names):
            self.ps = rdb.pubsub()
            self.ps.subscribe(*names)
            for _ in names:  # the confirmations
                m = self.ps.get_message(timeout=5)
                assert m is not None and m["type"] == "subscribe", m

        def next(self, timeout: float = 5.0):
            import time

            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                m = self.ps.get_message(timeout=0.2)
                if m is not None and m["type"] == "message":
                    return m["channel"].decode(), m["data"]
            raise AssertionError("no PUBLISH captured")

    def make(*names):
        t = Tap(names)
        made.append(t)
        return t

    yield make
    for t in made:
        t.ps.close()
