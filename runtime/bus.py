"""The log bus: rule output and infrastructure lines, fanned out per container.

``InProcessBus`` serves one node; ``runtime.redis_bus.RedisBus`` extends it across nodes behind
the same ``Bus`` protocol (log fan-out and cache invalidation). Subscribers get bounded queues:
a slow reader loses lines, never blocks a rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

Invalidation = Callable[[str | None, str | None], None]
"""Drop cached copies of webtask ``(container, name)``; ``(None, None)`` drops everything."""

LEVELS = {"trace": 10, "debug": 20, "info": 30, "warn": 40, "error": 50, "fatal": 60}
_HOSTNAME = socket.gethostname()


def log_record(
    container: str,
    msg: str,
    *,
    level: str = "info",
    req_id: str | None = None,
    sandbox: bool = False,
    **fields: Any,
) -> dict[str, Any]:
    """A bunyan-style record (v, level, name, hostname, pid, time, msg) for the log stream."""
    record: dict[str, Any] = {
        "v": 0,
        "level": LEVELS[level],
        "name": "sandbox-logs" if sandbox else "webtask-runtime",
        "hostname": _HOSTNAME,
        "pid": os.getpid(),
        "time": datetime.fromtimestamp(time.time(), UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "msg": msg,
        "container": container,
    }
    if req_id is not None:
        record["req_id"] = req_id
    if sandbox:
        record["sandbox"] = True
    record.update(fields)
    return record


class Subscription(Protocol):
    """One reader of a container's log stream, registered from the moment it is created."""

    async def get(self, wait_s: float) -> dict[str, Any] | None:
        """The next record, or None when ``wait_s`` seconds pass without one."""
        ...

    def close(self) -> None: ...


class Bus(Protocol):
    def publish(self, container: str, record: dict[str, Any]) -> None: ...

    def listening(self, container: str) -> bool:
        """Whether a record for ``container`` could reach anyone (lets hot paths skip work)."""
        ...

    def subscribe(self, container: str) -> Subscription: ...

    # Cache invalidation between nodes: a write on one node reaches every node's callbacks.
    def invalidate(self, container: str, name: str) -> None:
        """Webtask ``container/name`` changed: run every node's ``on_invalidate`` callbacks."""
        ...

    def on_invalidate(self, callback: Invalidation) -> None: ...


class _QueueSubscription:
    def __init__(self, bus: InProcessBus, container: str, queue_size: int) -> None:
        self._bus = bus
        self._container = container
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(queue_size)

    async def get(self, wait_s: float) -> dict[str, Any] | None:
        try:
            return await asyncio.wait_for(self.queue.get(), wait_s)
        except TimeoutError:
            return None

    def close(self) -> None:
        self._bus._unsubscribe(self._container, self)


class InProcessBus:
    """Fan-out inside one server process."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._queue_size = queue_size
        self._subscribers: dict[str, set[_QueueSubscription]] = {}
        self._invalidations: list[Invalidation] = []

    def publish(self, container: str, record: dict[str, Any]) -> None:
        for subscription in self._subscribers.get(container, ()):
            with contextlib.suppress(asyncio.QueueFull):
                subscription.queue.put_nowait(record)

    def subscribe(self, container: str) -> Subscription:
        subscription = _QueueSubscription(self, container, self._queue_size)
        self._subscribers.setdefault(container, set()).add(subscription)
        return subscription

    def listening(self, container: str) -> bool:
        return bool(self._subscribers.get(container))

    def invalidate(self, container: str, name: str) -> None:
        for callback in self._invalidations:
            callback(container, name)

    def on_invalidate(self, callback: Invalidation) -> None:
        self._invalidations.append(callback)

    def subscribers(self, container: str) -> int:
        return len(self._subscribers.get(container, ()))

    def _unsubscribe(self, container: str, subscription: _QueueSubscription) -> None:
        subscribers = self._subscribers.get(container)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[container]
