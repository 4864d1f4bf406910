"""``RedisBus``: the log bus and cache invalidation across nodes, over Redis pub/sub.

Every node subscribes to two channels under the cluster's namespace: ``…:logs`` (log records
with their container) and ``…:control`` (invalidations and log *interest*). A node publishes a
record to Redis only while some other node has a reader for its container, so ``listening()``
stays a dictionary lookup: nodes announce the containers they have readers for when the first
one arrives and the last one leaves, re-announce every ``INTEREST_REFRESH_S`` and forget an
announcement ``INTEREST_TTL_S`` after it was last refreshed (a node that died).

Redis going away never fails a request: records published meanwhile are dropped (log lines are
best effort), invalidations wait in a bounded queue and are sent on reconnection, and a node
that was cut off drops its whole cache when it is back, since it may have missed some.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import secrets
import socket
import time
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from runtime.backends import redact
from runtime.bus import InProcessBus, Invalidation, Subscription, _QueueSubscription

logger = logging.getLogger(__name__)

INTEREST_REFRESH_S = 10.0
INTEREST_TTL_S = 30.0
RECONNECT_MAX_S = 2.0
PENDING_INVALIDATIONS = 10_000
OUTBOX_SIZE = 10_000
CLOSE_TIMEOUT_S = 2.0


class RedisBus(InProcessBus):
    """``Bus`` for several nodes sharing one Redis; local readers are served as in-process."""

    def __init__(self, url: str, namespace: str, *, queue_size: int = 1000) -> None:
        super().__init__(queue_size)
        self.url = url
        self.node = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._logs = f"{namespace}:logs"
        self._control = f"{namespace}:control"
        self._client: redis.Redis | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # container -> {node: monotonic expiry}: who reads that container elsewhere.
        self._remote: dict[str, dict[str, float]] = {}
        self._outbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue(OUTBOX_SIZE)
        self._pending: collections.deque[str] = collections.deque(maxlen=PENDING_INVALIDATIONS)
        self._wake = asyncio.Event()
        self.connected = False
        self.disconnects = 0

    def __repr__(self) -> str:
        return f"RedisBus({redact(self.url)!r}, node={self.node!r})"

    async def start(self) -> None:
        """Start reading and writing in the background; never fails when Redis is down."""
        self._client = redis.Redis.from_url(
            self.url, socket_connect_timeout=2, socket_keepalive=True, health_check_interval=5
        )
        self._tasks = [
            asyncio.create_task(self._read(), name="redis-bus-read"),
            asyncio.create_task(self._write(), name="redis-bus-write"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        # A connection Redis dropped mid-read can make a clean close wait forever: bound it.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(TimeoutError, RedisError, OSError):
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await client.aclose()

    async def ping(self) -> None:
        """Raise ``RedisError`` or ``OSError`` unless Redis answers now."""
        if self._client is None:
            raise RuntimeError("The bus is not started.")
        await self._client.ping()

    # --- Bus ----------------------------------------------------------------------------------

    def publish(self, container: str, record: dict[str, Any]) -> None:
        super().publish(container, record)
        if self._remote_listening(container):
            payload = json.dumps({"node": self.node, "container": container, "record": record})
            self._send(self._logs, payload)

    def listening(self, container: str) -> bool:
        return super().listening(container) or self._remote_listening(container)

    def subscribe(self, container: str) -> Subscription:
        first = not super().listening(container)
        subscription = super().subscribe(container)
        if first:
            self._control_message("interest", container)
        return subscription

    def _unsubscribe(self, container: str, subscription: _QueueSubscription) -> None:
        super()._unsubscribe(container, subscription)
        if not super().listening(container):
            self._control_message("uninterest", container)

    def invalidate(self, container: str, name: str) -> None:
        super().invalidate(container, name)
        payload = self._control_payload("invalidate", container, name)
        # Kept until sent: a write must reach the other nodes even across a Redis restart.
        self._pending.append(payload)
        self._wake.set()

    def on_invalidate(self, callback: Invalidation) -> None:
        super().on_invalidate(callback)

    # --- internals ----------------------------------------------------------------------------

    def _forget(self, container: str | None, name: str | None) -> None:
        for callback in self._invalidations:
            callback(container, name)

    def _remote_listening(self, container: str) -> bool:
        nodes = self._remote.get(container)
        if not nodes:
            return False
        now = time.monotonic()
        return any(expiry > now for expiry in nodes.values())

    def _control_payload(self, op: str, container: str | None, name: str | None = None) -> str:
        return json.dumps({"node": self.node, "op": op, "container": container, "name": name})

    def _control_message(self, op: str, container: str | None) -> None:
        self._send(self._control, self._control_payload(op, container))

    def _send(self, channel: str, payload: str) -> None:
        if not self.connected:
            return  # best effort; interest is re-announced on reconnection
        with contextlib.suppress(asyncio.QueueFull):
            self._outbox.put_nowait((channel, payload))
            self._wake.set()

    def _announce(self) -> None:
        for container in list(self._subscribers):
            self._control_message("interest", container)

    def _prune(self) -> None:
        """Forget readers whose node stopped refreshing them (it died)."""
        now = time.monotonic()
        for container in list(self._remote):
            nodes = self._remote[container]
            for node in [node for node, expiry in nodes.items() if expiry <= now]:
                del nodes[node]
            if not nodes:
                del self._remote[container]

    async def _write(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            client = self._client
            if client is None or not self.connected:
                continue
            try:
                while self._pending:
                    await client.publish(self._control, self._pending[0])
                    self._pending.popleft()
                while not self._outbox.empty():
                    # One round trip for everything queued (a busy rule logs in bursts).
                    pipe = client.pipeline(transaction=False)
                    for _ in range(min(self._outbox.qsize(), 500)):
                        pipe.publish(*self._outbox.get_nowait())
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                # The reader notices too and reconnects; what is pending stays pending.
                logger.debug("redis bus: publish failed: %s", exc)
                await asyncio.sleep(0.1)
                self._wake.set()

    async def _read(self) -> None:
        delay = 0.1
        refreshed = 0.0
        while True:
            client = self._client
            assert client is not None  # started before this task
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._logs, self._control)
                # Writes made elsewhere while this node was not listening were never heard.
                self._forget(None, None)
                self.connected = True
                logger.info("redis bus connected to %s", redact(self.url))
                delay = 0.1
                self._control_message("hello", None)
                self._announce()
                refreshed = time.monotonic()
                self._wake.set()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._receive(message["channel"], message["data"])
                    if time.monotonic() - refreshed >= INTEREST_REFRESH_S:
                        refreshed = time.monotonic()
                        self._announce()
                        self._prune()
            except (RedisError, OSError) as exc:
                if self.connected:
                    logger.warning("redis bus lost %s (%s); retrying", redact(self.url), exc)
                    self.disconnects += 1
                self.connected = False
            finally:
                with contextlib.suppress(RedisError, OSError, TimeoutError):
                    async with asyncio.timeout(CLOSE_TIMEOUT_S):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)

    def _receive(self, channel: bytes, data: bytes) -> None:
        try:
            message = json.loads(data)
            node = message["node"]
        except (ValueError, KeyError, TypeError):
            logger.warning("redis bus: ignored a malformed message on %r", channel)
            return
        if node == self.node:
            return
        if channel.decode() == self._logs:
            super().publish(str(message["container"]), message["record"])
            return
        op, container, name = message.get("op"), message.get("container"), message.get("name")
        if op == "invalidate":
            self._forget(container, name)
        elif op == "interest" and isinstance(container, str):
            self._remote.setdefault(container, {})[node] = time.monotonic() + INTEREST_TTL_S
        elif op == "uninterest" and isinstance(container, str):
            nodes = self._remote.get(container, {})
            nodes.pop(node, None)
            if not nodes:
                self._remote.pop(container, None)
        elif op == "hello":
            self._announce()
