"""Hostile input against a real laurel: each case has the documented answer (docs/security.md) and
laurel keeps serving other clients afterwards (checked after every test)."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
import redis as redis_py

from .conftest import (ConnectionClosed, InvalidStatus, close_code, frame, group_send, members, raw_handshake,
                       read_frame, recv_json, subscribe, wait_for)


@pytest.fixture(scope="module")
def hl(stack, module_redis, module_laurel_factory):
    return module_laurel_factory(module_redis.url)


@pytest.fixture(scope="module")
def keys(stack):
    return stack.sessions(*[f"ho{i}{uuid.uuid4().hex[:6]}" for i in range(4)])


@pytest.fixture(autouse=True)
def still_serving(request, hl, keys):
    yield
    assert hl.alive(), hl.logs()
    # Another client still gets a full round trip.
    with hl.ws(keys[3]) as ws:
        t = uuid.uuid4().hex[:10]
        subscribe(ws, t)
        wait_for(lambda: members(hl.redis_url, f"task_{t}"), 5, "membership")
        group_send(hl.redis_url, f"task_{t}", {"type": "task.done"})
        assert recv_json(ws) == {"type": "task_done"}


def error_code(ws) -> str:
    msg = recv_json(ws)
    assert msg["type"] == "error", msg
    return msg["error"]


def test_oversized_frame_closes_1009(hl, keys):
    with hl.ws(keys[0]) as ws:
        ws.send("x" * (1 << 20 + 1))
        assert close_code(ws) == 1009


def test_fragment_flood_over_limit_closes_1009(hl, keys):
    s, status, _ = raw_handshake(hl.port, f"sessionid={keys[0]}")
    assert status == 101
    s.sendall(frame(0x1, b"[" * 1000, fin=False))
    try:
        for _ in range(2000):  # 2 MB of continuation frames, > max_message_size
            s.sendall(frame(0x0, b"[" * 1000, fin=False))
    except (BrokenPipeError, ConnectionResetError):
        pass
    op, payload = read_frame(s)
    assert op == 0x8 and int.from_bytes(payload[:2], "big") == 1009
    s.close()


def test_many_small_fragments_are_one_message(hl, keys):
    s, status, _ = raw_handshake(hl.port, f"sessionid={keys[0]}")
    assert status == 101
    msg = json.dumps({"action": "nope"}).encode()
    s.sendall(frame(0x1, msg[:1], fin=False) + b"".join(frame(0x0, msg[i:i + 1], fin=False) for i in range(1, len(msg) - 1))
              + frame(0x0, msg[-1:], fin=True))
    op, payload = read_frame(s)
    assert op == 0x1 and json.loads(payload)["error"] == "unknown_action"
    s.close()


def test_invalid_utf8_text_frame(hl, keys):
    s, status, _ = raw_handshake(hl.port, f"sessionid={keys[0]}")
    assert status == 101
    s.sendall(frame(0x1, b'{"action": "subscribe", "task_id": "\xff\xfe"}'))
    op, payload = read_frame(s)
    # Documented answer: close 1007 (RFC 6455 8.1), as autobahn, and so Daphne, answers.
    assert op == 0x8, (op, payload)
    assert int.from_bytes(payload[:2], "big") == 1007, payload
    # The client answers the close; the server then ends the connection.
    s.sendall(frame(0x8, (1007).to_bytes(2, "big")))
    s.settimeout(5)
    assert s.recv(1) == b""
    s.close()


def test_utf8_split_across_fragments_is_valid(hl, keys):
    s, status, _ = raw_handshake(hl.port, f"sessionid={keys[0]}")
    assert status == 101
    msg = json.dumps({"action": "nope\u20ac"}, ensure_ascii=False).encode()
    cut = msg.index("\u20ac".encode()) + 1  # in the middle of the euro sign
    s.sendall(frame(0x1, msg[:cut], fin=False) + frame(0x0, msg[cut:], fin=True))
    op, payload = read_frame(s)
    assert op == 0x1 and json.loads(payload)["error"] == "unknown_action", payload
    s.close()


def test_binary_frame_gets_error_frame(hl, keys):
    with hl.ws(keys[0]) as ws:
        ws.send(b"\x00\x01binary")
        assert error_code(ws) == "binary_not_supported"
        ws.send(json.dumps({"action": "nope"}))
        assert error_code(ws) == "unknown_action"


def test_deeply_nested_json(hl, keys):
    with hl.ws(keys[0]) as ws:
        ws.send("[" * 200_000 + "]" * 200_000)
        assert error_code(ws) == "invalid_json"
        ws.send('{"a":' * 50_000 + "1" + "}" * 50_000)
        assert error_code(ws) == "invalid_json"


def test_10k_subscribes_hit_the_subscription_limit(hl, keys):
    counts: dict[str, int] = {}
    done = threading.Event()
    with hl.ws(keys[1], max_queue=None) as ws:
        def reader():
            try:
                while True:
                    m = json.loads(ws.recv(timeout=15))
                    counts[m.get("error", m["type"])] = counts.get(m.get("error", m["type"]), 0) + 1
                    if counts.get("subscription_limit", 0) >= 9_900:
                        break
            except (TimeoutError, ConnectionClosed):
                pass
            done.set()
        t = threading.Thread(target=reader, daemon=True)
        t.start()
        tag = uuid.uuid4().hex[:6]
        # Sent in batches, each after the previous batch's error frames arrived: a client that does
        # not keep up with its error frames would (rightly) be closed with 4008 once 256 are queued.
        for start in range(0, 10_000, 200):
            for i in range(start, start + 200):
                ws.send(json.dumps({"action": "subscribe", "task_id": f"{tag}{i}"}))
            expect = max(0, start + 200 - 100)
            wait_for(lambda: counts.get("subscription_limit", 0) >= expect or done.is_set(), 20,
                     f"{expect} subscription_limit frames")
        done.wait(60)
        assert counts == {"subscription_limit": 9_900}, counts
        r = redis_py.Redis.from_url(hl.redis_url)
        assert sum(1 for _ in r.scan_iter(f"asgi:group:task_{tag}*", count=1000)) == 100


@pytest.mark.parametrize("task_id", ["bad id!", "x" * 10_000, ["list"], {"o": 1}, 1.5, None, True, "é"])
def test_invalid_task_ids(hl, keys, task_id):
    with hl.ws(keys[0]) as ws:
        ws.send(json.dumps({"action": "subscribe", "task_id": task_id}))
        assert error_code(ws) == "invalid_task_id"


def test_handshake_without_upgrade_is_404(hl, keys):
    s, status, _ = raw_handshake(hl.port, f"sessionid={keys[0]}", upgrade=False)
    s.close()
    assert status == 404


def test_wrong_websocket_version_is_400_and_leaks_nothing(hl, keys, stack):
    r = redis_py.Redis.from_url(hl.redis_url)
    before = {k: r.zcard(k) for k in r.scan_iter("asgi:group:user_*")}
    s, status, head = raw_handshake(hl.port, f"sessionid={keys[2]}", version="8")
    s.close()
    assert status == 400, head
    after = {k: r.zcard(k) for k in r.scan_iter("asgi:group:user_*")}
    assert {k: v for k, v in after.items() if v} == {k: v for k, v in before.items() if v}


def test_64kb_cookie_header(hl, keys):
    junk = "; ".join(f"c{i}={'v' * 60}" for i in range(1000))  # ~64 KB
    assert len(junk) > 64_000
    s, status, _ = raw_handshake(hl.port, f"{junk}; sessionid={keys[0]}")
    s.close()
    assert status == 101
    s, status, _ = raw_handshake(hl.port, junk)
    s.close()
    assert status == 403


def test_many_sockets_from_one_address(hl, keys):
    # No per-address limit by default: 200 sockets from 127.0.0.1 are all accepted and all served.
    socks = [hl.ws(keys[2]) for _ in range(200)]
    try:
        wait_for(lambda: hl.metric("laurel_sockets_open") >= 200, 10, "200 sockets open")
    finally:
        for ws in socks:
            ws.close()


def test_malformed_payloads_from_redis_are_counted_and_skipped(hl, keys):
    with hl.ws(keys[0]) as ws:
        subscribe(ws, "mal1")
        member = wait_for(lambda: members(hl.redis_url, "task_mal1"), 5, "membership")[0]
        inbox = "asgi" + member.split("!", 1)[0] + "!"  # channels_redis: prefix + name, no colon
        before = hl.metric("laurel_layer_malformed_total")
        r = redis_py.Redis.from_url(hl.redis_url)
        now = time.time()
        # Random bytes, truncated msgpack, msgpack that is not a map, a map without __asgi_channel__.
        for i, junk in enumerate([b"\xc1\xc1garbage", b"\x82\xa4type", b"\x93\x01\x02\x03", b"\x81\xa4type\xa1x"]):
            r.zadd(inbox, {uuid.uuid4().bytes[:12] + junk: now + i * 1e-6})
        wait_for(lambda: hl.metric("laurel_layer_malformed_total") >= before + 3, 10, "malformed counted")
        group_send(hl.redis_url, "task_mal1", {"type": "task.done", "after": "junk"})
        assert recv_json(ws) == {"type": "task_done", "after": "junk"}


def test_socket_cap_503(stack, module_redis, module_laurel_factory, keys):
    """max_sockets: past the cap a handshake gets 503 with Retry-After (a browser's client comes back
    later), counted as socket_limit, and a closed socket frees its slot (docs/operations.md)."""
    lr = module_laurel_factory(module_redis.url, max_sockets=3)
    assert lr.metric("laurel_sockets_max") == 3
    socks = [lr.ws(keys[i % 3]) for i in range(3)]
    try:
        with pytest.raises(InvalidStatus) as refused:
            lr.ws(keys[0]).close()
        assert refused.value.response.status_code == 503
        assert refused.value.response.headers.get("Retry-After") == "5"
        assert lr.metric("laurel_handshakes_total", 'reason="socket_limit"') == 1
        assert "handshake refused: socket limit reached (max_sockets)" in lr.logs()
        socks.pop().close()
        wait_for(lambda: lr.status_of(keys[0]) == 101, 5, "a slot freed by a close")
    finally:
        for ws in socks:
            ws.close()


def test_per_address_limit_429(stack, module_redis, module_laurel_factory, keys):
    lr = module_laurel_factory(module_redis.url, max_sockets_per_address=5)
    socks = [lr.ws(keys[2]) for _ in range(5)]
    try:
        assert lr.status_of(keys[2]) == 429
        assert lr.metric("laurel_handshakes_total", 'reason="address_limit"') == 1
        socks.pop().close()
        wait_for(lambda: lr.status_of(keys[2]) == 101, 5, "a slot freed by a close")
    finally:
        for ws in socks:
            ws.close()
