"""The scenario client: what a browser-like client sees from a server, recorded for comparison.

A `Browser` logs in over HTTP (Django's login form with its CSRF token) to get the session cookie,
then opens WebSockets with the Origin and Cookie headers a browser would send. A `Socket` records
every frame in order (raw text, so frames compare byte for byte) and how the connection ended.
A refused handshake is recorded as a `Refusal` (HTTP status, reason phrase, body).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import requests
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

# The test users the e2e stack creates (username → password).
USERS = {"alice": "alice-pw-3f9c", "bob": "bob-pw-77d1"}


@dataclass
class Refusal:
    """A handshake the server refused: what the client saw instead of 101."""

    status: int
    reason: str
    body: bytes


@dataclass
class Closed:
    """How a connection ended: the close code and reason the server sent (None: no close frame)."""

    code: int | None
    reason: str


class Socket:
    """An open WebSocket; frames are recorded in `frames` in arrival order (text as str, binary as bytes)."""

    def __init__(self, ws):
        self.ws = ws
        self.frames: list = []
        self.closed: Closed | None = None

    def send_text(self, text: str) -> None:
        self.ws.send(text)

    def send_json(self, obj) -> None:
        self.ws.send(json.dumps(obj))

    def recv(self, timeout: float = 10.0):
        """The next frame; raises TimeoutError, or AssertionError when the server closed instead."""
        if self.closed is not None:
            raise AssertionError(f"socket already closed: {self.closed}")
        try:
            frame = self.ws.recv(timeout=timeout)
        except ConnectionClosed as e:
            self.closed = Closed(e.rcvd.code if e.rcvd else None, e.rcvd.reason if e.rcvd else "")
            raise AssertionError(f"server closed the socket: {self.closed}") from e
        self.frames.append(frame)
        return frame

    def recv_json(self, timeout: float = 10.0):
        frame = self.recv(timeout)
        assert isinstance(frame, str), f"expected a text frame, got {frame!r}"
        return json.loads(frame)

    def wait_closed(self, timeout: float = 10.0) -> Closed:
        """Read until the server closes; any frame before that is recorded. Returns the close."""
        deadline = time.monotonic() + timeout
        while self.closed is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("server did not close the socket")
            try:
                self.frames.append(self.ws.recv(timeout=left))
            except ConnectionClosed as e:
                self.closed = Closed(e.rcvd.code if e.rcvd else None, e.rcvd.reason if e.rcvd else "")
        return self.closed

    def close(self) -> None:
        self.ws.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@dataclass
class Browser:
    """One browser profile: an HTTP session (cookies) against a target's base URL."""

    base_url: str
    http: requests.Session = field(default_factory=requests.Session)
    user_id: int | None = None

    @property
    def origin(self) -> str:
        return self.base_url

    @property
    def ws_base(self) -> str:
        return "ws" + self.base_url[len("http"):]

    def login(self, username: str, password: str) -> int:
        """Django's login form: GET for the CSRF token, POST the credentials. Returns the user id."""
        form = self.http.get(f"{self.base_url}/login/", timeout=10)
        form.raise_for_status()
        token = form.text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
        r = self.http.post(
            f"{self.base_url}/login/",
            data={"csrfmiddlewaretoken": token, "username": username, "password": password},
            timeout=30,
        )
        assert r.status_code == 200, f"login failed: {r.status_code} {r.text[:200]}"
        self.user_id = r.json()["user_id"]
        return self.user_id

    def post(self, path: str, data: dict | None = None) -> requests.Response:
        """A CSRF-protected POST as Django's JavaScript recipe sends it (X-CSRFToken from the cookie)."""
        return self.http.post(
            f"{self.base_url}{path}",
            data=data or {},
            headers={"X-CSRFToken": self.http.cookies.get("csrftoken", "")},
            timeout=30,
        )

    def logout(self) -> None:
        r = self.post("/logout/")
        assert r.status_code == 200, r.text[:200]

    @property
    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)

    @property
    def session_key(self) -> str:
        return self.http.cookies.get("sessionid", "")

    def open(self, path: str = "/ws/tasks/", *, origin: str | None | bool = True, cookie: str | None | bool = True):
        """Open a WebSocket. origin/cookie: True = the browser's own, None = header absent, str = that value.

        Returns a `Socket` on 101, a `Refusal` when the server refused the handshake.
        """
        headers = {}
        if cookie is True:
            cookie = self.cookie_header or None
        if cookie is not None:
            headers["Cookie"] = cookie
        if origin is True:
            origin = self.origin
        try:
            ws = connect(
                self.ws_base + path, origin=origin, additional_headers=headers, open_timeout=15,
                close_timeout=5, max_size=None, legacy=True,
            )
        except InvalidStatus as e:
            return Refusal(e.response.status_code, e.response.reason_phrase, bytes(e.response.body or b""))
        return Socket(ws)
