"""Messages exercising every value type a Python producer can put on the layer.

channels_redis serializes with msgpack.packb(use_bin_type=True) and reads with
unpackb(raw=False): str -> str family, bytes -> bin family, ints in the
smallest width from -2**63 to 2**64-1, floats as float64, tuples as arrays,
dicts in insertion order. Each case crosses a size boundary of the format
(fixstr/str8/str16/str32, fixarray/array16, fixmap/map16, bin8/bin16/bin32,
every int width on both signs).
"""

from __future__ import annotations

import collections
import enum


class Level(enum.IntEnum):
    """An int subclass: msgpack packs it as the plain int."""

    HIGH = 300

INT_EDGES = [
    0, 1, 127, 128, 255, 256, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1, 2**32,
    2**63 - 1, 2**63, 2**64 - 1,
    -1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63) + 1, -(2**63),
]

FLOAT_EDGES = [
    0.0, -0.0, 1.0, -1.5, 0.1, 1e16, 1e-7, 123456789.0, 1.7976931348623157e308,
    5e-324, 2.2250738585072014e-308, float("inf"), float("-inf"),
]

STR_EDGES = [
    "", "a" * 31, "b" * 32, "c" * 255, "d" * 256, "e" * 65535, "f" * 65536,
    "héllo wörld", "日本語テキスト", "emoji 😀🎉", "nul\x00inside", "tab\tnew\nline\r",
    "\u2028\u2029", "\ufeffbom", "quote\"back\\slash", "<script>&amp;</script>",
]

BYTES_EDGES = [b"", b"\x00", bytes(range(256)), b"\xff" * 255, b"\x80" * 256, b"z" * 65536]

#: name -> message. Every message is a dict with str keys and a "type".
SAMPLES: dict[str, dict] = {
    "simple": {"type": "task.update", "pct": 50},
    "ints": {"type": "t.ints", "values": INT_EDGES, "top": 2**64 - 1, "bottom": -(2**63)},
    "floats": {"type": "t.floats", "values": FLOAT_EDGES},
    "strings": {"type": "t.strings", "values": STR_EDGES},
    "bytes": {"type": "t.bytes", "values": BYTES_EDGES, "one": b"\x00\xff\xfe"},
    "scalars": {"type": "t.scalars", "none": None, "yes": True, "no": False, "zero": 0,
                "zerof": 0.0, "empty": "", "emptyb": b""},
    "nested": {
        "type": "t.nested",
        "z": {"y": {"x": [[], {}, [1, [2, [3, [None]]]], {"deep": {"deeper": {"deepest": b"!"}}}]}},
        "a": [{"k": i, "v": str(i)} for i in range(3)],
        "mixed": [1, 1.0, True, "1", b"1", None, [1], {"1": 1}],
    },
    "key_order": {"zeta": 1, "alpha": 2, "type": "t.order", "mu": {"b": 1, "a": 2, "c": {"z": 0, "y": 1}}},
    "big_containers": {
        "type": "t.big",
        "list16": list(range(20)),
        "list_long": [True, None] * 32768,
        "map16": {f"k{i:02d}": i for i in range(20)},
        "map_long": {f"key{i}": None for i in range(65536)},
    },
    "unicode_keys": {"type": "t.ukeys", "clé": "valeur", "キー": [1], "": "empty key"},
    "tuple_as_list": {"type": "t.tuple", "t": (1, "two", (3.0,))},
    "subclasses": {"type": "t.sub", "ba": bytearray(b"\x00\x01"), "level": Level.HIGH,
                   "od": collections.OrderedDict([("z", 1), ("a", 2)])},
}

#: Samples whose bytes depend on nothing but the message (no NaN: its payload
#: bits are not preserved by the tagged text form layerctl reads).
BYTE_SAMPLES = SAMPLES

#: Same as SAMPLES plus NaN, which only compares by repr.
VALUE_SAMPLES = {**SAMPLES, "nan": {"type": "t.nan", "v": float("nan"), "l": [float("nan")]}}
