"""Fixtures for the channelsproto differential suite.

Every test drives two channel layers against the same real redis-server:
real channels_redis (whatever version the running venv holds) and laurel's
Go package channelsproto, reached through the layerctl helper program
(compat_tests/cmd/layerctl, built with -race). Values cross the pipe in a
tagged JSON form so that bytes/str, int/float and dict key order survive
exactly; `strict()` then compares Python objects by type, value and order.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid

import pytest
import redis as redis_py
from channels_redis.core import RedisChannelLayer

from channelsproto.client import GoError, LayerCtl


@pytest.fixture(scope="session")
def layerctl_proc(go_build):
    ctl = LayerCtl(go_build("./compat_tests/cmd/layerctl"))
    yield ctl
    ctl.close()
    assert ctl.proc.returncode == 0, f"layerctl exited {ctl.proc.returncode}: {ctl.stderr_tail()}"


@pytest.fixture
def layerctl(layerctl_proc):
    """The session's layerctl. At teardown the Go layers the test opened are
    closed, and the test fails if the race detector fired or layerctl died."""
    start = os.path.getsize(layerctl_proc.stderr_path)
    first = len(layerctl_proc.opened)
    yield layerctl_proc
    for gl in layerctl_proc.opened[first:]:
        try:
            gl.close()
        except GoError:
            pass  # the test closed it already
    del layerctl_proc.opened[first:]
    with open(layerctl_proc.stderr_path, "rb") as f:
        f.seek(start)
        log = f.read().decode(errors="replace")
    assert "DATA RACE" not in log, log
    assert layerctl_proc.proc.poll() is None, f"layerctl died: {layerctl_proc.stderr_tail()}"


# --- Python side -------------------------------------------------------------


@pytest.fixture
def loop():
    """One event loop per test: channels_redis binds connections to a loop."""
    lp = asyncio.new_event_loop()
    yield lp
    lp.close()


@pytest.fixture
def arun(loop):
    """arun(coro) runs a coroutine on the test's loop and returns its result."""
    return loop.run_until_complete


@pytest.fixture
def py_layer(loop):
    """py_layer(config) -> a channels_redis RedisChannelLayer, pools closed at teardown."""
    made: list[RedisChannelLayer] = []

    def make(config: dict) -> RedisChannelLayer:
        layer = RedisChannelLayer(**json.loads(json.dumps(config)))
        made.append(layer)
        return layer

    yield make
    for layer in made:
        if hasattr(layer, "close_pools"):
            loop.run_until_complete(layer.close_pools())


@pytest.fixture
def prefix():
    """A unique key prefix for this test (all the same length, so none prefixes another)."""
    return "lt" + uuid.uuid4().hex[:12]


@pytest.fixture
def rdb(redis_server):
    """A plain redis-py client on the session redis-server, for looking at raw keys."""
    c = redis_py.Redis.from_url(redis_server.url)
    yield c
    c.close()


@pytest.fixture
def config(redis_server, prefix):
    """The CHANNEL_LAYERS CONFIG both sides get unless a test needs another."""
    return {"hosts": [redis_server.url], "prefix": prefix}


@pytest.fixture
def layers(layerctl, py_layer, config):
    """(python_layer, go_layer) built from the same config."""
    return py_layer(config), layerctl.new(config)
