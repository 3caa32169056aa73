"""The seed's end-to-end scenario with CHANNEL_LAYERS BACKEND
"channels_redis.pubsub.RedisPubSubChannelLayer", against laurel and, for
comparison, Daphne.

The reference project (compat_tests/djproject) hard-codes the core backend and
has no switch for it, so this module runs a compact stack of its own: a
settings module generated into a temp dir that imports djproject.settings and
only replaces CHANNEL_LAYERS["default"]["BACKEND"]; a fresh redis-server;
migrate + test users; a real Celery worker; Daphne; and `laurel serve`
configured from the same settings (manage.py laurel_settings → TOML, so laurel
picks PubSubLayer from BACKEND) with --upstream to Daphne for the HTTP pages.

The pub/sub layer keeps no group keys in Redis, so the scenario observes the
layer with PUBSUB instead of ZRANGE: a socket's channel is the new
"asgispecific.<hex>" in PUBSUB CHANNELS, and a subscribe action has taken
effect when PUBSUB NUMSUB "asgi__group__task_<id>" counts a subscriber. The
layer's limits hold for both servers: membership is process-local and
delivery at most once, which is why the scenario waits for the subscription
before the worker publishes.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile

import pytest

from harness.racelog import check_logs
from harness.servers import free_port, start_redis, wait_port

from .client import USERS
from .conftest import BIN, DJPROJECT, Stack, Target, _start_laurel, _wait_log
from .helpers import browser, frame, open_ok, unique, wait_until

PUBSUB = "channels_redis.pubsub.RedisPubSubChannelLayer"

SETTINGS = f'''"""djproject.settings with the pub/sub channel layer (written by test_pubsub_backend.py)."""
from djproject.settings import *  # noqa: F401,F403
from djproject.settings import CHANNEL_LAYERS

CHANNEL_LAYERS["default"]["BACKEND"] = {PUBSUB!r}
'''


@pytest.fixture(scope="module")
def ps_stack(go_build):
    d = tempfile.mkdtemp(prefix="laurel-e2e-pubsub-")
    with open(os.path.join(d, "pubsub_settings.py"), "w") as f:
        f.write(SETTINGS)
    r = start_redis()
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="pubsub_settings",
        DJANGO_REDIS_URL=f"redis://127.0.0.1:{r.port}",
        DJANGO_DB_PATH=os.path.join(d, "db.sqlite3"),
        PYTHONPATH=d + os.pathsep + DJPROJECT,
        PYTHONUNBUFFERED="1",
        PATH=BIN + os.pathsep + env.get("PATH", ""),
    )
    for k in ("DJANGO_DATABASE_URL", "DJANGO_SESSION_ENGINE", "DJANGO_DEBUG", "DJANGO_ALLOWED_HOSTS"):
        env.pop(k, None)
    s = Stack(dir=d, redis=r, env=env, user_ids={})
    try:
        settings = json.loads(s.manage("laurel_settings"))
        assert settings["CHANNEL_LAYERS"]["default"]["BACKEND"] == PUBSUB
        s.manage("migrate", "-v0")
        for name, pw in USERS.items():
            s.user_ids[name] = int(s.manage("createtestuser", name, pw).strip())
        celery = s.start("celery", [
            os.path.join(BIN, "celery"), "-A", "djproject", "worker", "--pool=solo", "--loglevel=INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", "e2e-pubsub@%h",
        ])
        s.daphne_port = free_port()
        s.start("daphne", [
            os.path.join(BIN, "daphne"), "-b", "127.0.0.1", "-p", str(s.daphne_port), "djproject.asgi:application",
        ])
        wait_port(s.daphne_port, timeout=30)
        _wait_log(celery, " ready.", 60)
        s.laurel_port, s.laurel_error = _start_laurel(s, go_build)
        yield s
    finally:
        for p in reversed(list(s.procs.values())):
            p.stop()
        r.stop()
        try:
            # The pub/sub stack's laurel runs built with -race: a race report fails its teardown.
            check_logs(p.race for p in s.procs.values())
        finally:
            if os.environ.get("LAUREL_E2E_KEEP") != "1":
                shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def ps_targets(ps_stack):
    if ps_stack.laurel_error:
        pytest.fail(ps_stack.laurel_error, pytrace=False)
    return {
        "laurel": Target("laurel", f"http://127.0.0.1:{ps_stack.laurel_port}", ps_stack),
        "daphne": Target("daphne", f"http://127.0.0.1:{ps_stack.daphne_port}", ps_stack),
    }


def specific_channels(stack) -> set[str]:
    return {c.decode() for c in stack.layer_redis().pubsub_channels("asgispecific.*")}


def numsub(stack, name: str) -> int:
    return dict(stack.layer_redis().pubsub_numsub(name)).get(name.encode(), 0)


def open_pubsub(stack, b):
    """Open /ws/tasks/ and return (socket, its channel): the new asgispecific.<hex> subscription."""
    before = specific_channels(stack)
    s = open_ok(b)
    new = wait_until(lambda: specific_channels(stack) - before, what="the socket's SUBSCRIBE")
    assert len(new) == 1, new
    return s, new.pop()


def subscribe_task(stack, s, task_id: str) -> None:
    s.send_json({"action": "subscribe", "task_id": task_id})
    wait_until(lambda: numsub(stack, f"asgi__group__task_{task_id}") >= 1, what=f"SUBSCRIBE asgi__group__task_{task_id}")


def scenario(t: Target, steps: int = 3) -> list[str]:
    """login → connect → POST starts the seed's Celery task → subscribe → the worker's frames, in
    order; then a direct send to the socket's channel and a user_<id> event. Returns the frames
    with per-run values replaced."""
    stack = t.stack
    b = browser(t)
    s, channel = open_pubsub(stack, b)
    assert channel.startswith("asgispecific.") and "!" not in channel
    with s:
        r = b.post("/api/tasks/start/", {"steps": steps, "countdown": 2})
        assert r.status_code == 200, r.text[:300]
        task_id = r.json()["task_id"]
        subscribe_task(stack, s, task_id)
        frames = [s.recv(timeout=30) for _ in range(steps + 1)]
        stack.manage("send_user_events", "--channel", channel)
        frames.append(s.recv(timeout=15))
        stack.manage("send_user_events", "--user-id", str(b.user_id))
        frames += [s.recv(timeout=15) for _ in range(3)]
    expected = [
        frame({"type": "task.update", "task_id": task_id, "status": "processing",
               "message": f"Processing step {i}...", "progress": i * 100 // (steps + 1)})
        for i in range(1, steps + 1)
    ] + [frame({"type": "task.complete", "task_id": task_id, "status": "completed",
                "message": "All done!", "result": {"some": "data"}}),
         frame({"type": "user.message", "text": "direct to your socket", "seq": 0})]
    assert frames[:len(expected)] == expected, stack.logs()
    assert [json.loads(f)["type"] for f in frames[len(expected):]] == ["user_message", "user_notification", "user_file"]
    return [f.replace(task_id, "<TASK>") for f in frames]


def test_laurel_serves_the_seed_with_pubsub(ps_targets):
    laurel = ps_targets["laurel"]
    got = scenario(laurel)
    # The pub/sub layer stores nothing: no core-layer group keys may appear.
    assert not laurel.stack.layer_redis().keys("asgi:group:*"), "core-layer group keys appeared"
    for p in laurel.stack.procs.values():
        p.check_alive()
    assert json.loads(got[-5])["type"] == "task_complete"


def test_same_frames_as_daphne(ps_targets):
    """The same scenario through Daphne (Channels + real RedisPubSubChannelLayer) shows the client
    the same bytes, placeholders aside."""
    laurel = scenario(ps_targets["laurel"])
    daphne = scenario(ps_targets["daphne"])
    assert laurel == daphne


def test_unsubscribe_last_member_unsubscribes_laurel(ps_targets):
    """Group membership is process-local: when the last laurel socket leaves task_<id>, laurel
    UNSUBSCRIBEs, and later events for that task do not reach the socket."""
    t = ps_targets["laurel"]
    stack = t.stack
    b = browser(t)
    task_id = unique("ps-unsub")
    s, channel = open_pubsub(stack, b)
    with s:
        subscribe_task(stack, s, task_id)
        s.send_json({"action": "unsubscribe", "task_id": task_id})
        wait_until(lambda: numsub(stack, f"asgi__group__task_{task_id}") == 0, what="UNSUBSCRIBE")
        stack.manage("send_user_events", "--group", f"task_{task_id}", "--count", "2")
        stack.manage("send_user_events", "--channel", channel)
        assert json.loads(s.recv(timeout=15)) == {"type": "user_message", "text": "direct to your socket", "seq": 0}


@pytest.mark.parametrize("server", ["daphne", "laurel"])
def test_closed_socket_unsubscribes_its_channel(ps_targets, server):
    """Daphne: Channels cancels the consumer's receive() on disconnect and channels_redis
    unsubscribes the channel. laurel: the consumer calls PubSubLayer.ReleaseChannel when a
    socket ends (consumer.ChannelReleaser), which unsubscribes it, so closed sockets leave no
    subscription behind on either server."""
    t = ps_targets[server]
    stack = t.stack
    s, channel = open_pubsub(stack, browser(t))
    s.close()
    wait_until(lambda: numsub(stack, channel) == 0, timeout=10, what=f"UNSUBSCRIBE {channel}")
