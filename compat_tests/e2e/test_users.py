"""user_<id> groups, direct sends to a socket's channel name, several sockets of one user."""

from __future__ import annotations

import time

from .helpers import browser, differential, frame, members, open_tracked, subscribe, unique, wait_until


def _user_events(count: int) -> list[str]:
    out = []
    for seq in range(count):
        out += [
            frame({"type": "user.message", "text": "Hello from the shell", "sender": "admin", "seq": seq}),
            frame({"type": "user.notification", "title": "Report ready", "level": "info", "unread": 3, "seq": seq}),
            frame({"type": "user.file", "filename": "informe-año.pdf", "url": "/media/r.pdf", "size": 12345,
                   "seq": seq}),
        ]
    return out


def test_user_group_messages(request, target, transcripts):
    """`send_user_events --user-id N`: user.message/notification/file reach the user's socket in order."""

    def run(t):
        b = browser(t, "bob")
        s, _ = open_tracked(t.stack, b)
        with s:
            t.stack.manage("send_user_events", "--user-id", str(b.user_id), "--count", "2")
            frames = [s.recv() for _ in range(6)]
        assert frames == _user_events(2)
        return frames

    differential(request, transcripts, "user-group", target, run)


def test_direct_send_to_socket_channel(request, target, transcripts):
    """channel_layer.send(<the socket's channel name>, ...) from Python reaches exactly that socket.

    The channel name is read from Redis (ZRANGE asgi:group:user_<id>) after connect.
    """

    def run(t):
        b = browser(t)
        s1, c1 = open_tracked(t.stack, b)
        s2, c2 = open_tracked(t.stack, b)
        with s1, s2:
            assert c1 != c2 and c1.startswith("specific.") and "!" in c1
            t.stack.manage("send_user_events", "--channel", c2, "--count", "2")
            got2 = [s2.recv() for _ in range(2)]
            # s1 must not have received the direct messages: the next thing it sees is its own direct send.
            t.stack.manage("send_user_events", "--channel", c1)
            got1 = s1.recv()
        assert got2 == [frame({"type": "user.message", "text": "direct to your socket", "seq": i}) for i in (0, 1)]
        assert got1 == frame({"type": "user.message", "text": "direct to your socket", "seq": 0})
        return got2 + [got1]

    differential(request, transcripts, "direct-send", target, run)


def test_two_sockets_of_one_user(request, target, transcripts):
    """Both sockets of a user get user_<id> events; a task subscription is per socket; closing one
    socket removes only its memberships."""

    def run(t):
        b = browser(t)
        task_id = unique("two")
        s1, c1 = open_tracked(t.stack, b)
        s2, c2 = open_tracked(t.stack, b)
        with s2:
            with s1:
                subscribe(t.stack, s1, c1, task_id)
                t.stack.manage("send_user_events", "--user-id", str(b.user_id))
                f1 = [s1.recv() for _ in range(3)]
                f2 = [s2.recv() for _ in range(3)]
                t.stack.manage("send_user_events", "--group", f"task_{task_id}")
                task1 = s1.recv()
                t.stack.manage("send_user_events", "--channel", c2)
                marker2 = s2.recv()  # s2 is not subscribed: the direct send is its next frame
            wait_until(lambda: c1 not in members(t.stack, f"user_{b.user_id}") and
                       c1 not in members(t.stack, f"task_{task_id}"), what="memberships discarded on close")
            assert c2 in members(t.stack, f"user_{b.user_id}")
        assert f1 == f2 == _user_events(1)
        assert marker2 == frame({"type": "user.message", "text": "direct to your socket", "seq": 0})
        return f1 + f2 + [task1.replace(task_id, "<TASK>"), marker2]

    differential(request, transcripts, "two-sockets", target, run)


def test_idle_socket_survives_and_still_receives(request, target, transcripts):
    """A socket idle for 7 s (longer than channels_redis' 5 s BZPOPMIN block) stays open and receives.

    Guards the redis-py 8 socket_timeout problem (django/channels_redis#422, docs/compat-e2e.md): with
    DJANGO_REDIS_SOCKET_TIMEOUT=default, Daphne closes such a socket with 1011.
    """

    def run(t):
        b = browser(t)
        s, channel = open_tracked(t.stack, b)
        with s:
            time.sleep(7)
            t.stack.manage("send_user_events", "--channel", channel)
            got = s.recv()
        assert got == frame({"type": "user.message", "text": "direct to your socket", "seq": 0})
        return [got]

    differential(request, transcripts, "idle", target, run)
