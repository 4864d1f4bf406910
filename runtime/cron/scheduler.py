"""The in-server scheduler: claims due runs from the store and POSTs each job to its webtask.

Every node may run one; the store hands each run to exactly one of them (``claim_cron_run``).
A claimed run is leased: if its node dies or hangs, another node fires it again once the lease
runs out, so no run is lost (a run cut off mid-way may fire twice: at-least-once).

Missed runs are not replayed in a burst: a job whose next run passed while no node was up fires
once when a node is back (that run keeps its original ``scheduled_at``), and then follows its
schedule from the present. Runs of one job never overlap: the next is claimed after the
current one has finished, once at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping

from runtime import tokens
from runtime.cron.delivery import Delivery
from runtime.cron.jobs import describe, next_run, token_chain
from runtime.cron.records import HISTORY_KEPT, CronClaim, CronRun, CronState
from runtime.store import Store

logger = logging.getLogger(__name__)

Deliver = Callable[[str, str, Mapping[str, str], bytes], Awaitable[Delivery]]
STATS_HEADER = "x-auth0-proxy-stats"
CATCH_UP_LOG_S = 60.0


def node_id() -> str:
    """Names this process in leases and run stats: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Scheduler:
    """Fires due cron runs. ``tick(now)`` does one round and waits for its runs (tests drive
    the clock through it); ``start()`` runs rounds every ``poll_s`` on the real clock."""

    def __init__(
        self,
        store: Store,
        deliver: Deliver,
        *,
        node: str,
        run_timeout_s: float,
        lease_s: float,
        clock: Callable[[], float] = time.time,
        poll_s: float = 1.0,
        concurrency: int = 4,
        body_bytes: int = 4096,
        keep: int = HISTORY_KEPT,
    ) -> None:
        if lease_s <= run_timeout_s:
            raise ValueError("The lease must outlast the run timeout, or runs would fire twice.")
        self.store = store
        self.deliver = deliver
        self.node = node
        self.run_timeout_s = run_timeout_s
        self.lease_s = lease_s
        self.clock = clock
        self.poll_s = poll_s
        self.body_bytes = body_bytes
        self.keep = keep
        self._slots = asyncio.Semaphore(concurrency)
        self._running: set[asyncio.Task[CronRun | None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> None:
        self._loop_task = asyncio.create_task(self._loop(), name="cron-scheduler")

    async def close(self, grace_s: float = 5.0) -> None:
        """Stop claiming; give runs in flight ``grace_s``, then cancel them (they keep their
        leases, so a node fires them again once the leases run out)."""
        self._closing = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def tick(self, now: float) -> list[CronRun | None]:
        """Fire every run due at ``now``; the finished runs (None: expired or revoked job)."""
        return list(await asyncio.gather(*await self._dispatch(now)))

    async def _loop(self) -> None:
        while True:
            try:
                await self._dispatch(None)
            except Exception:
                logger.exception("cron: looking for due runs failed; retrying")
            await asyncio.sleep(self.poll_s)

    async def _dispatch(self, at: float | None) -> list[asyncio.Task[CronRun | None]]:
        """Claim and start due runs while slots are free; ``at`` None reads the clock for each
        claim (a claim made after waiting for a slot must not start its lease in the past)."""
        started: list[asyncio.Task[CronRun | None]] = []
        while not self._closing:
            await self._slots.acquire()
            now = self.clock() if at is None else at
            try:
                claim = await self.store.claim_cron_run(now, self.node, self.lease_s, next_run)
            except BaseException:
                self._slots.release()
                raise
            if claim is None:
                self._slots.release()
                break
            task = asyncio.create_task(self._fire(claim, now))
            self._running.add(task)
            task.add_done_callback(self._done)
            started.append(task)
        return started

    def _done(self, task: asyncio.Task[CronRun | None]) -> None:
        self._running.discard(task)
        self._slots.release()

    async def _fire(self, claim: CronClaim, now: float) -> CronRun | None:
        try:
            return await self._fire_claimed(claim, now)
        except Exception:
            # The lease stays: the run fires again once it lapses.
            logger.exception("cron: the run of %s/%s failed", claim.job.container, claim.job.name)
            return None

    async def _fire_claimed(self, claim: CronClaim, now: float) -> CronRun | None:
        job, lease = claim.job, claim.lease
        where = f"{job.container}/{job.name}"
        stop = await self._stop_state(claim, now)
        if stop is not None:
            logger.warning("cron: %s is %s; it no longer runs", where, stop)
            await self.store.finish_cron_run(claim, None, stop, self.keep)
            return None
        if claim.retry:
            logger.warning(
                "cron: firing %s again: the node that claimed it let its lease lapse", where
            )
        elif now - lease.scheduled_at > CATCH_UP_LOG_S:
            logger.info(
                "cron: %s fires once for runs missed since %.0f s ago; the others are skipped",
                where,
                now - lease.scheduled_at,
            )
        run = await self._call(claim, self.clock())
        if not await self.store.finish_cron_run(claim, run, None, self.keep):
            logger.warning(
                "cron: the run of %s finished after the job was removed or taken over; "
                "its result is dropped",
                where,
            )
        return run

    async def _stop_state(self, claim: CronClaim, now: float) -> CronState | None:
        """``expired`` once the job token's ``exp`` has passed; ``invalid`` once it is revoked."""
        job = claim.job
        if job.expires_at is not None and now >= job.expires_at:
            return "expired"
        try:
            claims = tokens.decode_unverified(job.token)
        except tokens.TokenError:
            return "invalid"
        if await self.store.revoked(token_chain(claims)):
            return "invalid"
        return None

    async def _call(self, claim: CronClaim, started: float) -> CronRun:
        job = claim.job
        payload = json.dumps(describe(job, started), separators=(",", ":")).encode()
        headers = {
            "authorization": f"Bearer {job.token}",
            "content-type": "application/json",
            "user-agent": "wthost-cron",
        }
        status: int | None = None
        answer: dict[str, str] = {}
        body: bytes
        try:
            async with asyncio.timeout(self.run_timeout_s):
                delivery = await self.deliver(job.container, job.name, headers, payload)
        except TimeoutError:
            body = f"The webtask did not answer within {self.run_timeout_s:g} s.".encode()
        except Exception as exc:
            logger.exception("cron: calling %s/%s failed", job.container, job.name)
            body = f"The webtask could not be called: {type(exc).__name__}.".encode()
        else:
            status, answer, body = delivery.status, dict(delivery.headers), delivery.body
        completed = self.clock()
        answer[STATS_HEADER] = json.dumps(
            {"node": self.node, "latency": round((completed - started) * 1000, 3)}
        )
        return CronRun(
            scheduled_at=claim.lease.scheduled_at,
            started_at=started,
            completed_at=completed,
            type="success" if status is not None and 200 <= status < 300 else "error",
            status_code=status,
            body=body[: self.body_bytes].decode("utf-8", "replace"),
            headers=answer,
        )
