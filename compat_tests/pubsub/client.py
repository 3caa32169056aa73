"""Helpers of the pub/sub differential suite: the tagged value codec, an exact
comparison, and a client for the pubsubctl helper (compat_tests/cmd/pubsubctl,
built with -race).

pubsubctl speaks the core suite's layerctl protocol (JSON lines, tagged
values), builds layers with channelsproto.NewBackend (BACKEND
"channels_redis.pubsub.RedisPubSubChannelLayer" by default) and adds:
"dispatch" layers whose deliveries can be read back (Delivery = one Redis
message + the local channels it is for), "release" and "stats". This module
is self-contained on purpose: the core suite's client evolves separately.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import itertools
import json
import subprocess
import tempfile
import threading
import time
from concurrent.futures import Future

CR_VERSION = tuple(int(x) for x in importlib.metadata.version("channels-redis").split(".")[:3])
# 4.2.1+ sends pubsub payloads through the serializer registry
# (symmetric_encryption_keys, serializer_format); before, msgpack only and the
# keys were silently ignored.
HAS_SERIALIZER = CR_VERSION >= (4, 2, 1)
# group_discard of a non-member is a no-op from 4.1.0; 4.0.0 asserts.
DISCARD_TOLERANT = CR_VERSION >= (4, 1, 0)

PUBSUB_BACKEND = "channels_redis.pubsub.RedisPubSubChannelLayer"
RECEIVE_TIMEOUT = 10.0


# --- tagged values (the form compat_tests/cmd/internal/ctlwire/value.go reads and writes) -------------


from harness.tagged import assert_same, strict, tag, untag  # noqa: F401,E402 (re-exported)


# --- pubsubctl client ---------------------------------------------------------


class GoError(Exception):
    """An error answered by pubsubctl; `kind` is timeout, invalid_name, closed, bad_request, error, ..."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"[{kind}] {message}")
        self.kind = kind
        self.message = message


class PubSubCtl:
    """One pubsubctl process; requests may be in flight concurrently."""

    def __init__(self, binary: str):
        self.stderr_path = tempfile.mktemp(prefix="pubsubctl-", suffix=".log")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr)
        self._ids = itertools.count(1)
        self.opened: list[GoPubSub] = []
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
            fut.set_exception(RuntimeError(f"pubsubctl exited: {self.stderr_tail()}"))

    def stderr_tail(self, n: int = 4000) -> str:
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")[-n:]

    def start(self, op: str, **kw) -> Future:
        rid = next(self._ids)
        fut: Future = Future()
        with self._lock:
            self._pending[rid] = fut
        self.proc.stdin.write((json.dumps({"id": rid, "op": op, **kw}) + "\n").encode())
        self.proc.stdin.flush()
        return fut

    @staticmethod
    def result(fut: Future, wait: float = 60) -> dict:
        resp = fut.result(wait)
        if not resp["ok"]:
            raise GoError(resp["kind"], resp["error"])
        return resp.get("result") or {}

    def call(self, op: str, **kw) -> dict:
        return self.result(self.start(op, **kw))

    def new(self, config: dict, dispatch: bool = False, backend: str = PUBSUB_BACKEND) -> "GoPubSub":
        res = self.call("new", config=config, dispatch=dispatch, backend=backend)
        gl = GoPubSub(self, res["layer"], res["client_prefix"])
        self.opened.append(gl)
        return gl

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(30)
        finally:
            self._stderr.close()


class GoPubSub:
    """channelsproto.PubSubLayer seen from Python, with channels_redis-like method names."""

    def __init__(self, ctl: PubSubCtl, name: str, layer_id: str):
        self.ctl, self.name, self.layer_id = ctl, name, layer_id

    def _call(self, op, **kw):
        return self.ctl.call(op, layer=self.name, **kw)

    def new_channel(self) -> str:
        return self._call("new_channel")["channel"]

    def send(self, channel: str, message: dict) -> None:
        self._call("send", channel=channel, message=tag(message))

    def receive(self, channel: str, timeout: float = RECEIVE_TIMEOUT) -> dict:
        return untag(self._call("receive", channel=channel, timeout=timeout)["message"])

    def receive_async(self, channel: str, timeout: float = RECEIVE_TIMEOUT) -> Future:
        """Start a receive and return the Future of its raw response."""
        return self.ctl.start("receive", layer=self.name, channel=channel, timeout=timeout)

    def group_add(self, group: str, channel: str) -> None:
        self._call("group_add", group=group, channel=channel)

    def group_discard(self, group: str, channel: str) -> None:
        self._call("group_discard", group=group, channel=channel)

    def group_send(self, group: str, message: dict) -> None:
        self._call("group_send", group=group, message=tag(message))

    def flush(self) -> None:
        self._call("flush")

    def close(self) -> None:
        self._call("close")

    def release(self, channel: str) -> None:
        self._call("release", channel=channel)

    def deliveries(self, count: int, timeout: float = 5) -> list[tuple[list[str], dict]]:
        res = self._call("deliveries", count=count, timeout=timeout)["deliveries"]
        return [(d["channels"], untag(d["message"])) for d in res]

    def stats(self) -> dict:
        return self._call("stats")


def wait_subscribers(rdb, name: str, n: int = 1, timeout: float = 10.0) -> None:
    """Wait until PUBSUB NUMSUB name == n on redis-py client rdb.

    redis-py's subscribe() only writes SUBSCRIBE; a PUBLISH from another
    connection right after it may reach Redis first and be lost (pub/sub has
    no storage), so tests wait for Redis to count the subscriber.
    """
    deadline = time.monotonic() + timeout
    while True:
        got = dict(rdb.pubsub_numsub(name)).get(name.encode(), 0)
        if got == n:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"PUBSUB NUMSUB {name} = {got}, want {n}")
        time.sleep(0.01)


async def py_receive_pubsub(layer, channel: str, timeout: float = RECEIVE_TIMEOUT):
    """layer.receive(channel) with a timeout. Beware: with the pubsub layer a
    timed-out receive unsubscribes the channel (Python's cancellation
    cleanup), so only use it where a message is expected."""
    return await asyncio.wait_for(layer.receive(channel), timeout)
