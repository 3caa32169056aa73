"""The handshake decision with Django's other session engines and with PostgreSQL.

For each variant a Daphne and a laurel (in front of it, --upstream) are started on the session's
Redis, with the project's settings under DJANGO_SESSION_ENGINE=<engine> and, for db-postgres,
DJANGO_DATABASE_URL on a fresh database of the real PostgreSQL from the `postgres_server` fixture;
laurel's TOML comes from the same settings. Sessions are created by Django's login view, through the
target.
"""

from __future__ import annotations

import json
import os
import uuid

import pytest
import requests

from harness.racelog import check_logs
from harness.servers import free_port, wait_port

from .client import USERS, Browser, Socket
from .conftest import BIN, TARGETS, Stack, Target, to_toml
from .helpers import browser, frame, open_tracked, refusal, wait_until

# Variants: id → (SESSION_ENGINE, whether the database is a fresh PostgreSQL instead of the SQLite file)
VARIANTS = {
    "cache": ("django.contrib.sessions.backends.cache", False),
    "cached_db": ("django.contrib.sessions.backends.cached_db", False),
    "signed_cookies": ("django.contrib.sessions.backends.signed_cookies", False),
    "db-postgres": ("django.contrib.sessions.backends.db", True),
}
ACCESS_DENIED = ("refused", 403, "Access denied", b"")


@pytest.fixture(scope="module", params=list(VARIANTS))
def engine_targets(request, stack):
    name = request.param
    engine, postgres = VARIANTS[name]
    sub = Stack(dir=stack.dir, redis=stack.redis, env=dict(stack.env, DJANGO_SESSION_ENGINE=engine),
                user_ids={})
    if postgres:
        sub.env["DJANGO_DATABASE_URL"] = request.getfixturevalue("postgres_server").createdb(f"laurel_e2e_{uuid.uuid4().hex[:8]}")
        sub.manage("migrate", "-v0")
        for user, pw in USERS.items():
            sub.manage("createtestuser", user, pw)
    try:
        dport = free_port()
        d = sub.start(f"daphne-{name}", [
            os.path.join(BIN, "daphne"), "-b", "127.0.0.1", "-p", str(dport), "djproject.asgi:application",
        ])
        wait_port(dport, timeout=30)
        d.check_alive()
        targets = {"daphne": Target("daphne", f"http://127.0.0.1:{dport}", sub)}
        if "laurel" in TARGETS:
            request.getfixturevalue("laurel")  # builds laurel (fails the test if it does not build)
            binary = request.getfixturevalue("go_build")("./cmd/laurel")
            cfg = os.path.join(stack.dir, f"laurel-{name}.toml")
            with open(cfg, "w") as f:
                f.write(to_toml(json.loads(sub.manage("laurel_settings"))))
            lport = free_port()
            p = sub.start(f"laurel-{name}", [
                binary, "serve", "--config", cfg, "-b", "127.0.0.1", "-p", str(lport),
                "--upstream", f"http://127.0.0.1:{dport}",
            ], cwd=stack.dir)

            def ready():
                p.check_alive()
                try:
                    return requests.get(f"http://127.0.0.1:{lport}/readyz", timeout=2).status_code == 200
                except requests.RequestException:
                    return False

            wait_until(ready, 30, f"laurel with {engine} ready")
            targets["laurel"] = Target("laurel", f"http://127.0.0.1:{lport}", sub)
        yield targets
    finally:
        for p in reversed(list(sub.procs.values())):
            p.stop()
        # This engine's laurel runs built with -race: a race report fails its teardown.
        check_logs(p.race for p in sub.procs.values())


def test_login_connect_deliver_logout(engine_targets, target):
    """Logged in → 101 and a direct send arrives; anonymous → 403; after logout the old cookie is
    refused — except with signed_cookies, where Django itself still accepts it (the cookie carries
    the session; logout cannot revoke it) and laurel must decide the same."""
    t = engine_targets[target.name]
    engine = t.stack.env["DJANGO_SESSION_ENGINE"]
    b = browser(t)
    cookie = b.cookie_header
    s, channel = open_tracked(t.stack, b)
    with s:
        t.stack.manage("send_user_events", "--channel", channel)
        assert s.recv() == frame({"type": "user.message", "text": "direct to your socket", "seq": 0})
    assert refusal(Browser(t.base_url).open(cookie=None)) == ACCESS_DENIED
    b.logout()
    if engine.endswith("signed_cookies"):
        s = b.open(cookie=cookie)
        assert isinstance(s, Socket), f"Django accepts a signed_cookies session after logout; got {s}"
        s.close()
        return

    def refused():
        r = b.open(cookie=cookie)
        if isinstance(r, Socket):  # laurel's verdict cache (D4): refused once the TTL has passed
            assert t.name == "laurel", "Daphne accepted a logged-out session"
            r.close()
            return False
        return refusal(r) == ACCESS_DENIED

    wait_until(refused, 3.0, "the logged-out cookie refused")
