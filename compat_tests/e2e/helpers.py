"""Scenario helpers: Redis views of the channel layer, expected frames, the differential record."""

from __future__ import annotations

import json
import os
import time
import uuid

from .client import USERS, Browser, Refusal, Socket

DJPROJECT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "djproject")
PREFIX = "asgi"  # CHANNEL_LAYERS prefix of djproject (channels_redis default)


def unique(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}"


def browser(target, user: str = "alice") -> Browser:
    b = Browser(target.base_url)
    b.login(user, USERS[user])
    return b


def members(stack, group: str) -> set[str]:
    return {m.decode() for m in stack.layer_redis().zrange(f"{PREFIX}:group:{group}", 0, -1)}


def wait_until(cond, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def open_ok(b: Browser, path: str = "/ws/tasks/", **kw) -> Socket:
    s = b.open(path, **kw)
    assert isinstance(s, Socket), f"handshake refused: {s}"
    return s


def open_tracked(stack, b: Browser) -> tuple[Socket, str]:
    """Open /ws/tasks/ and find the socket's channel name: the new member of group user_<id>."""
    before = members(stack, f"user_{b.user_id}")
    s = open_ok(b)
    new = wait_until(lambda: members(stack, f"user_{b.user_id}") - before, what="the socket in user_<id>")
    assert len(new) == 1, new
    return s, new.pop()


def subscribe(stack, s: Socket, channel: str, task_id: str) -> None:
    """Send the subscribe action and wait until the channel is in task_<id> (no ack exists in the seed)."""
    s.send_json({"action": "subscribe", "task_id": task_id})
    wait_until(lambda: channel in members(stack, f"task_{task_id}"), what=f"{channel} in task_{task_id}")


def unsubscribe(stack, s: Socket, channel: str, task_id: str) -> None:
    s.send_json({"action": "unsubscribe", "task_id": task_id})
    wait_until(lambda: channel not in members(stack, f"task_{task_id}"), what=f"{channel} out of task_{task_id}")


def frame(event: dict) -> str:
    """The exact frame the seed consumer sends for a group event: send_json = json.dumps, type dots→_."""
    return json.dumps({**event, "type": event["type"].replace(".", "_")})


def refusal(r) -> tuple:
    assert isinstance(r, Refusal), f"expected the handshake to be refused, it was accepted: {r}"
    return ("refused", r.status, r.reason, r.body)


def differential(request, transcripts: dict, name: str, target, run):
    """Run a scenario on target; for laurel also compare with Daphne's transcript (run it if needed).

    A transcript is plain data (frames as raw text, refusals, close codes) with per-run values such
    as task ids replaced by placeholders, so equal transcripts mean the client saw the same bytes.
    """
    got = run(target)
    seen = transcripts.setdefault(name, {})
    seen[target.name] = got
    if target.name != "daphne":
        if "daphne" not in seen:
            seen["daphne"] = run(request.getfixturevalue("daphne"))
        assert got == seen["daphne"], f"{target.name} differs from Daphne in scenario {name}"
    return got
