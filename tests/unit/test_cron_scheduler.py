"""The cron scheduler on a real SQLite store with a fake clock and a fake webtask: when runs
fire, what they send and record, missed runs, leases between nodes, expiry and shutdown."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from runtime import tokens
from runtime.cron.delivery import Delivery
from runtime.cron.jobs import CronJobs
from runtime.cron.records import HISTORY_KEPT, CronRun
from runtime.cron.scheduler import STATS_HEADER, Scheduler
from runtime.keys import Keys, load_or_create_keys
from runtime.sqlite_store import SQLiteStore
from runtime.store import WebtaskRecord

T0 = datetime(2024, 5, 1, 10, 0, 30, tzinfo=UTC).timestamp()  # 30 s before a minute
MINUTE = datetime(2024, 5, 1, 10, 1, tzinfo=UTC).timestamp()
RUN_TIMEOUT_S = 5.0
LEASE_S = 10.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Webtask:
    """A fake run path: records each call and answers with ``answer`` (or raises it)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, str], Any]] = []
        self.answer: Delivery | Exception = Delivery(200, {"content-type": "application/json"})
        self.gate: asyncio.Event | None = None
        self.called = asyncio.Event()

    async def __call__(
        self, container: str, name: str, headers: Mapping[str, str], body: bytes
    ) -> Delivery:
        self.calls.append((container, name, dict(headers), json.loads(body)))
        self.called.set()
        if self.gate is not None:
            await self.gate.wait()
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class World:
    def __init__(self, store: SQLiteStore, keys: Keys, clock: Clock) -> None:
        self.store = store
        self.keys = keys
        self.clock = clock
        self.jobs = CronJobs(store, keys, clock)
        self.webtask = Webtask()

    def scheduler(self, node: str = "node-a", lease_s: float = LEASE_S) -> Scheduler:
        return Scheduler(
            self.store,
            self.webtask,
            node=node,
            run_timeout_s=RUN_TIMEOUT_S,
            lease_s=lease_s,
            clock=self.clock,
            poll_s=0.01,
            body_bytes=64,
        )

    async def webtask_token(self, name: str, **claims: Any) -> str:
        token = tokens.sign(
            {"jti": tokens.new_jti(), "ca": ["root"], "ten": "c", "jtn": name, **claims},
            self.keys,
        )
        await self.store.put_webtask(
            WebtaskRecord(
                container="c",
                name=name,
                code="def run(ctx, cb): cb(None, {})",
                meta_sealed="",
                meta_index=(),
                secrets_sealed=None,
                token=token,
            )
        )
        return token

    async def job(self, name: str = "job", schedule: str = "* * * * *", **claims: Any) -> str:
        token = await self.webtask_token(name, **claims)
        await self.jobs.put("c", name, {"schedule": schedule, "meta": {"team": "blue"}})
        return token


def run_async(fn: Callable[[World], Awaitable[None]]) -> Callable[[Path], None]:
    def test(tmp_path: Path) -> None:
        async def main() -> None:
            store = SQLiteStore(tmp_path / "wthost.db")
            await store.open()
            try:
                await fn(World(store, load_or_create_keys(tmp_path), Clock(T0)))
            finally:
                await store.close()

        asyncio.run(main())

    test.__name__ = fn.__name__
    test.__doc__ = fn.__doc__
    return test


@run_async
async def test_nothing_fires_before_the_next_run(world: World) -> None:
    await world.job()
    assert await world.scheduler().tick(MINUTE - 0.001) == []
    assert world.webtask.calls == []


@run_async
async def test_a_due_run_posts_the_job_record_with_the_job_token(world: World) -> None:
    token = await world.job()
    world.webtask.answer = Delivery(200, {"content-type": "application/json"}, b'{"ok":true}')
    world.clock.now = MINUTE + 0.5
    [run] = await world.scheduler().tick(world.clock.now)
    [(container, name, headers, body)] = world.webtask.calls
    assert (container, name) == ("c", "job")
    assert headers == {
        "authorization": f"Bearer {token}",
        "content-type": "application/json",
        "user-agent": "wthost-cron",
    }
    assert body == {
        "container": "c",
        "name": "job",
        "state": "active",
        "schedule": "* * * * *",
        "tz": "UTC",
        "token": token,
        "meta": {"team": "blue"},
        "created_at": "2024-05-01T10:00:30.000Z",
        "next_available_at": "2024-05-01T10:02:00.000Z",
        "run_count": 0,
        "error_count": 0,
        "results": [],
    }
    assert run is not None
    assert (run.scheduled_at, run.started_at, run.type, run.status_code, run.body) == (
        MINUTE,
        MINUTE + 0.5,
        "success",
        200,
        '{"ok":true}',
    )
    assert json.loads(run.headers[STATS_HEADER])["node"] == "node-a"
    job = await world.jobs.get("c", "job")
    assert (job.run_count, job.error_count, job.next_run_at) == (1, 0, MINUTE + 60)
    assert job.last_run == run
    assert job.lease is None
    assert await world.jobs.history("c", "job", 0, 10) == [run]


