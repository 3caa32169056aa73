"""Write channelsproto/testdata/*.json golden fixtures from the real Python packages.

Run with the project venv:  .venv/bin/python compat_tests/gen_channelsproto_fixtures.py

Everything here is produced by channels_redis 4.3.0 / channels 4.3.2 / msgpack /
cryptography as installed in .venv; the Go tests in channelsproto/ compare against
these files byte for byte. Values are stored in a typed JSON form (see tag()) so
ints, floats, str and bytes survive the trip unchanged.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import random
import re
import sys
from unittest import mock

import msgpack
from channels.layers import BaseChannelLayer
from channels_redis import serializers
from channels_redis.core import RedisChannelLayer
from channels_redis.utils import _consistent_hash
from cryptography.fernet import Fernet, MultiFernet, InvalidToken

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "channelsproto", "testdata")

FIXED_PREFIX_BITS = 0x0102030405060708090A0B0C


def tag(v):
    """Typed JSON form read by channelsproto's tests (fromTagged)."""
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int):
        return {"int": str(v)}
    if isinstance(v, float):
        if math.isnan(v):
            return {"float": "nan"}
        if math.isinf(v):
            return {"float": "inf" if v > 0 else "-inf"}
        return {"float": v.hex()}
    if isinstance(v, str):
        return {"str": v}
    if isinstance(v, bytes):
        return {"bytes": v.hex()}
    if isinstance(v, (list, tuple)):
        return {"list": [tag(x) for x in v]}
    if isinstance(v, dict):
        # bin keys (accepted by unpackb) become Go strings of the same bytes.
        return {"map": [[k.decode() if isinstance(k, bytes) else k, tag(x)] for k, x in v.items()]}
    raise TypeError(type(v))


def write(name, data):
    path = os.path.join(OUT, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, ensure_ascii=True)
        f.write("\n")
    print("wrote", path)


MESSAGES = {
    "task_update": {"type": "task.update", "pct": 50},
    "empty": {},
    "ascii_str": {"type": "chat.message", "text": "hello world"},
    "unicode": {"type": "chat.message", "text": "h\u00e9llo \u4e16\u754c \U0001f600", "\u00e9": "key"},
    "str_lengths": {"s0": "", "s31": "a" * 31, "s32": "b" * 32, "s255": "c" * 255, "s256": "d" * 256,
                    "s65535": "e" * 65535, "s65536": "f" * 65536},
    "bytes": {"b0": b"", "b1": b"\x00\xff", "b255": bytes(range(256))[:255], "b256": bytes(256),
              "b65536": b"\x01" * 65536},
    "ints": {"i": [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1,
                   -1, -32, -33, -128, -129, -32768, -32769, -2**31, -2**31 - 1, -2**63]},
    "floats": {"f": [0.0, -0.0, 1.0, 1.5, -2.25, 1e16, 1e-5, 123456789.123, 3.141592653589793,
                     1.7976931348623157e308, 5e-324, float("inf"), float("-inf")]},
    "bools_none": {"t": True, "f": False, "n": None},
    "nested": {"type": "x.y", "a": [1, [2, [3, {"b": [None, {"c": "d"}]}]]], "m": {"k": {"k2": {}}}, "l": []},
    "big_array": {"arr": list(range(20))},
    "big_map": {f"k{i}": i for i in range(20)},
    "ws_send": {"type": "websocket.send", "text": "{\"a\": 1}"},
    "tuple": {"t": (1, "a", b"b")},
}

GROUP_MESSAGE = {"type": "task.update", "pct": 50, "payload": {"ok": True, "n": [1, 2.5, "x"]}}


