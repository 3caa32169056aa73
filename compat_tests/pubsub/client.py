"""Helpers of the pub/sub differential suite: a client for the pubsubctl helper
(compat_tests/cmd/pubsubctl, built with -race), reusing the tagged value codec
and exact comparison of the core suite (compat_tests/channelsproto/client.py).

pubsubctl speaks layerctl's protocol, builds layers with
channelsproto.NewBackend (BACKEND "channels_redis.pubsub.RedisPubSubChannelLayer"
by default) and adds: "dispatch" layers whose deliveries can be read back
(Delivery = one Redis message + the local channels it is for), "release" and
"stats".
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import time

from channelsproto.client import GoError, GoLayer, LayerCtl, assert_same, py_receive, strict, tag, untag  # noqa: F401

CR_VERSION = tuple(int(x) for x in importlib.metadata.version("channels-redis").split(".")[:3])
# 4.2.1+ sends pubsub payloads through the serializer registry
# (symmetric_encryption_keys, serializer_format); before, msgpack only and the
# keys were silently ignored.
HAS_SERIALIZER = CR_VERSION >= (4, 2, 1)
# group_discard of a non-member is a no-op from 4.1.0; 4.0.0 asserts.
DISCARD_TOLERANT = CR_VERSION >= (4, 1, 0)

PUBSUB_BACKEND = "channels_redis.pubsub.RedisPubSubChannelLayer"


class PubSubCtl(LayerCtl):
    """One pubsubctl process."""

    def new(self, config: dict, dispatch: bool = False, backend: str = PUBSUB_BACKEND) -> "GoPubSub":
        res = self.call("new", config=config, dispatch=dispatch, backend=backend)
        gl = GoPubSub(self, res["layer"], res["client_prefix"])
        self.opened.append(gl)
        return gl


class GoPubSub(GoLayer):
    """channelsproto.PubSubLayer seen from Python."""

    def receive_async(self, channel: str, timeout: float = 5):
        """Start a receive and return the Future of its raw response."""
        return self.ctl.start("receive", layer=self.name, channel=channel, timeout=timeout)

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


async def py_receive_pubsub(layer, channel: str, timeout: float = 5):
    """layer.receive(channel) with a timeout. Beware: with the pubsub layer a
    timed-out receive unsubscribes the channel (Python's cancellation
    cleanup), so only use it where a message is expected."""
    return await asyncio.wait_for(layer.receive(channel), timeout)