@run_async
async def test_missed_runs_fire_once_and_the_schedule_resumes_from_now(world: World) -> None:
    """The server was down for 10 minutes: one catch-up run, not ten."""
    await world.job()
    world.clock.now = MINUTE + 600 + 5
    scheduler = world.scheduler()
    [run] = await scheduler.tick(world.clock.now)
    assert run is not None
    assert run.scheduled_at == MINUTE  # the first missed run, fired late
    assert await scheduler.tick(world.clock.now) == []
    job = await world.jobs.get("c", "job")
    assert job.next_run_at == MINUTE + 660
    assert job.run_count == 1


@run_async
async def test_an_error_status_is_an_error_run(world: World) -> None:
    await world.job()
    world.webtask.answer = Delivery(500, {}, b'{"code":500}')
    [run] = await world.scheduler().tick(MINUTE)
    assert run is not None
    assert (run.type, run.status_code, run.body) == ("error", 500, '{"code":500}')
    job = await world.jobs.get("c", "job")
    assert (job.run_count, job.error_count) == (1, 1)


@run_async
async def test_a_call_that_fails_is_an_error_run_without_status(world: World) -> None:
    await world.job()
    world.webtask.answer = RuntimeError("the app broke")
    [run] = await world.scheduler().tick(MINUTE)
    assert run is not None
    assert (run.type, run.status_code) == ("error", None)
    assert run.body == "The webtask could not be called: RuntimeError."


@run_async
async def test_a_webtask_that_does_not_answer_in_time_is_an_error_run(world: World) -> None:
    await world.job()
    world.webtask.gate = asyncio.Event()  # never set
    scheduler = world.scheduler()
    scheduler.run_timeout_s = 0.05
    [run] = await scheduler.tick(MINUTE)
    assert run is not None
    assert (run.type, run.status_code) == ("error", None)
    assert run.body == "The webtask did not answer within 0.05 s."


@run_async
async def test_the_body_kept_in_history_is_capped(world: World) -> None:
    await world.job()
    world.webtask.answer = Delivery(200, {}, "é".encode() * 100)
    [run] = await world.scheduler().tick(MINUTE)
    assert run is not None
    assert run.body == "é" * 32  # 64 bytes


@run_async
async def test_history_keeps_the_newest_runs_newest_first(world: World) -> None:
    await world.job()
    scheduler = world.scheduler()
    for minute in range(HISTORY_KEPT + 5):
        world.clock.now = MINUTE + 60 * minute
        assert len(await scheduler.tick(world.clock.now)) == 1
    runs = await world.jobs.history("c", "job", 0, 1000)
    assert len(runs) == HISTORY_KEPT
    assert runs[0].scheduled_at == MINUTE + 60 * (HISTORY_KEPT + 4)
    assert runs[-1].scheduled_at == MINUTE + 60 * 5
    page = await world.jobs.history("c", "job", 1, 2)
    assert [r.scheduled_at for r in page] == [r.scheduled_at for r in runs[1:3]]
    job = await world.jobs.get("c", "job")
    assert job.run_count == HISTORY_KEPT + 5


@run_async
async def test_a_run_whose_node_stalls_is_fired_again_by_another_node(world: World) -> None:
    """Node A claims the run and hangs; B fires the same run once A's lease has lapsed, and
    A's late result is dropped."""
    await world.job()
    world.webtask.gate = asyncio.Event()
    node_a, node_b = world.scheduler("node-a"), world.scheduler("node-b")
    world.clock.now = MINUTE
    stalled = asyncio.ensure_future(node_a.tick(MINUTE))
    await world.webtask.called.wait()
    assert await node_b.tick(MINUTE + LEASE_S - 1) == []  # A's lease still holds
    world.webtask.gate.set()
    world.webtask.gate = None
    world.clock.now = MINUTE + LEASE_S + 1
    # B takes over the run first; the job's next run (10:02) is not due yet.
    world.webtask.answer = Delivery(202, {}, b"from b")
    [retried] = await node_b.tick(world.clock.now)
    assert retried is not None
    assert (retried.scheduled_at, retried.status_code) == (MINUTE, 202)
    await stalled  # A finishes after losing its lease
    runs = await world.jobs.history("c", "job", 0, 10)
    assert [(r.scheduled_at, r.body) for r in runs] == [(MINUTE, "from b")]
    assert json.loads(runs[0].headers[STATS_HEADER])["node"] == "node-b"
    assert len(world.webtask.calls) == 2


@run_async
async def test_runs_of_one_job_never_overlap(world: World) -> None:
    await world.job()
    world.webtask.gate = asyncio.Event()
    scheduler = world.scheduler(lease_s=300)  # runs may take minutes (long rule timeouts)
    first = asyncio.ensure_future(scheduler.tick(MINUTE))
    await world.webtask.called.wait()
    # The next minute comes while the first run is still going: it waits for it.
    assert await scheduler.tick(MINUTE + 60) == []
    world.webtask.gate.set()
    await first
    [second] = await scheduler.tick(MINUTE + 61)
    assert second is not None
    assert second.scheduled_at == MINUTE + 60


