"""serializer_format "json" (channels_redis 4.2.1+) both ways, and laurel's
MarshalPythonJSON / UnmarshalJSON against json.dumps / json.loads.

The stored body is json.dumps(message).encode() (", " and ": " separators,
ensure_ascii, insertion order, NaN/Infinity allowed) behind the random
prefix; Go must write the same bytes and read Python's.
"""

from __future__ import annotations

import json
import uuid

import pytest

from channelsproto.client import HAS_SERIALIZER_FORMAT, GoError, assert_same, py_receive, tag, untag

pytestmark = pytest.mark.skipif(
    not HAS_SERIALIZER_FORMAT, reason="serializer_format exists from channels_redis 4.2.1 on"
)

JSON_SAMPLES = {
    "simple": {"type": "task.update", "pct": 50},
    "floats": {"type": "f", "v": [0.0, -0.0, 1.0, 0.1, 1e16, 1e-7, 123456789.0, 1.5e300, 5e-324,
                                  2.0**53, 1e22, 1e21, 9.999999999999999e22]},
    "nonfinite": {"type": "nf", "v": [float("inf"), float("-inf")]},
    "ints": {"type": "i", "v": [0, -1, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, -(2**63)]},
    "strings": {"type": "s", "v": ["héllo", "日本", "😀", "\x00\x1f\x7f", "<>&'\"\\/", "\u2028\ud7ff\ue000\uffff",
                                   "tab\tnl\ncr\rbs\bff\f"]},
    "nested": {"z": {"y": [[], {}, [None, True, False]]}, "type": "n", "": "empty key"},
}


@pytest.fixture
def jlayers(layerctl, py_layer, config):
    cfg = {**config, "serializer_format": "json"}
    return py_layer(cfg), layerctl.new(cfg)


@pytest.mark.parametrize("msg", JSON_SAMPLES.values(), ids=JSON_SAMPLES.keys())
def test_json_both_directions(jlayers, arun, msg):
    py, go = jlayers
    gch, pch = go.new_channel(), arun(py.new_channel())
    arun(py.send(gch, msg))
    assert_same(go.receive(gch), msg)
    go.send(pch, msg)
    assert_same(arun(py_receive(py, pch)), msg)
    go.group_add("j", pch)
    go.group_send("j", msg)
    assert_same(arun(py_receive(py, pch)), msg)
    arun(py.group_add("j2", gch))
    arun(py.group_send("j2", msg))
    assert_same(go.receive(gch), msg)


@pytest.mark.parametrize("msg", JSON_SAMPLES.values(), ids=JSON_SAMPLES.keys())
def test_json_stored_bytes_equal(layerctl, py_layer, redis_server, rdb, arun, msg):
    pp, gp = "lt" + uuid.uuid4().hex[:12], "lt" + uuid.uuid4().hex[:12]
    base = {"hosts": [redis_server.url], "serializer_format": "json"}
    py, go = py_layer({**base, "prefix": pp}), layerctl.new({**base, "prefix": gp})
    fake = uuid.uuid4().hex
    for ch in ("json.plain", f"specific.{fake}!x"):
        arun(py.send(ch, msg))
        go.send(ch, msg)
        key = ch[: ch.index("!") + 1] if "!" in ch else ch
        (pm,) = rdb.zrange(pp + key, 0, -1)
        (gm,) = rdb.zrange(gp + key, 0, -1)
        assert gm[12:] == pm[12:], f"\n go: {gm[12:200]!r}\n py: {pm[12:200]!r}"


def test_json_bytes_value_rejected_like_python(jlayers, arun):
    """json.dumps cannot serialize bytes (TypeError); Go refuses the message too."""
    py, go = jlayers
    with pytest.raises(TypeError):
        arun(py.send("j.x", {"type": "b", "v": b"\x00"}))
    with pytest.raises(GoError) as e:
        go.send("j.x", {"type": "b", "v": b"\x00"})
    assert e.value.kind == "invalid_message", e.value


VALUES = [
    None, True, False, 0, -1, 2**64 - 1, -(2**63), 1.0, -0.0, 0.1, 1e16, 1e-5, 1e-4, 123456789012345678.0,
    float("inf"), float("-inf"), "", "é😀\u2028<>&\x00", [], {}, [1, [2, {"a": None}]],
    {"b": 1, "a": 2, "ü": {"x": [1.5, "y"]}},
]


@pytest.mark.parametrize("value", VALUES, ids=[repr(v)[:30] for v in VALUES])
def test_marshal_python_json_equals_json_dumps(layerctl, value):
    assert layerctl.call("marshal_json", value=tag(value))["text"] == json.dumps(value)


def test_marshal_python_json_nan(layerctl):
    assert layerctl.call("marshal_json", value=tag([float("nan")]))["text"] == json.dumps([float("nan")])


TEXTS = [
    '{"a": 1, "b": 1.0, "c": 1e5, "d": -0, "e": -0.0, "f": [true, false, null]}',
    '{"z": 1, "a": {"y": 2, "b": 3}}',
    '"\\u00e9\\ud83d\\ude00\\n"',
    '[18446744073709551615, -9223372036854775808, 1.7976931348623157e308, 5e-324]',
    '[NaN, Infinity, -Infinity]',
    '{"dup": 1, "dup": 2}',
    ' \t\n[1 , 2 ] ',
]


@pytest.mark.parametrize("text", TEXTS)
def test_unmarshal_json_equals_json_loads(layerctl, text):
    got = untag(layerctl.call("unmarshal_json", text=text)["value"])
    assert_same(got, json.loads(text))


def test_json_encrypted_both_directions(layerctl, py_layer, config, arun):
    cfg = {**config, "serializer_format": "json", "symmetric_encryption_keys": ["json-key", "old"]}
    py, go = py_layer(cfg), layerctl.new(cfg)
    gch, pch = go.new_channel(), arun(py.new_channel())
    msg = JSON_SAMPLES["nested"]
    arun(py.send(gch, msg))
    assert_same(go.receive(gch), msg)
    go.send(pch, msg)
    assert_same(arun(py_receive(py, pch)), msg)


@pytest.mark.parametrize("length", [0, 1, 4, 32])
def test_random_prefix_length(layerctl, py_layer, redis_server, rdb, arun, length):
    """random_prefix_length (4.2.1+) is honoured by both sides: same body after
    `length` bytes, and messages cross in both directions."""
    pp, gp = "lt" + uuid.uuid4().hex[:12], "lt" + uuid.uuid4().hex[:12]
    base = {"hosts": [redis_server.url], "random_prefix_length": length}
    py, go = py_layer({**base, "prefix": pp}), layerctl.new({**base, "prefix": gp})
    msg = {"type": "rp", "n": length}
    arun(py.send("rp.plain", msg))
    go.send("rp.plain", msg)
    (pm,) = rdb.zrange(pp + "rp.plain", 0, -1)
    (gm,) = rdb.zrange(gp + "rp.plain", 0, -1)
    assert len(gm) == len(pm) and gm[length:] == pm[length:]
    gch, pch = go.new_channel(), arun(py.new_channel())
    py_as_go = py_layer({**base, "prefix": gp})
    arun(py_as_go.send(gch, msg))
    assert_same(go.receive(gch), msg)
    go_as_py = layerctl.new({**base, "prefix": pp})
    go_as_py.send(pch, msg)
    assert_same(arun(py_receive(py, pch)), msg)
