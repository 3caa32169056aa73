"""The seed's task notifications end to end: Celery worker and management command → socket frames."""

from __future__ import annotations

import json

import pytest

from .helpers import browser, differential, frame, open_tracked, subscribe, unique, unsubscribe


def test_celery_task_progress_and_completion(request, target, transcripts):
    """login → connect → POST starts the seed task → subscribe → a real Celery worker's frames, in order."""
    steps = 3

    def run(t):
        b = browser(t)
        s, channel = open_tracked(t.stack, b)
        with s:
            r = b.post("/api/tasks/start/", {"steps": steps, "countdown": 2})
            assert r.status_code == 200, r.text[:300]
            task_id = r.json()["task_id"]
            subscribe(t.stack, s, channel, task_id)
            frames = [s.recv(timeout=30) for _ in range(steps + 1)]
        expected = [
            frame({"type": "task.update", "task_id": task_id, "status": "processing",
                   "message": f"Processing step {i}...", "progress": i * 100 // (steps + 1)})
            for i in range(1, steps + 1)
        ] + [frame({"type": "task.complete", "task_id": task_id, "status": "completed",
                    "message": "All done!", "result": {"some": "data"}})]
        assert frames == expected, t.stack.logs()
        return [f.replace(task_id, "<TASK>") for f in frames]

    got = differential(request, transcripts, "celery", target, run)
    assert json.loads(got[-1])["type"] == "task_complete"


@pytest.mark.parametrize("error", [False, True], ids=["complete", "error"])
def test_management_command_path(request, target, transcripts, error):
    """`manage.py send_task_events` (the seed's unchanged group_send code) reaches a subscribed socket."""

    def run(t):
        b = browser(t)
        task_id = unique("cli")
        s, channel = open_tracked(t.stack, b)
        with s:
            subscribe(t.stack, s, channel, task_id)
            t.stack.manage("send_task_events", task_id, "--steps", "2", *(["--error"] if error else []))
            frames = [s.recv(timeout=15) for _ in range(3)]
        upd = [frame({"type": "task.update", "task_id": task_id, "status": "processing",
                      "message": "Processing 1500 records...", "progress": 45 + i, "data": {}}) for i in (1, 2)]
        last = (frame({"type": "task.error", "task_id": task_id, "error": "Database connection failed",
                       "message": "An error occurred"}) if error else
                frame({"type": "task.complete", "task_id": task_id, "status": "completed",
                       "message": "Completed: 1500 created, 0 updated",
                       "result": {"created": 1500, "updated": 0, "errors": 0}}))
        assert frames == upd + [last]
        return [f.replace(task_id, "<TASK>") for f in frames]

    differential(request, transcripts, f"cli-{error}", target, run)


def test_unsubscribe_stops_delivery(request, target, transcripts):
    """After unsubscribe, task events no longer arrive: a later user.message is the very next frame."""

    def run(t):
        b = browser(t)
        task_id = unique("unsub")
        s, channel = open_tracked(t.stack, b)
        with s:
            subscribe(t.stack, s, channel, task_id)
            t.stack.manage("send_user_events", "--group", f"task_{task_id}", "--count", "1")
            first = s.recv()
            unsubscribe(t.stack, s, channel, task_id)
            t.stack.manage("send_user_events", "--group", f"task_{task_id}", "--count", "2")
            t.stack.manage("send_user_events", "--channel", channel)
            marker = s.recv()
        assert json.loads(first) == {"type": "task_update", "task_id": f"task_{task_id}",
                                     "status": "processing", "seq": 0}
        assert marker == frame({"type": "user.message", "text": "direct to your socket", "seq": 0})
        return [first.replace(task_id, "<TASK>"), marker]

    differential(request, transcripts, "unsubscribe", target, run)
