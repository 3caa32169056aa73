"""The bytes laurel PUBLISHes are the bytes channels_redis PUBLISHes.

A raw redis-py SUBSCRIBE (the `wire` tap) captures the payload of the same
send() / group_send() done by each side, to the same Pub/Sub channel, and the
two are compared byte for byte: msgpack of the message with no random prefix
(channels_redis pubsub uses random_prefix_length=0), i.e. the core layer's
body. The channel names on the wire are compared too: group_send PUBLISHes
to "<prefix>__group__<group>", send to the channel exactly as given.
"""

from __future__ import annotations

import msgpack
import pytest

from channelsproto.cases import BYTE_SAMPLES

pytestmark = pytest.mark.wire
samples = pytest.mark.parametrize("msg", BYTE_SAMPLES.values(), ids=BYTE_SAMPLES.keys())


@samples
def test_send_payload_bytes(layers, arun, wire, prefix, msg):
    py, go = layers
    ch = f"{prefix}.tap"
    tap = wire(ch)
    arun(py.send(ch, msg))
    py_name, py_bytes = tap.next()
    go.send(ch, msg)
    go_name, go_bytes = tap.next()
    assert go_name == py_name == ch
    assert go_bytes == py_bytes
    assert py_bytes == msgpack.packb(msg)  # no prefix, no envelope


@samples
def test_group_send_payload_bytes(layers, arun, wire, prefix, msg):
    py, go = layers
    tap = wire(f"{prefix}__group__room.1")
    arun(py.group_send("room.1", msg))
    py_name, py_bytes = tap.next()
    go.group_send("room.1", msg)
    go_name, go_bytes = tap.next()
    assert go_name == py_name == f"{prefix}__group__room.1"
    assert go_bytes == py_bytes


def test_new_channel_names(layers, arun, rdb, prefix):
    """new_channel: "<prefix>specific.<uuid4 hex>", no "!", subscribed at once."""
    import re

    py, go = layers
    pat = re.compile(re.escape(prefix) + r"specific\.[0-9a-f]{32}")
    names = [arun(py.new_channel()), go.new_channel()]
    for n in names:
        assert pat.fullmatch(n), n
    from pubsub.client import wait_subscribers

    for n in names:
        wait_subscribers(rdb, n)
