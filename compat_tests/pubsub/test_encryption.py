"""symmetric_encryption_keys with the pub/sub layer (channels_redis 4.2.1+).

The payload is a bare Fernet token (no random prefix); both sides decrypt
each other's tokens, rotate keys the same way (first key encrypts, all
decrypt), and apply no TTL: the pubsub serializer is built with expiry=None,
so a token stamped long ago is still accepted, by Python and by laurel.
Before 4.2.1 channels_redis ignored the keys on this layer, so these tests
only run where the installed version has the serializer registry.
"""

from __future__ import annotations

import base64
import hashlib
import time

import msgpack
import pytest
from cryptography.fernet import Fernet

from pubsub.client import HAS_SERIALIZER, assert_same, py_receive_pubsub, wait_subscribers

pytestmark = pytest.mark.wire
needs_serializer = pytest.mark.skipif(
    not HAS_SERIALIZER, reason="channels_redis < 4.2.1 ignores symmetric_encryption_keys on the pubsub layer")

MSG = {"type": "secret.message", "text": "héllo", "n": 2**40, "b": b"\x00\x01"}


def fernet(secret: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))


@pytest.fixture
def enc_config(config):
    return {**config, "symmetric_encryption_keys": ["new key", "old key"]}


@needs_serializer
def test_both_directions(pubsubctl, py_pubsub, enc_config, arun, rdb):
    py, go = py_pubsub(enc_config), pubsubctl.new(enc_config)
    gch = go.new_channel()
    wait_subscribers(rdb, gch)
    arun(py.send(gch, MSG))
    assert_same(go.receive(gch), MSG)
    pch = arun(py.new_channel())
    wait_subscribers(rdb, pch)
    go.send(pch, MSG)
    assert_same(arun(py_receive_pubsub(py, pch)), MSG)


@needs_serializer
def test_tokens_on_the_wire(pubsubctl, py_pubsub, enc_config, arun, wire, prefix):
    py, go = py_pubsub(enc_config), pubsubctl.new(enc_config)
    tap = wire(f"{prefix}__group__g")
    arun(py.group_send("g", MSG))
    go.group_send("g", MSG)
    for _ in range(2):
        _, token = tap.next()
        # Encrypted with the first key, nothing before the token.
        assert msgpack.unpackb(fernet("new key").decrypt(token)) == MSG


@needs_serializer
def test_key_rotation(pubsubctl, py_pubsub, config, arun, rdb):
    """An old process (old key only) talks to a new one (new key first, old key second)."""
    py_old = py_pubsub({**config, "symmetric_encryption_keys": ["old key"]})
    go_new = pubsubctl.new({**config, "symmetric_encryption_keys": ["new key", "old key"]})
    ch = go_new.new_channel()
    wait_subscribers(rdb, ch)
    arun(py_old.send(ch, MSG))
    assert_same(go_new.receive(ch), MSG)


@needs_serializer
def test_no_ttl_on_old_tokens(pubsubctl, py_pubsub, enc_config, arun, rdb):
    """A token stamped a day ago is PUBLISHed raw: both layers accept it (expiry=None)."""
    py, go = py_pubsub(enc_config), pubsubctl.new(enc_config)
    old = fernet("old key").encrypt_at_time(msgpack.packb(MSG), int(time.time()) - 86400)
    gch, pch = go.new_channel(), arun(py.new_channel())
    wait_subscribers(rdb, gch)
    wait_subscribers(rdb, pch)
    rdb.publish(gch, old)
    rdb.publish(pch, old)
    assert_same(go.receive(gch), MSG)
    assert_same(arun(py_receive_pubsub(py, pch)), MSG)


@needs_serializer
def test_wrong_key_is_dropped_not_fatal(pubsubctl, py_pubsub, config, arun, rdb):
    """A token for another key is skipped by laurel (counted as malformed); the next good one arrives."""
    go = pubsubctl.new({**config, "symmetric_encryption_keys": ["mine"]})
    py_other = py_pubsub({**config, "symmetric_encryption_keys": ["someone else"]})
    py_good = py_pubsub({**config, "symmetric_encryption_keys": ["mine"]})
    ch = go.new_channel()
    wait_subscribers(rdb, ch)
    arun(py_other.send(ch, {"type": "bad"}))
    arun(py_good.send(ch, MSG))
    assert_same(go.receive(ch), MSG)
    assert go.stats()["malformed"] == 1


@pytest.mark.skipif(HAS_SERIALIZER, reason="only channels_redis < 4.2.1 ignores the keys")
def test_keys_ignored_before_421(pubsubctl, py_pubsub, enc_config, config, arun, wire, prefix):
    """Before 4.2.1 a Python pubsub layer given keys still PUBLISHes plain
    msgpack: laurel interoperates with it only when configured without keys
    (docs/pubsub.md)."""
    py = py_pubsub(enc_config)
    tap = wire(f"{prefix}__group__g")
    arun(py.group_send("g", MSG))
    _, payload = tap.next()
    assert payload == msgpack.packb(MSG)
    go_plain = pubsubctl.new(config)
    go_plain.group_send("g", MSG)
    assert tap.next()[1] == payload
