"""Write internal/accesslog/testdata/daphne.json: access log lines from Daphne's own generator.

Run with the project venv:  .venv/bin/python compat_tests/gen_accesslog_fixtures.py

daphne.access.AccessLogGenerator (Daphne 4.2.3) is fed WebSocket and HTTP events with the clock
fixed at 2026-11-26 01:02:03; internal/accesslog's tests must write the same lines.
"""

from __future__ import annotations

import datetime
import io
import json
import os
from unittest import mock

import daphne
from daphne.access import AccessLogGenerator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "internal", "accesslog", "testdata", "daphne.json")
NOW = datetime.datetime(2026, 11, 26, 1, 2, 3)

# client_addr is Daphne's [host, port]; the "client" detail is built from it as ws_protocol.py and
# http_protocol.py do: "%s:%s" % tuple(client_addr) if client_addr else None.
EVENTS = [
    ("websocket", "connecting", {"client_addr": ["127.0.0.1", 5000], "path": "/ws/tasks/"}),
    ("websocket", "rejected", {"client_addr": ["127.0.0.1", 5000], "path": "/ws/tasks/"}),
    ("websocket", "connected", {"client_addr": ["10.0.0.7", 61000], "path": "/ws/chat/lobby/"}),
    ("websocket", "disconnected", {"client_addr": ["10.0.0.7", 61000], "path": "/ws/chat/lobby/"}),
    ("websocket", "connecting", {"client_addr": None, "path": "/ws/tasks/"}),
    ("http", "complete", {"client_addr": ["127.0.0.1", 5001], "method": "GET", "path": "/api/?q=a%20b", "status": 200,
                          "size": 12}),
    ("http", "complete", {"client_addr": ["127.0.0.1", 5001], "method": "HEAD", "path": "/api/", "status": 304, "size": 0}),
    ("http", "complete", {"client_addr": ["::1", 5002], "method": "POST", "path": "/login/", "status": 302, "size": 0}),
]


class FixedDatetime(datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return NOW


def main() -> None:
    cases = []
    for protocol, action, details in EVENTS:
        out = io.StringIO()
        d = dict(details)
        addr = d.pop("client_addr")
        d["client"] = "%s:%s" % tuple(addr) if addr else None
        with mock.patch("daphne.access.datetime.datetime", FixedDatetime):
            AccessLogGenerator(out)(protocol, action, d)
        cases.append({"protocol": protocol, "action": action, "details": details, "line": out.getvalue()})
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"generator": "compat_tests/gen_accesslog_fixtures.py", "daphne": daphne.__version__,
                   "cases": cases}, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}: {len(cases)} lines")


if __name__ == "__main__":
    main()
