"""Write channelsproto/testdata/pubsub.json from the real channels_redis pubsub layer.

Run with the project venv:  .venv/bin/python compat_tests/pubsub/gen_pubsub_fixtures.py

Everything is produced by channels_redis 4.3.0's RedisPubSubChannelLayer /
RedisPubSubLoopLayer as installed in .venv, without Redis (nothing here does
I/O): the Pub/Sub channel names and shards, the exact PUBLISH payloads
(serialize() with random_prefix_length=0) and encrypted payloads, which the
Go tests must decrypt however old they are (expiry=None: no Fernet TTL).
"""

from __future__ import annotations

import json
import os
import sys

import channels_redis
from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from gen_channelsproto_fixtures import tag  # noqa: E402  (typed JSON form read by the Go tests)

OUT = os.path.join(os.path.dirname(os.path.dirname(HERE)), "channelsproto", "testdata", "pubsub.json")

MESSAGES = [
    ("task_update", {"type": "task.update", "pct": 50}),
    ("empty", {}),
    ("unicode", {"type": "chat.message", "text": "h\u00e9llo \u4e16\u754c \U0001F600"}),
    ("types", {"type": "t", "n": None, "b": True, "f": False, "i": -1, "big": 2**64 - 1,
               "neg": -(2**63), "fl": 1.5, "bin": b"\x00\xff", "list": [1, "a", [2.25]],
               "map": {"k": {"nested": [None]}}}),
    ("long_str", {"type": "x", "s": "y" * 300}),
]

HOST_COUNTS = [1, 2, 3, 5]
NAMES = ["asgispecific.bd0457533ccf4abebe7eb882c29d0936", "asgi__group__room.1", "asgi__group__chat",
         "plain.channel", "asgispecific.00000000000000000000000000000000", "app__group__\u00e9t\u00e9"]
GROUPS = [("asgi", "room.1"), ("asgi", "chat"), ("app", "\u00e9t\u00e9"), ("", "g")]


def main():
    out = {"generator": f"channels_redis {channels_redis.__version__}", "payloads": [], "encrypted": [],
           "json_payloads": [], "group_channels": [], "shards": []}
    proxy = RedisPubSubChannelLayer(hosts=["redis://127.0.0.1:1"])
    for name, msg in MESSAGES:
        out["payloads"].append({"name": name, "value": tag(msg), "hex": proxy.serialize(msg).hex()})
    jproxy = RedisPubSubChannelLayer(hosts=["redis://127.0.0.1:1"], serializer_format="json")
    for name, msg in MESSAGES:
        if name == "types":
            continue  # bytes are not JSON-serializable
        out["json_payloads"].append({"name": name, "value": tag(msg), "hex": jproxy.serialize(msg).hex()})
    keys = ["first secret", "second secret"]
    eproxy = RedisPubSubChannelLayer(hosts=["redis://127.0.0.1:1"], symmetric_encryption_keys=keys)
    old = RedisPubSubChannelLayer(hosts=["redis://127.0.0.1:1"], symmetric_encryption_keys=keys[1:])
    for name, msg in MESSAGES:
        out["encrypted"].append({"name": name, "keys": keys, "value": tag(msg),
                                 "token": eproxy.serialize(msg).decode()})
    # A token made with the second key only: decrypted by MultiFernet with both.
    out["encrypted"].append({"name": "second_key", "keys": keys, "value": tag(MESSAGES[0][1]),
                             "token": old.serialize(MESSAGES[0][1]).decode()})
    for prefix, group in GROUPS:
        kw = {"prefix": prefix} if prefix else {}
        loop_layer = RedisPubSubLoopLayer(hosts=["redis://127.0.0.1:1"], channel_layer=proxy, **kw)
        out["group_channels"].append({"prefix": loop_layer.prefix, "group": group,
                                      "channel": loop_layer._get_group_channel_name(group)})
    for n in HOST_COUNTS:
        loop_layer = RedisPubSubLoopLayer(hosts=[f"redis://127.0.0.1:{i + 1}" for i in range(n)],
                                          channel_layer=proxy)
        for name in NAMES:
            shard = loop_layer._get_shard(name)
            out["shards"].append({"hosts": n, "name": name, "index": loop_layer._shards.index(shard)})
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=True)
        f.write("\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
