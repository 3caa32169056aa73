"""Everything Daphne served keeps working: Django's HTTP views and a consumer laurel does not implement.

Against laurel these go through `--upstream` (reverse proxy for HTTP, raw tunnel for /ws/echo/).
"""

from __future__ import annotations

import re

import requests

from .client import Browser
from .helpers import browser, differential, open_ok


def test_django_views_over_http(request, target, transcripts):
    """Login form (with CSRF), session kept across requests, the POST that starts the Celery task."""

    def run(t):
        form = requests.get(f"{t.base_url}/login/", timeout=10)
        assert form.status_code == 200 and 'name="csrfmiddlewaretoken"' in form.text
        assert "csrftoken" in form.cookies
        anon = Browser(t.base_url)
        assert anon.http.get(f"{t.base_url}/api/whoami/", timeout=10).json() == {"authenticated": False}
        b = browser(t)
        me = b.http.get(f"{t.base_url}/api/whoami/", timeout=10).json()
        assert me == {"authenticated": True, "user_id": b.user_id, "username": "alice"}
        no_csrf = b.http.post(f"{t.base_url}/api/tasks/start/", data={"steps": 1}, timeout=10)
        started = b.post("/api/tasks/start/", {"steps": 1})
        assert started.status_code == 200, started.text[:200]
        task_id = started.json()["task_id"]
        assert re.fullmatch(r"[0-9a-f-]{36}", task_id), task_id
        missing = requests.get(f"{t.base_url}/no/such/page/", timeout=10)
        return [form.status_code, me["username"], no_csrf.status_code, started.status_code, missing.status_code]

    got = differential(request, transcripts, "http-views", target, run)
    assert got == [200, "alice", 403, 200, 404]


def test_echo_consumer(request, target, transcripts):
    """/ws/echo/ is served by Django's EchoConsumer; through laurel it is tunnelled to Daphne."""

    def run(t):
        b = Browser(t.base_url)
        with open_ok(b, "/ws/echo/", cookie=None) as s:
            s.send_text("héllo")
            s.ws.send(b"\x00\xffbin")
            s.send_text("x" * 70000)
            got = [s.recv(), s.recv(), s.recv()]
        assert got == ["echo:héllo", b"echo:\x00\xffbin", "echo:" + "x" * 70000]
        return got

    differential(request, transcripts, "echo", target, run)


def test_echo_consumer_checks_origin(request, target, transcripts):
    """The echo route sits behind the same AllowedHostsOriginValidator: a foreign Origin gets 403."""

    def run(t):
        r = Browser(t.base_url).open("/ws/echo/", origin="http://evil.example.com", cookie=None)
        return ("refused", r.status, r.reason, r.body) if not hasattr(r, "ws") else ("accepted",)

    got = differential(request, transcripts, "echo-origin", target, run)
    assert got == ("refused", 403, "Access denied", b"")


def test_forwarded_headers_reach_django(target):
    """What Django sees of the client. Directly on Daphne: the client's address and Host, no
    X-Forwarded-*. Through laurel --upstream: the Host the browser sent is kept or passed in
    X-Forwarded-Host, and X-Forwarded-For / X-Forwarded-Proto name the client (laurel's documented
    proxy behaviour; Daphne reads them only with --proxy-headers)."""
    t = target
    host = t.base_url.split("://", 1)[1]
    info = requests.get(f"{t.base_url}/api/request-info/", timeout=10).json()
    assert info["remote_addr"] == "127.0.0.1", info
    if t.name == "daphne":
        assert info == {"remote_addr": "127.0.0.1", "host": host, "x_forwarded_for": None,
                        "x_forwarded_proto": None, "x_forwarded_host": None}
    else:
        assert info["x_forwarded_for"] == "127.0.0.1", info
        assert info["x_forwarded_proto"] == "http", info
        assert host in (info["host"], info["x_forwarded_host"]), info
