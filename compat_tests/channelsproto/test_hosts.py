"""Every `hosts` entry form channels_redis accepts reaches the same server and
database from both sides: URL with password and db, address-dict with
kwargs, a plain dict of connection kwargs, a unix:// socket URL, and a
(host, port) pair. Both sides group_add under one group; the ZSET must hold
both members in the expected database, and a Python group_send must reach
the Go channel.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import quote

import pytest
import redis as redis_py
from channels_redis.core import RedisChannelLayer

from channelsproto.client import HAS_ADDRESS_KWARGS, assert_same
from harness.servers import scratch_dir

pytestmark = pytest.mark.wire
PASSWORD = "s3cret:/@pw"


@pytest.fixture
def secured(redis_factory):
    """A password-protected redis-server that also listens on a unix socket."""
    sock = os.path.join(scratch_dir("laurel-sock-"), "redis.sock")
    server = redis_factory(["--requirepass", PASSWORD, "--unixsocket", sock, "--unixsocketperm", "700"])
    return server, sock


def forms(port: int, sock: str, plain_port: int):
    """(id, python host entry, go host entry or None for the same, db, password)."""
    pw = quote(PASSWORD, safe="")
    yield "url-password-db", f"redis://:{pw}@127.0.0.1:{port}/3", None, 3, PASSWORD
    if HAS_ADDRESS_KWARGS:  # 4.0.0 drops the extra keys of an address-dict
        yield "address-dict", {"address": f"redis://127.0.0.1:{port}/4", "password": PASSWORD}, None, 4, PASSWORD
    yield "kwargs-dict", {"host": "127.0.0.1", "port": port, "password": PASSWORD, "db": 5}, None, 5, PASSWORD
    yield "unix-url", f"unix://:{pw}@{sock}?db=6", None, 6, PASSWORD
    # channels_redis 4.0.0 only accepts a tuple; JSON (laurel's CONFIG) has lists.
    yield "host-port-pair", ("127.0.0.1", plain_port), ["127.0.0.1", plain_port], 0, None


def test_host_forms(secured, redis_server, layerctl, loop, arun):
    server, sock = secured
    for name, py_host, go_host, db, password in forms(server.port, sock, redis_server.port):
        prefix = "lt" + uuid.uuid4().hex[:12]
        py = RedisChannelLayer(hosts=[py_host], prefix=prefix)
        go = layerctl.new({"hosts": [go_host if go_host is not None else py_host], "prefix": prefix})
        try:
            gch = go.new_channel()
            go.group_add("hosts", gch)
            arun(py.group_add("hosts", "python.member"))
            port = server.port if password else redis_server.port
            check = redis_py.Redis(host="127.0.0.1", port=port, password=password, db=db)
            members = {m.decode() for m in check.zrange(f"{prefix}:group:hosts", 0, -1)}
            check.close()
            assert members == {gch, "python.member"}, name
            arun(py.group_send("hosts", {"type": "hosts", "form": name}))
            assert_same(go.receive(gch), {"type": "hosts", "form": name})
        finally:
            arun(py.close_pools())
            go.close()
