"""Where laurel deliberately differs from the seed consumer under Daphne (docs/compat-e2e.md).

Each test asserts Daphne's actual behaviour for the daphne target and laurel's documented behaviour
for the laurel target, and names the difference:

- D1 bad client input: the seed consumer raises (json.loads, KeyError, channels' group-name check,
  "No text section" for binary) and Daphne closes the socket with 1011. laurel answers an error frame
  {"type": "error", "error": <code>, "message": <text>} and keeps the socket open.
- D2 unknown client action: the seed consumer ignores it silently; laurel answers an error frame.
- D3 group event of a type the consumer has no handler for: Channels raises "No handler for message
  type" and Daphne closes with 1011; laurel drops the event (counted) and the socket lives on.
"""

from __future__ import annotations

import json

import pytest

from .helpers import browser, frame, open_tracked

# name → (what the client sends, laurel's documented error code: consumer/codes.go, docs/configuration.md)
BAD_INPUT = {
    "not-json": ("this is not json", "invalid_json"),
    "json-array": ("[1, 2, 3]", "invalid_message"),
    "missing-task-id": (json.dumps({"action": "subscribe"}), "invalid_task_id"),
    "invalid-group-name": (json.dumps({"action": "subscribe", "task_id": "has spaces and ünïcode"}), "invalid_task_id"),
    "too-long-task-id": (json.dumps({"action": "subscribe", "task_id": "x" * 200}), "invalid_task_id"),
    "binary": (b"\x00\x01binary", "binary_not_supported"),
}

DIRECT = frame({"type": "user.message", "text": "direct to your socket", "seq": 0})


def _assert_error_frame(raw) -> dict:
    assert isinstance(raw, str), raw
    msg = json.loads(raw)
    assert list(msg) == ["type", "error", "message"], msg
    assert msg["type"] == "error" and isinstance(msg["error"], str) and msg["error"], msg
    assert isinstance(msg["message"], str), msg
    return msg


def _still_open(t, s, channel) -> None:
    t.stack.manage("send_user_events", "--channel", channel)
    assert s.recv() == DIRECT


@pytest.mark.parametrize("name", list(BAD_INPUT))
def test_d1_bad_client_input(target, name):
    t = target
    s, channel = open_tracked(t.stack, browser(t))
    with s:
        data, code = BAD_INPUT[name]
        s.ws.send(data)
        if t.name == "daphne":
            closed = s.wait_closed()
            assert closed.code == 1011, closed
            assert s.frames == []
        else:
            assert _assert_error_frame(s.recv())["error"] == code
            _still_open(t, s, channel)


def test_d2_unknown_action(target):
    t = target
    s, channel = open_tracked(t.stack, browser(t))
    with s:
        s.send_json({"action": "dance", "task_id": "1"})
        if t.name == "laurel":
            assert _assert_error_frame(s.recv())["error"] == "unknown_action"
        _still_open(t, s, channel)  # daphne: nothing came before the direct message


def test_d3_unknown_event_type(target):
    t = target
    b = browser(t)
    s, channel = open_tracked(t.stack, b)
    with s:
        t.stack.manage("send_user_events", "--user-id", str(b.user_id), "--raw-type", "report.unknown")
        if t.name == "daphne":
            closed = s.wait_closed()
            assert closed.code == 1011, closed
            assert s.frames == []
        else:
            _still_open(t, s, channel)
