"""The browser client's own logic in headless Chromium, against a scripted fake WebSocket (passed
through the client's `WebSocket` option): queueing before open, replay after reconnects, backoff
bounds and jitter, unsubscribe, off(), disconnect(), URL defaults. The real-server behaviour is in
test_dev_demo.py and test_client_real_stack.py.
"""

from __future__ import annotations

import os

import pytest

from .conftest import CLIENT_DIR

FAKE = """
window.sockets = [];
class FakeWS {
  constructor(url) { this.url = url; this.readyState = 0; this.sent = []; window.sockets.push(this); }
  send(data) { if (this.readyState !== 1) throw new Error("send before open"); this.sent.push(JSON.parse(data)); }
  close(code) { this.readyState = 3; this.closedWith = code; setTimeout(() => this.onclose && this.onclose({ code, reason: "", wasClean: true })); }
  // test controls
  open() { this.readyState = 1; this.onopen && this.onopen({}); }
  drop(code) { this.readyState = 3; this.onclose && this.onclose({ code: code || 1006, reason: "", wasClean: false }); }
  frame(obj) { this.onmessage && this.onmessage({ data: typeof obj === "string" ? obj : JSON.stringify(obj) }); }
}
window.FakeWS = FakeWS;
"""


@pytest.fixture
def js(page):
    # A page with a real-looking origin (fulfilled by the test; the fake socket never touches the network).
    page.route("http://client.test/", lambda route: route.fulfill(
        status=200, body="<!doctype html><title>unit</title>", headers={"Content-Type": "text/html"}))
    page.goto("http://client.test/")
    with open(os.path.join(CLIENT_DIR, "task-notifications.js")) as f:
        page.add_script_tag(content=f.read())
    page.add_script_tag(content=FAKE)
    return page


def test_default_instance_and_url(js):
    assert js.evaluate("typeof taskNotifications.connect") == "function"
    assert js.evaluate("taskNotifications.state") == "idle"
    urls = js.evaluate("""() => {
        const mk = () => TaskNotifications.create({ WebSocket: FakeWS });
        mk().connect(); mk().connect("/ws/other/"); mk().connect("wss://example.test/ws/tasks/");
        mk().connect("https://example.test/x/");
        return sockets.map(s => s.url);
    }""")
    # Default: this host's /ws/tasks/; a path resolves against the page; http(s) becomes ws(s).
    assert urls == ["ws://client.test/ws/tasks/", "ws://client.test/ws/other/",
                    "wss://example.test/ws/tasks/", "wss://example.test/x/"]


def test_queue_replay_and_reconnect(js):
    got = js.evaluate("""async () => {
        const log = [];
        const tn = TaskNotifications.create({ WebSocket: FakeWS, random: () => 0.5, minDelay: 10, maxDelay: 40 });
        for (const t of ["open", "close", "reconnecting"]) tn.on(t, d => log.push([t, d]));
        tn.subscribe("a").subscribe("b").subscribe("a");        // queued, deduplicated
        tn.connect();
        const s0 = sockets[0];
        const beforeOpen = s0.sent.length;
        s0.open();
        tn.unsubscribe("b");
        tn.subscribe("c");
        s0.drop(1006);
        const stateAfterDrop = tn.state;
        await new Promise(r => setTimeout(r, 30));
        const s1 = sockets[1];
        s1.drop(1006);                                          // a failed attempt: backoff grows
        await new Promise(r => setTimeout(r, 50));
        const s2 = sockets[2];
        s2.open();
        return { beforeOpen, s0: s0.sent, s2: s2.sent, stateAfterDrop, state: tn.state, log,
                 subs: tn.subscriptions, n: sockets.length };
    }""")
    assert got["beforeOpen"] == 0
    assert got["s0"] == [
        {"action": "subscribe", "task_id": "a"}, {"action": "subscribe", "task_id": "b"},
        {"action": "unsubscribe", "task_id": "b"}, {"action": "subscribe", "task_id": "c"},
    ]
    assert got["s2"] == [{"action": "subscribe", "task_id": "a"}, {"action": "subscribe", "task_id": "c"}]
    assert got["subs"] == ["a", "c"] and got["n"] == 3
    assert got["stateAfterDrop"] == "reconnecting" and got["state"] == "open"
    kinds = [(k, d.get("attempt"), d.get("delay"), d.get("code")) for k, d in got["log"]]
    # random()=0.5 → delay = 3/4 of the ceiling: 10 ms, then 20 ms; a successful open resets it.
    assert kinds == [
        ("open", None, None, None),
        ("close", None, None, 1006), ("reconnecting", 1, 8, None),
        ("close", None, None, 1006), ("reconnecting", 2, 15, None),
        ("open", None, None, None),
    ]


def test_online_event_reconnects_at_once(js):
    got = js.evaluate("""async () => {
        const tn = TaskNotifications.create({ WebSocket: FakeWS, minDelay: 60000, maxDelay: 60000 });
        tn.connect();
        sockets[0].open();
        sockets[0].drop(1006);                 // next attempt in 30–60 s...
        const before = sockets.length;
        window.dispatchEvent(new Event("online"));   // ...unless the network comes back
        const after = sockets.length;
        tn.disconnect();
        return [before, after];
    }""")
    assert got == [1, 2]


def test_backoff_bounds(js):
    delays = js.evaluate("""() => {
        const lo = TaskNotifications.create({ random: () => 0 }), hi = TaskNotifications.create({ random: () => 0.999999 });
        return [0, 1, 2, 3, 4, 5, 6, 7, 10, 30].map(n => [lo.backoff(n), hi.backoff(n)]);
    }""")
    ceilings = [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]
    for (lo, hi), c in zip(delays, ceilings):
        assert lo == c // 2 and hi == c, (lo, hi, c)


def test_frames_handlers_and_disconnect(js):
    got = js.evaluate("""async () => {
        const seen = [];
        const tn = TaskNotifications.create({ WebSocket: FakeWS, minDelay: 5 });
        const onUpdate = d => seen.push(["update", d.progress]);
        tn.on("task_update", onUpdate);
        tn.on("task_update", () => { throw new Error("a failing handler"); });
        tn.on("message", d => seen.push(["message", d.type]));
        tn.on("task_complete", function (d) { seen.push(["complete", this === tn, d.result]); });
        tn.connect();
        const s = sockets[0];
        s.open();
        s.frame({ type: "task_update", task_id: "t", progress: 25 });
        s.frame("not json");
        s.frame({ no_type: true });
        tn.off("task_update", onUpdate);
        s.frame({ type: "task_update", task_id: "t", progress: 50 });
        s.frame({ type: "task_complete", task_id: "t", result: { ok: 1 } });
        tn.disconnect();
        await new Promise(r => setTimeout(r, 40));
        return { seen, closedWith: s.closedWith, state: tn.state, sockets: sockets.length };
    }""")
    assert got["seen"] == [
        ["update", 25], ["message", "task_update"], ["message", None],
        ["message", "task_update"], ["complete", True, {"ok": 1}], ["message", "task_complete"],
    ]
    assert got["closedWith"] == 1000 and got["state"] == "closed"
    assert got["sockets"] == 1, "reconnected after disconnect()"


def test_module_wrapper_exports(js):
    with open(os.path.join(CLIENT_DIR, "task-notifications.mjs")) as f:
        src = f.read()
    assert 'import "./task-notifications.js";' in src
    assert "export default taskNotifications;" in src and "export const create" in src
