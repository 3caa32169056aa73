"""Daphne's --websocket_timeout and laurel's flag of the same name end a socket the same way.

Both servers run a second time on their own port with `--websocket_timeout 3` (laurel's defaults to
no limit, Daphne's to 86400 s: difference D5 in docs/compat-e2e.md); the client stays idle and records
how the server ends the connection.
"""

from __future__ import annotations

import os
import time

import requests

from harness.servers import free_port, wait_port

from .conftest import BIN, Target
from .helpers import browser, open_tracked, wait_until

LIFETIME = 3
_servers: dict[str, Target] = {}


def _timed(request, name: str) -> Target:
    """The target's server started again with --websocket_timeout LIFETIME (once per session)."""
    if name in _servers:
        return _servers[name]
    base = request.getfixturevalue(name)
    stack = base.stack
    port = free_port()
    if name == "daphne":
        p = stack.start("daphne-timeout", [
            os.path.join(BIN, "daphne"), "-b", "127.0.0.1", "-p", str(port),
            "--websocket_timeout", str(LIFETIME), "djproject.asgi:application",
        ])
        wait_port(port, timeout=30)
    else:
        binary = request.getfixturevalue("go_build")("./cmd/laurel")
        p = stack.start("laurel-timeout", [
            binary, "serve", "--config", os.path.join(stack.dir, "laurel.toml"), "-b", "127.0.0.1",
            "-p", str(port), "--websocket_timeout", str(LIFETIME),
            "--upstream", f"http://127.0.0.1:{stack.daphne_port}",
        ], cwd=stack.dir)

        def ready():
            p.check_alive()
            try:
                return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(ready, 30, "laurel --websocket_timeout ready")
    p.check_alive()
    _servers[name] = Target(name, f"http://127.0.0.1:{port}", stack)
    return _servers[name]


def _lifetime_close(t: Target):
    b = browser(t)
    s, channel = open_tracked(t.stack, b)
    opened = time.monotonic()
    closed = s.wait_closed(timeout=LIFETIME + 12)
    lived = time.monotonic() - opened
    wait_until(lambda: channel not in {m.decode() for m in t.stack.layer_redis().zrange(
        f"asgi:group:user_{b.user_id}", 0, -1)}, 10, "user_<id> membership discarded")
    return closed, lived, s.frames


def test_websocket_timeout_closes_like_daphne(request, target, transcripts):
    """The socket is closed by the server after about LIFETIME seconds with 1000, no frame before it,
    and its group membership is discarded."""
    closed, lived, frames = _lifetime_close(_timed(request, target.name))
    assert frames == []
    assert LIFETIME - 0.5 <= lived <= LIFETIME + 10, lived
    seen = transcripts.setdefault("websocket-timeout", {})
    seen[target.name] = (closed.code, closed.reason)
    if target.name != "daphne" and "daphne" not in seen:
        c, _, _ = _lifetime_close(_timed(request, "daphne"))
        seen["daphne"] = (c.code, c.reason)
    assert seen[target.name] == seen["daphne"] == (1000, "")
