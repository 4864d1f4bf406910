"""``RedisBus`` between two nodes (two bus objects) on a private ``redis-server`` that the tests
stop and start again, so the shared Redis of the machine is never disturbed."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.redis_bus import RedisBus

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    def __init__(self, tmp: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.tmp = tmp
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                *(REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.tmp)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def eventually(check: Callable[[], bool], within_s: float = 5.0) -> float:
    """Seconds until ``check()`` held; fails the test after ``within_s``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > within_s:
            pytest.fail(f"condition not met within {within_s} s")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(60):  # a hang fails the test instead of stalling the suite
            await scenario()

    asyncio.run(bounded())


def test_records_reach_readers_on_other_nodes_only_while_they_listen(
    redis_server: RedisServer,
) -> None:
    async def scenario() -> None:
        a, b = RedisBus(redis_server.url, "ns"), RedisBus(redis_server.url, "ns")
        await a.start()
        await b.start()
        try:
            await eventually(lambda: a.connected and b.connected)
            assert b.listening("c") is False
            reader = a.subscribe("c")
            await eventually(lambda: b.listening("c"))
            assert b.listening("other") is False
            b.publish("c", {"msg": "from b"})
            b.publish("other", {"msg": "nobody reads this"})
            assert await reader.get(2.0) == {"msg": "from b"}
            assert await reader.get(0.3) is None
            reader.close()
            await eventually(lambda: not b.listening("c"))
        finally:
            await a.close()
            await b.close()

    run(scenario)


def test_a_node_that_starts_late_learns_existing_readers(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        a = RedisBus(redis_server.url, "ns")
        await a.start()
        reader = a.subscribe("c")
        late = RedisBus(redis_server.url, "ns")
        try:
            await eventually(lambda: a.connected)
            await late.start()
            await eventually(lambda: late.listening("c"), within_s=2.0)
            late.publish("c", {"msg": "hi"})
            assert await reader.get(2.0) == {"msg": "hi"}
        finally:
            reader.close()
            await a.close()
            await late.close()

    run(scenario)


def test_invalidations_reach_every_node_once_and_namespaces_do_not_mix(
    redis_server: RedisServer,
) -> None:
    async def scenario() -> None:
        a, b = RedisBus(redis_server.url, "ns"), RedisBus(redis_server.url, "ns")
        stranger = RedisBus(redis_server.url, "other-cluster")
        seen: dict[str, list[tuple[str | None, str | None]]] = {"a": [], "b": [], "s": []}
        a.on_invalidate(lambda c, n: seen["a"].append((c, n)))
        b.on_invalidate(lambda c, n: seen["b"].append((c, n)))
        stranger.on_invalidate(lambda c, n: seen["s"].append((c, n)))
        for bus in (a, b, stranger):
            await bus.start()
        try:
            await eventually(lambda: a.connected and b.connected and stranger.connected)
            for key in seen:
                seen[key].clear()  # each dropped everything on connecting
            a.invalidate("c", "w")
            assert seen["a"] == [("c", "w")]  # at once, locally
            latency = await eventually(lambda: seen["b"] == [("c", "w")], within_s=1.0)
            assert latency < 1.0
            await asyncio.sleep(0.2)
            assert seen == {"a": [("c", "w")], "b": [("c", "w")], "s": []}
        finally:
            for bus in (a, b, stranger):
                await bus.close()

    run(scenario)


def test_a_redis_restart_loses_no_invalidation_and_fan_out_resumes(
    redis_server: RedisServer,
) -> None:
    async def scenario() -> None:
        a, b = RedisBus(redis_server.url, "ns"), RedisBus(redis_server.url, "ns")
        seen_b: list[tuple[str | None, str | None]] = []
        b.on_invalidate(lambda c, n: seen_b.append((c, n)))
        await a.start()
        await b.start()
        reader = b.subscribe("c")
        try:
            await eventually(lambda: a.listening("c"))
            redis_server.stop()
            await eventually(lambda: not a.connected and not b.connected)
            a.publish("c", {"msg": "lost while down"})  # never raises
            a.invalidate("c", "changed-while-down")
            seen_b.clear()
            redis_server.start()
            await eventually(lambda: a.connected and b.connected, within_s=10.0)
            # b dropped its whole cache on reconnecting, and a's write still arrives.
            await eventually(lambda: ("c", "changed-while-down") in seen_b)
            assert seen_b[0] == (None, None)
            await eventually(lambda: a.listening("c"))
            a.publish("c", {"msg": "after restart"})
            assert await reader.get(2.0) == {"msg": "after restart"}
            assert a.disconnects == 1
            assert b.disconnects == 1
        finally:
            reader.close()
            await a.close()
            await b.close()

    run(scenario)


def test_a_burst_of_records_arrives_complete_and_in_order(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        a, b = RedisBus(redis_server.url, "ns"), RedisBus(redis_server.url, "ns")
        await a.start()
        await b.start()
        reader = a.subscribe("c")
        try:
            await eventually(lambda: b.listening("c"))
            for i in range(600):
                b.publish("c", {"n": i})
            got = [await reader.get(2.0) for _ in range(600)]
            assert got == [{"n": i} for i in range(600)]
        finally:
            reader.close()
            await a.close()
            await b.close()

    run(scenario)
