"""Helpers of the channelsproto differential suite: the tagged value codec,
an exact comparison, and a client for the layerctl helper program.

layerctl (compat_tests/cmd/layerctl, built with -race) exposes laurel's Go
package channelsproto over JSON lines; values cross the pipe in a tagged form
so that bytes/str, int/float and dict key order survive exactly, and
`strict()` then compares Python objects by type, value and order.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import itertools
import json
import subprocess
import tempfile
import threading
from concurrent.futures import Future

CR_VERSION = tuple(int(x) for x in importlib.metadata.version("channels-redis").split(".")[:3])
# serializer_format and random_prefix_length arrived in channels_redis 4.2.1;
# address-dict kwargs (ssl_cert_reqs...) are passed to redis-py from 4.1.0 on.
HAS_SERIALIZER_FORMAT = CR_VERSION >= (4, 2, 1)
HAS_ADDRESS_KWARGS = CR_VERSION >= (4, 1, 0)

#: How long a receive that must succeed may wait, generous for a loaded CI
#: machine; receives that must NOT deliver pass their own short timeout.
RECEIVE_TIMEOUT = 15.0

# --- tagged values ---------------------------------------------------------


from harness.tagged import assert_same, strict, tag, untag  # noqa: F401,E402 (re-exported)


# --- layerctl client ---------------------------------------------------------


class GoError(Exception):
    """An error answered by layerctl; `kind` is channel_full, timeout, bad_request or error."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"[{kind}] {message}")
        self.kind = kind
        self.message = message


class LayerCtl:
    """One layerctl process; requests may be in flight concurrently."""

    def __init__(self, binary: str):
        self._stderr = tempfile.NamedTemporaryFile(prefix="layerctl-", suffix=".log", delete=False)
        self.stderr_path = self._stderr.name
        self.proc = subprocess.Popen(
            [binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr
        )
        self._ids = itertools.count(1)
        self.opened: list[GoLayer] = []
        self._pending: dict[int, Future] = {}
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            resp = json.loads(line)
            with self._lock:
                fut = self._pending.pop(resp["id"], None)
            if fut is not None:
                fut.set_result(resp)
        with self._lock:
            pending, self._pending = self._pending, {}
        for fut in pending.values():
            fut.set_exception(RuntimeError(f"layerctl exited: {self.stderr_tail()}"))

    def stderr_tail(self, n: int = 4000) -> str:
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")[-n:]

    def start(self, op: str, **kw) -> Future:
        """Send a request and return a Future of its response dict."""
        rid = next(self._ids)
        fut: Future = Future()
        with self._lock:
            self._pending[rid] = fut
        line = json.dumps({"id": rid, "op": op, **kw}) + "\n"
        self.proc.stdin.write(line.encode())
        self.proc.stdin.flush()
        return fut

    @staticmethod
    def result(fut: Future, wait: float = 60) -> dict:
        """The result of a started request; GoError if layerctl answered an error."""
        resp = fut.result(wait)
        if not resp["ok"]:
            raise GoError(resp["kind"], resp["error"])
        return resp.get("result") or {}

    def call(self, op: str, **kw) -> dict:
        """Run one request and wait (at most a minute) for its result."""
        return self.result(self.start(op, **kw))

    def new(self, config: dict) -> "GoLayer":
        """A channelsproto.Layer from a CHANNEL_LAYERS CONFIG (as ParseConfig reads it)."""
        res = self.call("new", config=config)
        gl = GoLayer(self, res["layer"], res["client_prefix"])
        self.opened.append(gl)
        return gl

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(30)
        finally:
            self._stderr.close()


class GoLayer:
    """channelsproto.Layer seen from Python, with channels_redis-like method names."""

    def __init__(self, ctl: LayerCtl, name: str, client_prefix: str):
        self.ctl, self.name, self.client_prefix = ctl, name, client_prefix

    def _call(self, op, **kw):
        return self.ctl.call(op, layer=self.name, **kw)

    def new_channel(self) -> str:
        return self._call("new_channel")["channel"]

    def send(self, channel: str, message: dict) -> None:
        self._call("send", channel=channel, message=tag(message))

    def receive(self, channel: str, timeout: float = RECEIVE_TIMEOUT) -> dict:
        return untag(self._call("receive", channel=channel, timeout=timeout)["message"])

    def group_add(self, group: str, channel: str) -> None:
        self._call("group_add", group=group, channel=channel)

    def group_discard(self, group: str, channel: str) -> None:
        self._call("group_discard", group=group, channel=channel)

    def group_send(self, group: str, message: dict) -> None:
        self._call("group_send", group=group, message=tag(message))

    def flush(self) -> None:
        self._call("flush")

    def ping(self) -> None:
        self._call("ping")

    def close(self) -> None:
        self._call("close")


async def py_receive(layer, channel: str, timeout: float = RECEIVE_TIMEOUT):
    """layer.receive(channel) with a timeout (asyncio.TimeoutError when nothing came)."""
    return await asyncio.wait_for(layer.receive(channel), timeout)
