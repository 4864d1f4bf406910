"""The worker pool and its limits, through the HTTP API of a real server."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest

from runtime.app import pool_config
from runtime.settings import Settings
from sandbox.errors import SandboxUnavailable
from sandbox.pool import WorkerPool
from tests.integration.server import ROOT, SEED_BODY, SEED_PY, Server

pytestmark = pytest.mark.integration

COUNTER = """\
calls = []

def rule(client, scope, audience, context, cb):
    calls.append(1)
    cb(None, {'calls': len(calls)})
"""
SLEEPY = """\
def rule(client, scope, audience, context, cb):
    t = time.monotonic()
    while time.monotonic() - t < 1.0:
        pass
    cb(None, {'slept': True})
"""


def _calls(srv: Server, container: str) -> int:
    response = srv.run_hook(container, "count")
    assert response.status_code == 200, response.text
    return int(response.json()["data"]["calls"])


def test_warm_worker_keeps_module_state_per_container(server: Server) -> None:
    server.put_hook("warm-a", "count", COUNTER)
    server.put_hook("warm-b", "count", COUNTER)
    first = _calls(server, "warm-a")
    assert _calls(server, "warm-a") == first + 1
    # Same code, another container: another worker, its own module state.
    assert _calls(server, "warm-b") == 1


def test_invocation_isolation_gives_every_call_a_fresh_worker(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server(WTHOST_ISOLATION="invocation")
    srv.put_hook("single", "count", COUNTER)
    assert [_calls(srv, "single") for _ in range(3)] == [1, 1, 1]


def test_workers_are_recycled_after_max_calls(make_server: Callable[..., Server]) -> None:
    srv = make_server(WTHOST_WORKER_MAX_CALLS="2")
    srv.put_hook("recycle", "count", COUNTER)
    assert [_calls(srv, "recycle") for _ in range(5)] == [1, 2, 1, 2, 1]
    assert srv.client.get("/healthz").json()["pool"]["recycled"] >= 2


def test_full_queue_answers_503_with_retry_after(make_server: Callable[..., Server]) -> None:
    srv = make_server(WTHOST_MAX_WORKERS="1", WTHOST_MAX_QUEUE="0", WTHOST_SPARE_WORKERS="0")
    srv.put_hook("busy", "slow", SLEEPY)

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=srv.url, timeout=30) as client:
            headers = {"Authorization": "Bearer s3cret"}
            first = asyncio.create_task(
                client.post("/api/run/busy/slow", json=SEED_BODY, headers=headers)
            )
            await asyncio.sleep(0.3)
            second = await client.post("/api/run/busy/slow", json=SEED_BODY, headers=headers)
            return [await first, second]

    done, refused = asyncio.run(burst())
    assert done.json()["data"] == {"slept": True}
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"] == "Service unavailable"


def test_queued_calls_wait_for_a_worker(make_server: Callable[..., Server]) -> None:
    srv = make_server(WTHOST_MAX_WORKERS="1", WTHOST_MAX_QUEUE="8", WTHOST_SPARE_WORKERS="0")
    srv.put_hook("queue-a", "pwx", SEED_PY)
    srv.put_hook("queue-b", "pwx", SEED_PY)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=srv.url, timeout=30) as client:
            headers = {"Authorization": "Bearer s3cret"}
            calls = [
                client.post(f"/api/run/queue-{c}/pwx", json=SEED_BODY, headers=headers)
                for c in "abababab"
            ]
            return [r.status_code for r in await asyncio.gather(*calls)]

    assert asyncio.run(burst()) == [200] * 8
    assert srv.client.get("/healthz").json()["pool"]["evicted"] >= 1


def test_crashed_worker_is_replaced(server: Server) -> None:
    server.put_hook("crash", "cpu", "def rule(c, s, a, ctx, cb):\n    x = 10 ** 10 ** 9\n")
    started = time.monotonic()
    response = server.run_hook("crash", "cpu")
    assert time.monotonic() - started < 6
    assert response.status_code == 500
    assert response.json()["error"] in (
        "Script execution failed",
        "Request to Webtask exceeded allowed execution time",
    )
    server.put_hook("crash", "pwx", SEED_PY)
    assert server.run_hook("crash", "pwx").json()["data"]["scope"] == ["read:sample", "extra"]


def test_results_and_logs_are_capped(make_server: Callable[..., Server]) -> None:
    srv = make_server(WTHOST_RULE_RESULT_BYTES="2048", WTHOST_RULE_LOG_BYTES="1024")
    srv.put_hook("caps", "big", "def rule(c, s, a, ctx, cb):\n    cb(None, {'x': 'y' * 5000})\n")
    big = srv.run_hook("caps", "big").json()
    assert big["status"] == "error"
    assert "2048-byte limit" in big["data"]["message"]
    srv.put_hook(
        "caps", "chatty", "def rule(c, s, a, ctx, cb):\n    while True:\n        print('x' * 100)\n"
    )
    chatty = srv.run_hook("caps", "chatty").json()
    assert chatty["data"]["message"] == "Log output is limited to 1024 bytes per call."


def test_recursion_limit_is_configurable(make_server: Callable[..., Server]) -> None:
    srv = make_server(WTHOST_RULE_RECURSION="100")
    code = """\
def depth(n):
    return depth(n + 1)

def rule(c, s, a, ctx, cb):
    depth(0)

exports = rule
"""
    srv.put_hook("rec", "deep", code)
    body = srv.run_hook("rec", "deep").json()
    assert body["status"] == "error"
    assert "maximum recursion depth" in body["data"]["message"]


def test_memory_limit_turns_bombs_into_errors(server: Server) -> None:
    server.put_hook("mem", "bomb", "def rule(c, s, a, ctx, cb):\n    x = [0] * (10 ** 9)\n")
    body = server.run_hook("mem", "bomb").json()
    assert body == {"status": "error", "data": {"message": "The rule ran out of memory."}}
    server.put_hook("mem", "pwx", SEED_PY)
    assert server.run_hook("mem", "pwx").status_code == 200


def test_required_layers_are_enforced() -> None:
    settings = Settings(sandbox_require=("seccomp",))
    config = pool_config(settings)
    config = dataclasses.replace(
        config, worker=dataclasses.replace(config.worker, preload=("tests.support.broken_seccomp",))
    )

    async def start() -> None:
        pool = WorkerPool(config)
        try:
            await pool.start()
        finally:
            await pool.close()

    with pytest.raises(SandboxUnavailable, match="seccomp: missing: disabled by a test"):
        asyncio.run(start())


def test_doctor_reports_every_layer_live(tmp_path: object) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "runtime", "doctor", "--data-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "WTHOST_SANDBOX_REQUIRE": "all"},
    )
    for layer in ("rlimits", "unshare", "drop_privileges", "prctl", "seccomp"):
        assert f"ok {layer}" in result.stdout.replace("  ", " ")
