"""Python values <-> the tagged JSON form the Go helper programs read and write
(compat_tests/cmd/internal/ctlwire/value.go), and an exact comparison.

Shared by the core-layer suite (compat_tests/channelsproto) and the pub/sub suite
(compat_tests/pubsub), whose helpers (layerctl, pubsubctl) use the same wire form.
"""

from __future__ import annotations


def tag(v):
    """Python value -> layerctl's tagged JSON form (see compat_tests/cmd/internal/ctlwire/value.go)."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return {"int": str(int(v))}
    if isinstance(v, float):
        return {"float": repr(float(v))}
    if isinstance(v, (bytes, bytearray)):
        return {"bytes": bytes(v).hex()}
    if isinstance(v, (list, tuple)):
        return {"list": [tag(x) for x in v]}
    if isinstance(v, dict):
        for k in v:
            assert isinstance(k, str), f"map keys must be str, got {k!r}"
        return {"map": [[k, tag(x)] for k, x in v.items()]}
    raise TypeError(f"cannot tag {type(v).__name__}")


def untag(v):
    """The inverse of tag()."""
    if v is None or isinstance(v, (bool, str)):
        return v
    assert isinstance(v, dict) and len(v) == 1, f"bad tagged value {v!r}"
    (kind, body), = v.items()
    if kind == "int":
        return int(body)
    if kind == "float":
        return float(body)
    if kind == "bytes":
        return bytes.fromhex(body)
    if kind == "list":
        return [untag(x) for x in body]
    if kind == "map":
        return {k: untag(x) for k, x in body}
    raise AssertionError(f"unknown tag {kind!r}")


def strict(v):
    """A form of v whose == compares type, value and dict order exactly.

    Plain == says 1 == 1.0 == True, {"a":1,"b":2} == {"b":2,"a":1} and
    nan != nan; none of that is acceptable for a wire-compatibility check.
    Tuples count as lists, because msgpack turns them into arrays.
    """
    if v is None:
        return ("none",)
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, int):
        return ("int", int(v))
    if isinstance(v, float):
        return ("float", repr(float(v)))
    if isinstance(v, str):
        return ("str", v)
    if isinstance(v, (bytes, bytearray)):
        return ("bytes", bytes(v))
    if isinstance(v, (list, tuple)):
        return ("list", [strict(x) for x in v])
    if isinstance(v, dict):
        return ("dict", [(strict(k), strict(x)) for k, x in v.items()])
    raise TypeError(f"unexpected {type(v).__name__}")


def assert_same(got, want):
    assert strict(got) == strict(want), f"\n got: {got!r}\nwant: {want!r}"