def gen_msgpack():
    cases = []
    for name, msg in MESSAGES.items():
        packed = msgpack.packb(msg)
        assert msgpack.unpackb(packed) == msg or name == "tuple"
        cases.append({"name": name, "value": tag(msg), "hex": packed.hex(),
                      "decoded": tag(msgpack.unpackb(packed))})
    # Top-level scalars and lists, as MarshalMsgpack / UnmarshalMsgpack see them.
    for name, v in [("nil", None), ("true", True), ("int_neg", -5), ("float", 2.5), ("str", "x"),
                    ("bin", b"y"), ("list", [1, "a"])]:
        cases.append({"name": "scalar_" + name, "value": tag(v), "hex": msgpack.packb(v).hex(),
                      "decoded": tag(v)})
    # Inputs Python decodes that Go's encoder never writes: float32, non-minimal ints,
    # bin map keys, duplicate keys.
    decode_only = [
        ("float32", bytes.fromhex("81a166ca3fc00000")),
        ("uint16_small", bytes.fromhex("81a169cd0001")),
        ("int64_small", bytes.fromhex("81a169d3ffffffffffffffff")),
        ("uint64_small", bytes.fromhex("81a169cf0000000000000005")),
        ("str8_short", bytes.fromhex("81a173d90161")),
        ("bin_key", bytes.fromhex("81c4016b01")),
        ("duplicate_key", bytes.fromhex("83a16101a16202a16103")),
        ("map16_small", bytes.fromhex("de0001a16101")),
        ("array32_small", bytes.fromhex("81a161dd000000010102")[:-1]),
    ]
    for name, raw in decode_only:
        cases.append({"name": "decode_" + name, "hex": raw.hex(), "decoded": tag(msgpack.unpackb(raw))})
    # Inputs Python rejects.
    bad = [
        ("int_key", "8101a161"),
        ("nil_key", "81c0a161"),
        ("invalid_utf8", "81a161a2c328"),
        ("truncated_str", "81a161a5616263"),
        ("truncated_map", "82a16101"),
        ("extra_data", "81a1610100"),
        ("reserved_c1", "c1"),
        ("empty", ""),
        ("truncated_uint64", "cf0000"),
        ("surrogate_utf8", "a3eda080"),
    ]
    rejects = []
    for name, h in bad:
        try:
            msgpack.unpackb(bytes.fromhex(h))
        except Exception as e:  # noqa: BLE001 - any error is a rejection
            rejects.append({"name": name, "hex": h, "python_error": type(e).__name__})
        else:
            raise AssertionError(f"python accepted {name}")
    write("msgpack.json", {"generator": "msgpack " + ".".join(map(str, msgpack.version)), "cases": cases,
                           "rejects": rejects})


def fixed_serializer(fmt, keys=None, expiry=60, prefix_len=12):
    return serializers.registry.get_serializer(fmt, symmetric_encryption_keys=keys,
                                               random_prefix_length=prefix_len, expiry=expiry)


def gen_serializer():
    cases = []
    with mock.patch.object(serializers.random, "getrandbits", lambda n: FIXED_PREFIX_BITS & ((1 << n) - 1)):
        for fmt in ("msgpack", "json"):
            s = fixed_serializer(fmt)
            for name, msg in MESSAGES.items():
                if name in ("str_lengths", "bytes") or (fmt == "json" and name == "tuple"):
                    continue
                out = s.serialize(msg)
                assert out[:12] == FIXED_PREFIX_BITS.to_bytes(12, "big")
                back = s.deserialize(out)
                cases.append({"name": name, "format": fmt, "prefix_length": 12, "value": tag(msg),
                              "hex": out.hex(), "decoded": tag(back)})
        s = fixed_serializer("msgpack", prefix_len=0)
        out = s.serialize(MESSAGES["task_update"])
        cases.append({"name": "no_prefix", "format": "msgpack", "prefix_length": 0,
                      "value": tag(MESSAGES["task_update"]), "hex": out.hex(),
                      "decoded": tag(MESSAGES["task_update"])})
    write("serializer.json", {"cases": cases})


