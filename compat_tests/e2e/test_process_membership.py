"""laurel with --group-membership process, against the real stack.

In that mode a group holds one member per laurel process (not per socket) and laurel fans each message
out to its subscribers. The seed's unchanged Python (manage.py send_task_events, the Celery task: both
async_to_sync(channel_layer.group_send)) must reach every subscribed socket with the frames Daphne's
consumer sends — so a Daphne socket subscribed to the same group is the reference, frame for frame.
"""

from __future__ import annotations

import re

import requests

from .helpers import browser, frame, members, open_ok, open_tracked, subscribe, unique, wait_until

SOCKETS = 40


def _ok_actions(t) -> float:
    """laurel_client_actions_total{result="ok"} from the target's /metrics."""
    body = requests.get(t.base_url + "/metrics", timeout=5).text
    m = re.search(r'^laurel_client_actions_total\{result="ok"\} (\S+)$', body, re.M)
    return float(m.group(1)) if m else 0.0


def _subscribe_all(t, socks, task_id: str) -> None:
    """Subscribe every socket and wait until laurel has handled each action (the seed has no ack)."""
    before = _ok_actions(t)
    for s in socks:
        s.send_json({"action": "subscribe", "task_id": task_id})
    wait_until(lambda: _ok_actions(t) >= before + len(socks), 30, f"{len(socks)} subscribe actions handled")


def test_one_member_per_process_same_frames_as_daphne(laurel_process, daphne):
    lp, stack = laurel_process, laurel_process.stack
    b = browser(lp)
    task_id = unique("pm")
    group = f"task_{task_id}"
    before = members(stack, f"user_{b.user_id}")
    socks = [open_ok(b) for _ in range(SOCKETS)]
    try:
        # Connect groups too: the user's 40 sockets add one member to user_<id>.
        new = wait_until(lambda: members(stack, f"user_{b.user_id}") - before, what="laurel's user_<id> member")
        assert len(new) == 1, f"{SOCKETS} sockets of one user added {len(new)} members to user_<id>: {new}"
        _subscribe_all(lp, socks, task_id)
        laurel_member = members(stack, group)
        assert len(laurel_member) == 1, f"{SOCKETS} subscribed sockets made {len(laurel_member)} members"

        # The reference: a socket on Daphne in the same group, with its own channel as member.
        db = browser(daphne)
        ds, dch = open_tracked(stack, db)
        with ds:
            subscribe(stack, ds, dch, task_id)
            assert members(stack, group) == laurel_member | {dch}

            # The seed's unchanged management command: async_to_sync(channel_layer.group_send).
            stack.manage("send_task_events", task_id, "--steps", "2")
            want = [ds.recv(timeout=15) for _ in range(3)]
            assert want[0] == frame({"type": "task.update", "task_id": task_id, "status": "processing",
                                     "message": "Processing 1500 records...", "progress": 46, "data": {}})
            for i, s in enumerate(socks):
                got = [s.recv(timeout=15) for _ in range(3)]
                assert got == want, f"socket {i}: {got} != Daphne's {want}"

            # A real Celery task started through the project's view reaches them too.
            r = b.post("/api/tasks/start/", {"steps": 2, "countdown": 1})
            assert r.status_code == 200, r.text[:300]
            celery_task = r.json()["task_id"]
            _subscribe_all(lp, socks[:5], celery_task)
            frames = [[s.recv(timeout=30) for _ in range(3)] for s in socks[:5]]
            assert all(f == frames[0] for f in frames), frames
            assert '"type": "task_complete"' in frames[0][-1], frames[0]

        # Half the sockets leave: the member stays; the last one out takes it away.
        for s in socks[: SOCKETS // 2]:
            s.close()
        wait_until(lambda: members(stack, group) == laurel_member, 15, "Daphne's member gone, laurel's kept")
        for s in socks[SOCKETS // 2:]:
            s.close()
        wait_until(lambda: not members(stack, group), 15, f"{group} empty after every socket closed")
        wait_until(lambda: members(stack, f"user_{b.user_id}") == before, 15, "user_<id> member discarded")
    finally:
        for s in socks:
            s.close()
    for p in stack.procs.values():
        p.check_alive()
        p.check_no_race()
