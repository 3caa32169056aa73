"""Payloads a receiver cannot decode.

Python's receive() raises on them (msgpack's strict_map_key ValueError, an
unpack error, ...) and so crashes the consumer that called it. laurel's inbox
readers serve many sockets, so they skip such a payload (counted as
malformed and logged) and keep delivering; this is laurel's documented
behaviour and is what is asserted for Go: never delivered, next message
delivered.
"""

from __future__ import annotations

import os

import msgpack
import pytest

from channelsproto.client import GoError, assert_same, py_receive

pytestmark = pytest.mark.wire


def assert_go_skips_then_delivers(go, ch, send_good):
    with pytest.raises(GoError) as e:
        go.receive(ch, timeout=0.7)
    assert e.value.kind == "timeout", e.value
    send_good()
    assert_same(go.receive(ch), {"type": "good"})


def test_int_map_key(layers, arun):
    """msgpack.packb accepts int keys, so Python can send them, but no
    receiver takes them: Python raises ValueError (strict_map_key)."""
    py, go = layers
    bad = {"type": "bad", 1: "int key"}
    pch, gch = arun(py.new_channel()), go.new_channel()
    arun(py.send(pch, bad))
    with pytest.raises(ValueError):
        arun(py_receive(py, pch))
    arun(py.send(gch, bad))
    assert_go_skips_then_delivers(go, gch, lambda: arun(py.send(gch, {"type": "good"})))


JUNK = {
    "short": b"\x01\x02",
    "random": os.urandom(12) + os.urandom(40),
    "not_a_map": os.urandom(12) + msgpack.packb([1, 2, 3]),
    "bad_utf8": os.urandom(12) + b"\x81\xa4type\xa2\xff\xfe",
    "no_target": os.urandom(12) + msgpack.packb({"type": "x"}),
    "truncated": os.urandom(12) + msgpack.packb({"type": "x", "__asgi_channel__": "y"})[:-3],
}


@pytest.mark.parametrize("junk", JUNK.values(), ids=JUNK.keys())
def test_junk_in_inbox(layers, arun, rdb, prefix, junk):
    py, go = layers
    gch, pch = go.new_channel(), arun(py.new_channel())
    rdb.zadd(prefix + gch[: gch.index("!") + 1], {junk: 1.0})
    assert_go_skips_then_delivers(go, gch, lambda: go.send(gch, {"type": "good"}))
    # Python, by contrast, raises out of receive() (or, for a message without
    # a target, delivers it nowhere: it waits on its own buffer).
    rdb.zadd(prefix + pch[: pch.index("!") + 1], {junk: 1.0})
    with pytest.raises(Exception):
        arun(py_receive(py, pch, timeout=1.0))
