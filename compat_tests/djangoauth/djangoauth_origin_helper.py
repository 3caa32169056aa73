"""Runs Channels' own AllowedHostsOriginValidator (channels/security/websocket.py) on ASGI
WebSocket scopes, for the origin cases of test_djangoauth_origin.py.

stdin: one JSON object {"workdir": ..., "cases": [{"name", "origin": [...], "allowed_hosts": [...],
"debug": bool}]}. stdout: one JSON object {"versions": {...}, "settings": {...},
"results": {name: {"allowed": bool, "error": str|null}}}.

Each case builds the validator inside override_settings(ALLOWED_HOSTS=..., DEBUG=...) (the
validator reads both once, at construction, as in a real asgi.py), then drives it like an ASGI
server: a websocket scope whose headers carry one b"origin" entry per value, in order, encoded
latin-1; receive() yields websocket.connect then websocket.disconnect. The case is allowed when
the inner application is reached, denied when WebsocketDenier closes the socket; an exception
(e.g. urlparse().port raising ValueError for :99999) fails the handshake, i.e. the socket is not
accepted, and is reported as allowed=False with the error.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import djangoauth_pyshim  # noqa: E402

PYSHIM = djangoauth_pyshim.install()

PROTO_OUT = sys.stdout
sys.stdout = sys.stderr


def evaluate(case: dict) -> dict:
    from channels.security.websocket import AllowedHostsOriginValidator
    from django.test import override_settings

    reached = []
    sent = []

    async def inner(scope, receive, send):
        reached.append(True)

    async def receive():
        if not sent and not reached:
            return {"type": "websocket.connect"}
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "websocket",
        "path": "/ws/",
        "headers": [(b"origin", o.encode("latin-1")) for o in case["origin"]]
        + [(b"host", b"example.com")],
    }
    with override_settings(ALLOWED_HOSTS=case["allowed_hosts"], DEBUG=case["debug"]):
        app = AllowedHostsOriginValidator(inner)
    try:
        asyncio.run(app(scope, receive, send))
    except Exception as e:  # noqa: BLE001 - an exception fails the handshake
        return {"allowed": False, "error": f"{type(e).__name__}: {e}"}
    if reached:
        return {"allowed": True, "error": None}
    if not any(m.get("type") == "websocket.close" for m in sent):
        raise AssertionError(f"validator neither passed nor closed: {sent!r}")
    return {"allowed": False, "error": None}


def main() -> None:
    msg = json.loads(sys.stdin.read())
    import django
    from django.conf import settings

    db = os.path.join(msg["workdir"], "origin.sqlite3")
    settings.configure(
        DEBUG=False,
        SECRET_KEY="laurel-compat-origin-secret-key-0123456789abcdef",
        ALLOWED_HOSTS=[],
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth",
                        "django.contrib.sessions"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": db}},
        SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
        USE_TZ=True,
        TIME_ZONE="UTC",
        LOGGING_CONFIG=None,
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    import importlib.metadata as md

    from djangoauth_cases import EXPORTED_SETTINGS

    exported = json.loads(json.dumps({k: getattr(settings, k) for k in EXPORTED_SETTINGS},
                                     default=str))
    versions = {"django": django.get_version(), "channels": md.version("channels"),
                "python": platform.python_version()}
    if PYSHIM:
        versions["note"] = "Django >= 6 on Python < 3.12 via djangoauth_pyshim"
    results = {c["name"]: evaluate(c) for c in msg["cases"]}
    PROTO_OUT.write(json.dumps({"versions": versions, "settings": exported, "results": results}))
    PROTO_OUT.flush()


if __name__ == "__main__":
    main()