def gen_group_send():
    """_map_channel_keys_to_connection of a real RedisChannelLayer (no I/O)."""
    cp1 = "0123456789abcdef0123456789abcdef"
    cp2 = "fedcba9876543210fedcba9876543210"
    scenarios = [
        ("one_member", 1, [f"specific.{cp1}!fedcba9876543210fedcba9876543210"], {}),
        ("two_processes", 1, [f"specific.{cp1}!a1", f"specific.{cp2}!b1", f"specific.{cp1}!a2",
                              "plainchannel", f"specific.{cp2}!b2"], {}),
        ("three_hosts", 3, [f"specific.{cp1}!a1", f"specific.{cp2}!b1", "tasks", "other.chan",
                            f"specific.{cp1}!a2", f"x.{cp1}!z"], {}),
        ("capacities", 2, [f"specific.{cp1}!a1", "http.request", "big.one", f"specific.{cp2}!x"],
         {"specific.*": 7, "http.*": 200, re.compile(r"big\.(one|two)"): 3}),
    ]
    out = []
    with mock.patch.object(serializers.random, "getrandbits", lambda n: FIXED_PREFIX_BITS & ((1 << n) - 1)):
        for name, nhosts, members, caps in scenarios:
            layer = RedisChannelLayer(hosts=[f"redis://h{i}:6379" for i in range(nhosts)],
                                      channel_capacity=caps)
            conn_keys, key_msg, key_cap = layer._map_channel_keys_to_connection(members, GROUP_MESSAGE)
            rules = []
            for p, c in caps.items():
                if hasattr(p, "match"):
                    rules.append({"pattern": p.pattern, "regex": True, "capacity": c})
                else:
                    rules.append({"pattern": p, "regex": False, "capacity": c})
            out.append({
                "name": name, "hosts": nhosts, "members": members, "capacity_rules": rules,
                "message": tag(GROUP_MESSAGE),
                "shards": [{"index": idx, "keys": keys,
                            "payloads_hex": [key_msg[k].hex() for k in keys],
                            "capacities": [key_cap[k] for k in keys]}
                           for idx, keys in conn_keys.items()],
            })
    # The send() shape: __asgi_channel__ as a plain str, appended last.
    with mock.patch.object(serializers.random, "getrandbits", lambda n: FIXED_PREFIX_BITS & ((1 << n) - 1)):
        layer = RedisChannelLayer()
        ch = f"specific.{cp1}!local"
        m = dict(GROUP_MESSAGE.items())
        m["__asgi_channel__"] = ch
        send_hex = layer.serialize(m).hex()
    write("group_send.json", {"scenarios": out, "send": {"channel": ch, "message": tag(GROUP_MESSAGE),
                                                         "hex": send_hex}})