def test_two_stores_on_one_file_never_claim_the_same_run(tmp_path: Path) -> None:
    """Two connections (as two processes would have) claim at once: each run goes to one."""

    async def main() -> None:
        stores = [SQLiteStore(tmp_path / "wthost.db") for _ in range(2)]
        for store in stores:
            await store.open()
        try:
            world = World(stores[0], load_or_create_keys(tmp_path), Clock(T0))
            names = [f"job{i}" for i in range(10)]
            for name in names:
                await world.job(name)
            claims = await asyncio.gather(
                *(
                    stores[i % 2].claim_cron_run(MINUTE, f"node{i}", LEASE_S, lambda j, now: 1e10)
                    for i in range(16)
                )
            )
            taken = sorted(c.job.name for c in claims if c is not None)
            assert taken == names
        finally:
            for store in stores:
                await store.close()

    asyncio.run(main())


@run_async
async def test_a_job_whose_token_expired_stops(world: World) -> None:
    await world.job(exp=int(MINUTE + 30))
    assert await world.scheduler().tick(MINUTE) != []
    assert await world.scheduler().tick(MINUTE + 60) == [None]
    assert len(world.webtask.calls) == 1
    job = await world.jobs.get("c", "job")
    assert job.state == "expired"
    assert job.run_count == 1
    assert await world.scheduler().tick(MINUTE + 120) == []


@run_async
async def test_a_job_whose_token_was_revoked_becomes_invalid(world: World) -> None:
    token = await world.job()
    await world.store.revoke(tokens.decode_unverified(token)["jti"], T0)
    assert await world.scheduler().tick(MINUTE) == [None]
    assert world.webtask.calls == []
    assert (await world.jobs.get("c", "job")).state == "invalid"


@run_async
async def test_an_inactive_job_waits_and_reactivation_skips_the_pause(world: World) -> None:
    await world.job()
    await world.jobs.set_state("c", "job", {"state": "inactive"})
    scheduler = world.scheduler()
    assert await scheduler.tick(MINUTE + 300) == []
    world.clock.now = MINUTE + 300 + 5
    job = await world.jobs.set_state("c", "job", {"state": "active"})
    assert job.next_run_at == MINUTE + 360
    assert await scheduler.tick(world.clock.now) == []
    assert len(await scheduler.tick(MINUTE + 360)) == 1


@run_async
async def test_the_loop_fires_due_runs_on_its_own(world: World) -> None:
    await world.job()
    world.clock.now = MINUTE
    scheduler = world.scheduler()
    await scheduler.start()
    try:
        for _ in range(500):
            if (await world.jobs.get("c", "job")).run_count:
                break
            await asyncio.sleep(0.01)
    finally:
        await scheduler.close()
    assert len(world.webtask.calls) == 1
    assert (await world.jobs.get("c", "job")).run_count == 1


@run_async
async def test_closing_cancels_runs_in_flight_and_they_fire_again_later(world: World) -> None:
    await world.job()
    world.webtask.gate = asyncio.Event()
    world.clock.now = MINUTE
    scheduler = world.scheduler()
    await scheduler.start()
    await world.webtask.called.wait()
    await scheduler.close(grace_s=0.01)
    job = await world.jobs.get("c", "job")
    assert job.run_count == 0
    assert job.lease is not None
    assert job.lease.scheduled_at == MINUTE
    world.webtask.gate = None
    [again] = await world.scheduler("restarted").tick(MINUTE + LEASE_S + 1)
    assert isinstance(again, CronRun)
    assert again.scheduled_at == MINUTE


def test_a_lease_shorter_than_the_run_timeout_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="The lease must outlast the run timeout"):
        Scheduler(
            SQLiteStore(tmp_path / "x.db"),
            Webtask(),
            node="n",
            run_timeout_s=10,
            lease_s=10,
        )


@run_async
async def test_a_run_that_cannot_be_recorded_fires_again_after_its_lease(world: World) -> None:
    await world.job()
    real_finish = world.store.finish_cron_run
    failures = [RuntimeError("database is gone")]

    async def finish(*args: Any) -> bool:
        if failures:
            raise failures.pop()
        return await real_finish(*args)

    world.store.finish_cron_run = finish  # type: ignore[method-assign,assignment]
    assert await world.scheduler().tick(MINUTE) == [None]
    assert (await world.jobs.get("c", "job")).run_count == 0
    [again] = await world.scheduler().tick(MINUTE + LEASE_S + 1)
    assert again is not None
    assert again.scheduled_at == MINUTE
    assert (await world.jobs.get("c", "job")).run_count == 1
    assert len(world.webtask.calls) == 2
