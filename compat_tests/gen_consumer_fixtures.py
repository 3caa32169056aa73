"""Write consumer/testdata/frames.json: what a Channels consumer sends for channel-layer events.

Run with the project venv:  .venv/bin/python compat_tests/gen_consumer_fixtures.py

For each event, the fixture holds the event as channels_redis 4.3.0 puts it on the wire (msgpack,
use_bin_type=True, without the random prefix) and the exact text frame that Channels 4.3.2's
AsyncJsonWebsocketConsumer sends when its handler (channels.consumer.get_handler_name) calls
send_json({**event, "type": event["type"].replace(".", "_")}) — the seed consumer's _forward.
Events Channels cannot handle record the Python error instead of a frame. consumer/ tests compare
laurel's frames with these bytes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os

import channels
import channels_redis
import msgpack
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "consumer", "testdata", "frames.json")

EVENTS = {
    "task_update": {"type": "task.update", "task_id": "abc-123", "status": "processing",
                    "message": "Processing 1500 records...", "progress": 45, "data": {}},
    "task_complete": {"type": "task.complete", "task_id": "abc-123", "status": "completed",
                      "message": "Completed: 1500 created, 0 updated",
                      "result": {"created": 1500, "updated": 0, "errors": 0}},
    "task_error": {"type": "task.error", "task_id": "abc-123", "error": "Database connection failed",
                   "message": "An error occurred"},
    "user_file_unicode": {"type": "user.file", "filename": "informe-año.pdf", "url": "/media/r.pdf",
                          "size": 12345, "emoji": "\U0001f389 ok", "quote": "a\"b\\c\n\t<&>"},
    "numbers": {"type": "user.notification", "int": -7, "big": 2**63 - 1, "huge": 2**64 - 1, "float": 0.1,
                "whole_float": 1.0, "exp": 1e16, "small": 1.5e-05, "neg_zero": -0.0, "nan": float("nan"),
                "inf": float("inf")},
    "nested_order": {"z": 1, "type": "task.update", "a": [1, "two", None, True, False, {"k": [], "j": {}}],
                     "m": {"b": 1, "a": 2}},
    "many_dots": {"type": "a.b.c.d", "x": 1},
    "type_only": {"type": "user.message"},
    "bytes_value": {"type": "user.message", "blob": b"\x00\x01"},
    "leading_underscore": {"type": "_private.thing"},
    "leading_dot": {"type": ".hidden"},
}


def encode(content: dict) -> str:
    """AsyncJsonWebsocketConsumer.encode_json (a coroutine in Channels 4.x), as send_json calls it."""
    return asyncio.run(AsyncJsonWebsocketConsumer.encode_json(content))


def frame_for(event: dict) -> dict:
    out = {"name": None, "msgpack": base64.b64encode(msgpack.packb(event, use_bin_type=True)).decode()}
    try:
        handler = get_handler_name(event)
    except ValueError as e:
        out["python_error"] = f"ValueError: {e}"
        return out
    out["handler"] = handler
    try:
        text = encode({**event, "type": event["type"].replace(".", "_")})
    except TypeError as e:
        out["python_error"] = f"TypeError: {e}"
        return out
    out["frame"] = text
    return out


def main() -> None:
    cases = []
    for name, event in EVENTS.items():
        c = frame_for(event)
        c["name"] = name
        cases.append(c)
    error = encode(
        {"type": "error", "error": "invalid_json", "message": "message is not valid JSON"})
    doc = {
        "generator": "compat_tests/gen_consumer_fixtures.py",
        "channels": channels.__version__,
        "channels_redis": channels_redis.__version__,
        "cases": cases,
        "error_frame": error,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()