def gen_fernet():
    keys = ["laurel-secret-1", "second key \u00e9"]
    msg = {"type": "task.update", "pct": 50, "b": b"\x00\x01"}
    body = msgpack.packb(msg)
    cases = []
    ts = 1795653018
    iv = bytes(range(16))
    for i, k in enumerate(keys):
        f = serializers.BaseMessageSerializer.make_fernet(None, k)
        fixed = f._encrypt_from_parts(body, ts, iv)
        cases.append({"name": f"fixed_iv_key{i}", "keys": keys, "token": fixed.decode(), "timestamp": ts,
                      "iv_hex": iv.hex(), "body_hex": body.hex(), "secret": k,
                      "derived_key": base64.urlsafe_b64encode(
                          __import__("hashlib").sha256(k.encode()).digest()).decode()})
    # Tokens straight from serializer.serialize() (the real encrypt path, with the
    # random prefix). os.urandom (IV), time.time and getrandbits are pinned so the
    # file is reproducible; the bytes are otherwise exactly what a process writes.
    import cryptography.fernet as cf
    counter = iter(range(1, 1000))
    random_tokens = []
    with mock.patch.object(cf.os, "urandom", lambda n: bytes([next(counter)]) * n), \
            mock.patch.object(cf.time, "time", lambda: ts + 0.25), \
            mock.patch.object(serializers.random, "getrandbits", lambda n: FIXED_PREFIX_BITS & ((1 << n) - 1)):
        s = fixed_serializer("msgpack", keys=keys)
        for name in ("task_update", "unicode", "ints", "nested"):
            out = s.serialize(MESSAGES[name])
            tok = out[12:]
            tts = int.from_bytes(base64.urlsafe_b64decode(tok)[1:9], "big")
            random_tokens.append({"name": name, "hex": out.hex(), "timestamp": tts, "value": tag(MESSAGES[name])})
        # Old key rotated to second place still decrypts.
        s_old = fixed_serializer("msgpack", keys=[keys[1]])
        out = s_old.serialize(MESSAGES["task_update"])
        tts = int.from_bytes(base64.urlsafe_b64decode(out[12:])[1:9], "big")
        random_tokens.append({"name": "rotated_second_key", "hex": out.hex(), "timestamp": tts,
                              "value": tag(MESSAGES["task_update"])})
    # TTL window exactly as MultiFernet.decrypt_at_time applies it (ttl = expiry + 10).
    mf = MultiFernet([serializers.BaseMessageSerializer.make_fernet(None, k) for k in keys])
    tok = cases[0]["token"].encode()
    ttl_cases = []
    for delta in (-61, -60, 0, 69, 70, 71, 1000):
        try:
            mf.decrypt_at_time(tok, 70, ts + delta)
            ok = True
        except InvalidToken:
            ok = False
        ttl_cases.append({"now": ts + delta, "valid": ok})
    # Tampered / malformed tokens Python rejects.
    raw = bytearray(base64.urlsafe_b64decode(tok))
    raw[-1] ^= 1
    bad_sig = base64.urlsafe_b64encode(bytes(raw)).decode()
    rejects = {"bad_signature": bad_sig, "not_base64": "gAAAAA!!!!", "short": base64.urlsafe_b64encode(b"\x80" + b"\0" * 8).decode(),
               "wrong_version": base64.urlsafe_b64encode(b"\x81" + bytes(raw[1:])).decode()}
    for name, t in rejects.items():
        try:
            mf.decrypt_at_time(t.encode(), 70, ts)
        except InvalidToken:
            pass
        else:
            raise AssertionError(name)
    write("fernet.json", {"keys": keys, "fixed": cases, "random": random_tokens, "ttl": 70,
                          "ttl_token": cases[0]["token"], "ttl_cases": ttl_cases, "rejects": rejects})


def gen_json():
    values = {
        "task_update": {"type": "task.update", "pct": 50, "done": False, "eta": None},
        "unicode": {"s": "\u00e9\u4e16\U0001f600", "ctl": "\x00\x01\x1f\x7f\"\\\n\r\t\b\f/<>&'"},
        "floats": [1.0, 1.5, -0.0, 0.1, 1e16, 1e15, 123456789012345678.0, 1e-4, 1e-5, 1.5e-7, 5e-324,
                   1.7976931348623157e308, 2.5e+20, 100.0, 0.30000000000000004, float("nan"),
                   float("inf"), float("-inf")],
        "ints": [0, -1, 2**63 - 1, -2**63, 2**64 - 1],
        "nested": {"a": [[], {}, [{}], {"b": []}], "c": {"d": {"e": "f"}}},
        "empty_str_key": {"": ""},
    }
    dumps = [{"name": n, "value": tag(v), "json": json.dumps(v)} for n, v in values.items()]
    loads_inputs = [
        ("ws", ' \t\n\r{"a" : [1 , 2]}\r\n '), ("dup", '{"a": 1, "b": 2, "a": 3}'),
        ("escapes", '"\\u00e9\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\\"\\\\"'),
        ("nan", '[NaN, Infinity, -Infinity]'), ("big_uint", "18446744073709551615"),
        ("neg_zero_int", "-0"), ("exp", "[1e2, 1E-2, 1.5e+3, 0.5, -0.0]"), ("huge_float", "1e400"),
        ("lit", "[true, false, null]"), ("utf8", '"\u00e9\u4e16"'), ("empty_obj", "{}"),
    ]
    loads = [{"name": n, "json": s, "value": tag(json.loads(s))} for n, s in loads_inputs]
    bad_inputs = [("trailing_comma", "[1,]"), ("single_quote", "{'a': 1}"), ("leading_zero", "01"),
                  ("ctl_in_str", '"a\x01b"'), ("bad_escape", '"\\x"'), ("empty", ""), ("extra", "{} {}"),
                  ("nan_lower", "nan"), ("dot", "1."), ("plus", "+1"), ("unterminated", '"abc')]
    bad = []
    for n, s in bad_inputs:
        try:
            json.loads(s)
        except ValueError:
            bad.append({"name": n, "json": s})
        else:
            raise AssertionError(n)
    write("pyjson.json", {"dumps": dumps, "loads": loads, "rejects": bad})


