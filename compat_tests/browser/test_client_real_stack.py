"""The browser client (as an ES module) in headless Chromium against the real stack: Django behind
laurel (--upstream Daphne), a real Celery worker running the seed's task through channels_redis.

The page logs in with Django's own form, subscribes to a task it starts through Django, and shows the
progress; then laurel is killed (SIGKILL, no close frame) while the next task is still pending in
Celery and started again on the same port: the client reconnects with backoff, re-subscribes, and
still receives that task's progress and completion.

The client files are served to the page as a Django project serves them once copied into its static
files (here by the browser's request routing, since the e2e project has no static files configured).
"""

from __future__ import annotations

import os

import pytest

from e2e.client import USERS
from e2e.conftest import _tail
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from .conftest import CLIENT_DIR

pytestmark = pytest.mark.slow

# The page's script, added as a module to a document Django served through laurel (a page fulfilled
# by the test itself would count as a public-network page for Chromium's local network access checks).
SCRIPT = """
  import taskNotifications, { create } from "/static/laurel/task-notifications.mjs";
  // The default export is the shared instance the classic script also defines.
  if (taskNotifications !== window.taskNotifications) { throw new Error("module and global differ"); }
  const tn = create({ minDelay: 200, maxDelay: 2000 });
  window.events = [];
  for (const t of ["open", "close", "reconnecting", "task_update", "task_complete", "task_error", "error"]) {
    tn.on(t, d => window.events.push({ kind: t, data: d }));
  }
  window.tn = tn;
  window.startTask = async (steps, countdown) => {
    const csrf = document.cookie.split("; ").find(c => c.startsWith("csrftoken=")).split("=")[1];
    const body = new URLSearchParams({ steps: String(steps), countdown: String(countdown) });
    const r = await fetch("/api/tasks/start/", { method: "POST", body, headers: { "X-CSRFToken": csrf } });
    if (!r.ok) { throw new Error("start: HTTP " + r.status); }
    const { task_id } = await r.json();
    tn.subscribe(task_id);
    return task_id;
  };
  tn.connect();
"""


def serve_client_files(page, base_url: str) -> None:
    def static(route):
        name = route.request.url.rsplit("/", 1)[1]
        with open(os.path.join(CLIENT_DIR, name), "rb") as f:
            route.fulfill(status=200, body=f.read(), headers={"Content-Type": "text/javascript"})

    page.route(base_url + "/static/laurel/*", static)


def events(page, kind: str, task_id: str | None = None) -> list:
    return page.evaluate(
        "([k, id]) => window.events.filter(e => e.kind === k && (id === null || e.data.task_id === id))"
        ".map(e => e.data)", [kind, task_id])


def wait_events(page, kind: str, n: int, task_id: str | None = None, timeout: float = 30000) -> list:
    try:
        page.wait_for_function(
            "([k, n, id]) => (window.events || []).filter(e => e.kind === k && (id === null || e.data.task_id === id))"
            ".length >= n", arg=[kind, n, task_id], timeout=timeout)
    except PlaywrightTimeout:
        seen = page.evaluate("window.events || null")
        raise AssertionError(f"no {n} {kind!r} events for {task_id}; events: {seen}; page errors: {page.errors}; "
                             f"laurel log:\n{_tail(page.laurel_log)}") from None
    return events(page, kind, task_id)


def test_client_survives_laurel_restart(laurel_server, page):
    base = laurel_server.base_url
    page.laurel_log = laurel_server.log
    serve_client_files(page, base)

    # Django's login form, through laurel's upstream proxy to Daphne.
    page.goto(base + "/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", USERS["alice"])
    with page.expect_response(base + "/login/") as resp:
        page.click("button")
    assert resp.value.status == 200 and resp.value.json()["ok"] is True

    page.goto(base + "/login/")  # any page Django serves will do
    page.add_script_tag(type="module", content=SCRIPT)
    wait_events(page, "open", 1)
    assert page.evaluate("window.tn.state") == "open"

    # Live progress from a real Celery task.
    first = page.evaluate("window.startTask(3, 2)")
    done = wait_events(page, "task_complete", 1, first)
    updates = events(page, "task_update", first)
    assert [u["progress"] for u in updates] == [25, 50, 75]
    assert done[0] == {"type": "task_complete", "task_id": first, "status": "completed",
                       "message": "All done!", "result": {"some": "data"}}

    # A second task, pending in Celery for a while; laurel crashes and comes back meanwhile.
    second = page.evaluate("window.startTask(3, 10)")
    page.wait_for_function("window.tn.subscriptions.length === 2")
    laurel_server.kill()
    closes = wait_events(page, "close", 1, timeout=10000)
    assert closes[0]["code"] == 1006, closes
    wait_events(page, "reconnecting", 1, timeout=10000)
    laurel_server.start()
    wait_events(page, "open", 2, timeout=15000)
    assert events(page, "task_update", second) == [], "the task ran before laurel came back; countdown too short"

    done = wait_events(page, "task_complete", 1, second, timeout=40000)
    assert done[0]["task_id"] == second
    assert [u["progress"] for u in events(page, "task_update", second)] == [25, 50, 75]
    # The first task's group was re-joined too (the client replays every subscription).
    assert page.evaluate("window.tn.subscriptions") == [first, second]
    assert events(page, "error") == []
    # Chromium logs each refused reconnect attempt while laurel is down; nothing else may appear.
    unexpected = [e for e in page.errors if "ERR_CONNECTION_REFUSED" not in e]
    assert unexpected == []
