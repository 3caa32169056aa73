"""Who may open /ws/tasks/: Daphne's AllowedHostsOriginValidator(AuthMiddlewareStack(...)) decides.

A refusal is what the client sees instead of 101: Daphne answers `HTTP/1.1 403 Access denied`
with no body; laurel must answer the same bytes.
"""

from __future__ import annotations

import time

import pytest

from .client import Browser, Socket
from .helpers import browser, differential, open_ok, refusal

ACCESS_DENIED = ("refused", 403, "Access denied", b"")


def test_authenticated_user_is_accepted(request, target, transcripts):
    def run(t):
        b = browser(t)
        with open_ok(b):
            return ["accepted"]

    differential(request, transcripts, "accepted", target, run)


def test_anonymous_is_refused(request, target, transcripts):
    """No session cookie at all: the consumer closes before accept → 403."""

    def run(t):
        r = refusal(Browser(t.base_url).open(cookie=None))
        assert r == ACCESS_DENIED
        return r

    differential(request, transcripts, "anonymous", target, run)


@pytest.mark.parametrize(
    "cookie",
    ["sessionid=garbage-not-a-session", "sessionid=", "sessionid=0123456789abcdefghijklmnopqrstuv"],
    ids=["garbage", "empty", "unknown-key"],
)
def test_bad_session_cookie_is_refused(request, target, transcripts, cookie):
    def run(t):
        r = refusal(Browser(t.base_url).open(cookie=cookie))
        assert r == ACCESS_DENIED
        return r

    differential(request, transcripts, f"cookie-{cookie}", target, run)


@pytest.mark.parametrize(
    "origin",
    [None, "http://evil.example.com", "null", "https://127.0.0.1.evil.example", "http://localhost.evil:80"],
    ids=["missing", "foreign", "null", "suffix-trick", "lookalike"],
)
def test_bad_origin_is_refused(request, target, transcripts, origin):
    """A logged-in user, but an Origin ALLOWED_HOSTS does not match (or none): 403 before auth."""

    def run(t):
        b = browser(t)
        r = refusal(b.open(origin=origin))
        assert r == ACCESS_DENIED
        return r

    differential(request, transcripts, f"origin-{origin}", target, run)


def test_allowed_origin_variants_are_accepted(request, target, transcripts):
    """ALLOWED_HOSTS = 127.0.0.1, localhost: any scheme/port of those hosts passes the validator."""

    def run(t):
        b = browser(t)
        seen = []
        for origin in ("http://localhost:1234", "https://127.0.0.1", "http://LOCALHOST"):
            s = b.open(origin=origin)
            seen.append((origin, isinstance(s, Socket)))
            if isinstance(s, Socket):
                s.close()
        assert all(ok for _, ok in seen), seen
        return seen

    differential(request, transcripts, "origin-variants", target, run)


def test_logged_out_session_is_refused(request, target, transcripts):
    """A socket opens with the session; after POST /logout/ the same cookie is refused.

    Deliberate difference: laurel caches a session verdict for a short TTL (djangoauth, default 2 s),
    so laurel may still accept the old cookie inside that window; it must refuse it after the TTL.
    Daphne refuses at once.
    """

    def run(t):
        b = browser(t)
        cookie = b.cookie_header
        with open_ok(b):
            pass
        b.logout()
        r = b.open(cookie=cookie)
        if t.name == "laurel":
            deadline = time.monotonic() + 3.0
            while isinstance(r, Socket) and time.monotonic() < deadline:
                r.close()
                time.sleep(0.2)
                r = b.open(cookie=cookie)
        got = refusal(r)
        assert got == ACCESS_DENIED
        return got

    differential(request, transcripts, "logged-out", target, run)


def _raw_handshake(base_url: str, headers: str) -> bytes:
    """Send a WebSocket upgrade over a plain socket; return every byte until the server closes."""
    import socket
    from urllib.parse import urlsplit

    u = urlsplit(base_url)
    with socket.create_connection((u.hostname, u.port), timeout=10) as s:
        s.sendall(
            (f"GET /ws/tasks/ HTTP/1.1\r\nHost: {u.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{headers}\r\n").encode()
        )
        data = b""
        while chunk := s.recv(4096):
            data += chunk
        return data


@pytest.mark.parametrize("case", ["anonymous", "bad-origin"])
def test_refusal_bytes_on_the_wire(request, target, transcripts, case):
    """The exact bytes of a refusal: Daphne writes `HTTP/1.1 403 Access denied\\r\\n\\r\\n`, no headers,
    no body, then closes the connection."""

    def run(t):
        origin = t.base_url if case == "anonymous" else "http://evil.example.com"
        got = _raw_handshake(t.base_url, f"Origin: {origin}\r\n")
        assert got == b"HTTP/1.1 403 Access denied\r\n\r\n"
        return got

    differential(request, transcripts, f"raw-{case}", target, run)