def gen_names():
    layer = BaseChannelLayer()
    names = ["abc", "a.b-c_d", "specific.0123!abc", "specific.0123!", "x!y!z", "!abc", "", "a b", "a:b",
             "abc\n", "abc\n\n", "\nabc", "\u0661\u0662\u0663", "a!\u00e9\u00e8", "\u00e9!a", "a!\u0661",
             "a" * 99, "a" * 100, "\u0661" * 99, "a!" + "b" * 97, "a!" + "b" * 98, "grp.é", "a\tb", "a!b c",
             "a!b-_.9", "a!b\n", "a!\u2460", "a!\u00b2", "a!\u2167", "a!\u02b0", "a!\u0300", "\u0e50x",
             "a\u200bb", "a!\uff21", "A-Z_0.9"]
    out = []
    for n in names:
        def ok(fn):
            try:
                fn(n)
                return True
            except TypeError:
                return False
        out.append({"name": n, "channel": ok(layer.require_valid_channel_name),
                    "group": ok(layer.require_valid_group_name), "non_local": layer.non_local_name(n)})
    hashes = []
    for v in ["specific.0123456789abcdef0123456789abcdef!", "tasks", "chat", "", "\u00e9", "group-1",
              "specific.fedcba9876543210fedcba9876543210!", "x" * 99]:
        hashes.append({"value": v, "crc": binascii.crc32(v.encode()),
                       "index": [_consistent_hash(v, n) for n in range(1, 11)] + [_consistent_hash(v, 128)]})
    write("names.json", {"names": out, "hashes": hashes, "ring_sizes": list(range(1, 11)) + [128]})


def gen_capacity():
    cfg = {"http.request": 200, "http.response!*": 10, "websocket.send!*": 20, "ch?nnel": 5,
           "[abc]x": 6, "[!abc]y": 7, "lit[": 8, re.compile(r"^re\.(a|b)"): 9, re.compile(r"pre"): 11,
           "star*mid*end": 12, "dot.only": 13}
    layer = RedisChannelLayer(channel_capacity=cfg, capacity=42)
    names = ["http.request", "http.requestx", "http.response!abc", "http.response!", "websocket.send!q",
             "channel", "chxnnel", "chnnel", "ax", "dx", "ay", "dy", "lit[", "re.a", "re.b.c", "xre.a",
             "prefix", "apre", "starXmidYend", "starmidend", "dotXonly", "dot.only", "other"]
    rules = []
    for p, c in cfg.items():
        if hasattr(p, "match"):
            rules.append({"pattern": p.pattern, "regex": True, "capacity": c})
        else:
            rules.append({"pattern": p, "regex": False, "capacity": c})
    write("capacity.json", {"default": 42, "rules": rules,
                            "cases": [{"name": n, "capacity": layer.get_capacity(n)} for n in names]})


def main():
    os.makedirs(OUT, exist_ok=True)
    gen_msgpack()
    gen_serializer()
    gen_group_send()
    gen_fernet()
    gen_json()
    gen_names()
    gen_capacity()


if __name__ == "__main__":
    sys.exit(main())
