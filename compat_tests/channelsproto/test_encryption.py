"""symmetric_encryption_keys on both sides: Fernet under the random prefix.

Key derivation is urlsafe_b64(sha256(utf8(key))); MultiFernet encrypts with the
first key and tries every key when decrypting, so rotation works across the
two implementations in both directions. A wrong key never delivers: Python's
receive raises cryptography's InvalidToken; laurel's Receive returns
ErrInvalidToken, or drops the message and keeps reading (both asserted as
"not delivered"), and keeps working for the next good message.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time

import msgpack
import pytest
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from channelsproto.cases import SAMPLES
from channelsproto.client import GoError, assert_same, py_receive

pytestmark = pytest.mark.wire

KEY_A = "first secret, with ünïcode"
KEY_B = "second-secret"


def fernet(key: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode("utf-8")).digest()))


@pytest.fixture
def enc(layerctl, py_layer, config):
    """enc(py_keys, go_keys) -> (python layer, go layer) sharing config but not keys."""

    def make(py_keys, go_keys):
        return (
            py_layer({**config, "symmetric_encryption_keys": py_keys}),
            layerctl.new({**config, "symmetric_encryption_keys": go_keys}),
        )

    return make


@pytest.mark.parametrize("name", ["simple", "nested", "bytes", "ints"])
def test_same_key_both_directions(enc, arun, name):
    msg = SAMPLES[name]
    py, go = enc([KEY_A], [KEY_A])
    gch, pch = go.new_channel(), arun(py.new_channel())
    arun(py.send(gch, msg))
    assert_same(go.receive(gch), msg)
    go.group_add("sec", gch)
    arun(py.group_send("sec", msg))
    assert_same(go.receive(gch), msg)
    go.send(pch, msg)
    assert_same(arun(py_receive(py, pch)), msg)
    arun(py.group_add("sec2", pch))
    go.group_send("sec2", msg)
    assert_same(arun(py_receive(py, pch)), msg)


def test_go_token_is_python_fernet(enc, arun, rdb, prefix):
    """What Go stores is prefix(12) || Fernet token, decryptable by Python's own
    derivation, whose plaintext is exactly msgpack.packb of the message."""
    _, go = enc([KEY_A], [KEY_A])
    msg = SAMPLES["nested"]
    go.send("enc.plain", msg)
    (member,) = rdb.zrange(prefix + "enc.plain", 0, -1)
    token = member[12:]
    assert token.startswith(b"gAAAAA")
    assert fernet(KEY_A).decrypt(token, ttl=70) == msgpack.packb(msg, use_bin_type=True)
    ts = int.from_bytes(base64.urlsafe_b64decode(token)[1:9], "big")
    assert abs(ts - time.time()) < 5, "token timestamp is not now"
    with pytest.raises(InvalidToken):
        fernet(KEY_B).decrypt(token)


def test_rotation_go_old_key_python_new_list(enc, arun):
    """Go encrypts with A; Python configured [B, A] decrypts. Python then
    encrypts with B, which Go configured [A, B] decrypts."""
    py, go = enc([KEY_B, KEY_A], [KEY_A, KEY_B])
    gch, pch = go.new_channel(), arun(py.new_channel())
    go.send(pch, {"type": "rot", "by": "go"})
    assert_same(arun(py_receive(py, pch)), {"type": "rot", "by": "go"})
    arun(py.send(gch, {"type": "rot", "by": "python"}))
    assert_same(go.receive(gch), {"type": "rot", "by": "python"})


def test_rotation_python_old_key_go_new_list(enc, arun, rdb, prefix):
    """The reverse: Python encrypts with A, Go configured [B, A] decrypts; Go
    encrypts with B (checked on the stored token), Python [A, B] decrypts."""
    py, go = enc([KEY_A, KEY_B], [KEY_B, KEY_A])
    gch, pch = go.new_channel(), arun(py.new_channel())
    arun(py.send(gch, {"type": "rot", "by": "python"}))
    assert_same(go.receive(gch), {"type": "rot", "by": "python"})
    go.send("rot.plain", {"type": "rot"})
    (member,) = rdb.zrange(prefix + "rot.plain", 0, -1)
    fernet(KEY_B).decrypt(member[12:])
    with pytest.raises(InvalidToken):
        fernet(KEY_A).decrypt(member[12:])
    assert MultiFernet([fernet(KEY_A), fernet(KEY_B)]).decrypt(member[12:])
    go.send(pch, {"type": "rot", "by": "go"})
    assert_same(arun(py_receive(py, pch)), {"type": "rot", "by": "go"})


def test_wrong_key_python_receiver_raises(enc, arun):
    py, go = enc([KEY_B], [KEY_A])
    pch = arun(py.new_channel())
    go.send(pch, {"type": "secret"})
    with pytest.raises(InvalidToken):
        arun(py_receive(py, pch))


def test_wrong_key_go_receiver_never_delivers(enc, arun):
    """Python encrypts with A, Go only knows B: nothing is delivered. The Go
    layer still delivers the next message it can decrypt."""
    py, go = enc([KEY_A], [KEY_B])
    gch = go.new_channel()
    arun(py.send(gch, {"type": "secret", "n": 1}))
    with pytest.raises(GoError) as e:
        go.receive(gch, timeout=1.5)
    assert e.value.kind in ("invalid_token", "timeout"), e.value
    good, _ = enc([KEY_B], [KEY_B])
    arun(good.send(gch, {"type": "secret", "n": 2}))
    assert_same(go.receive(gch), {"type": "secret", "n": 2})


def test_unencrypted_python_to_encrypted_go_not_delivered(enc, arun, py_layer, config):
    """A plain msgpack body is not a Fernet token: an encrypting Go layer must not
    deliver it (Python raises InvalidToken in the same situation)."""
    _, go = enc([KEY_A], [KEY_A])
    plain = py_layer(config)
    gch = go.new_channel()
    arun(plain.send(gch, {"type": "clear"}))
    with pytest.raises(GoError) as e:
        go.receive(gch, timeout=1.5)
    assert e.value.kind in ("invalid_token", "timeout"), e.value


@pytest.mark.parametrize(
    "age, ok",
    [(0, True), (30, True), (60, True), (100, False), (-30, True), (-100, False)],
    ids=["now", "30s-old", "60s-old", "100s-old", "30s-ahead", "100s-ahead"],
)
def test_token_age_window(enc, arun, rdb, prefix, age, ok):
    """Tokens are accepted up to expiry+10 s old (70 s by default) and up to
    60 s in the future (cryptography's clock-skew limit), by both receivers.
    The tokens are made by cryptography's Fernet.encrypt_at_time and put
    straight into each side's inbox key."""
    py, go = enc([KEY_A], [KEY_A])
    gch, pch = go.new_channel(), arun(py.new_channel())
    for ch in (gch, pch):
        body = msgpack.packb({"type": "aged", "age": age, "__asgi_channel__": ch}, use_bin_type=True)
        token = fernet(KEY_A).encrypt_at_time(body, int(time.time()) - age)
        rdb.zadd(prefix + ch[: ch.index("!") + 1], {os.urandom(12) + token: time.time()})
    if ok:
        assert_same(go.receive(gch), {"type": "aged", "age": age})
        assert_same(arun(py_receive(py, pch)), {"type": "aged", "age": age})
    else:
        with pytest.raises(GoError) as e:
            go.receive(gch, timeout=1.0)
        assert e.value.kind in ("invalid_token", "timeout"), e.value
        with pytest.raises(InvalidToken):
            arun(py_receive(py, pch))
