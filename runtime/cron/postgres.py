"""Cron tables and queries for ``PostgresStore``: plain coroutines of an asyncpg connection.

The same contract as ``runtime/cron/sqlite.py``. A claim is one transaction that picks the most
overdue row with ``FOR UPDATE SKIP LOCKED``: nodes claiming at once each lock a different job
(or find none), so every run fires on exactly one node; a node that dies mid-run leaves its
lease behind, and the run is claimed again (``retry``) once the lease runs out.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg

from runtime.cron.records import CronClaim, CronJob, CronRun, CronState, Lease

# Migration 2 of runtime/pg_schema.py. A job belongs to its webtask, runs to their job.
SCHEMA = """
CREATE TABLE cron_jobs (
    container TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    schedule TEXT NOT NULL,
    tz TEXT NOT NULL,
    state TEXT NOT NULL,
    token TEXT NOT NULL,
    meta TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    next_run_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION,
    run_count INTEGER NOT NULL DEFAULT 0,
    error_count INTEGER NOT NULL DEFAULT 0,
    last_run TEXT,
    lease_node TEXT,
    lease_until DOUBLE PRECISION,
    lease_scheduled_at DOUBLE PRECISION,
    PRIMARY KEY (container, name),
    FOREIGN KEY (container, name) REFERENCES webtasks (container, name) ON DELETE CASCADE
);
CREATE INDEX cron_jobs_due ON cron_jobs (next_run_at) WHERE state = 'active';
CREATE INDEX cron_jobs_lease ON cron_jobs (lease_until) WHERE lease_node IS NOT NULL;
CREATE TABLE cron_runs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    container TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    scheduled_at DOUBLE PRECISION NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    completed_at DOUBLE PRECISION NOT NULL,
    type TEXT NOT NULL,
    status_code INTEGER,
    body TEXT NOT NULL,
    headers TEXT NOT NULL,
    FOREIGN KEY (container, name) REFERENCES cron_jobs (container, name) ON DELETE CASCADE
);
CREATE INDEX cron_runs_job ON cron_runs (container, name, id);
"""

COLUMNS = (
    "container, name, schedule, tz, state, token, meta, created_at, updated_at, next_run_at,"
    " expires_at, run_count, error_count, last_run, lease_node, lease_until, lease_scheduled_at"
)
RUN_COLUMNS = "scheduled_at, started_at, completed_at, type, status_code, body, headers"
DUE = (
    "(state = 'active' AND lease_node IS NULL AND next_run_at <= $1)"
    " OR (lease_node IS NOT NULL AND lease_until <= $1)"
)


async def put_job(db: asyncpg.Connection, job: CronJob) -> CronJob | None:
    try:
        row = await db.fetchrow(
            f"INSERT INTO cron_jobs ({COLUMNS}) VALUES"
            " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, 0, NULL, NULL, NULL, NULL)"
            " ON CONFLICT (container, name) DO UPDATE SET schedule = excluded.schedule,"
            " tz = excluded.tz, state = excluded.state, token = excluded.token,"
            " meta = excluded.meta, updated_at = excluded.updated_at,"
            " next_run_at = excluded.next_run_at, expires_at = excluded.expires_at"
            f" RETURNING {COLUMNS}",
            job.container,
            job.name,
            job.schedule,
            job.tz,
            job.state,
            job.token,
            json.dumps(dict(job.meta)),
            job.created_at,
            job.updated_at,
            job.next_run_at,
            job.expires_at,
        )
    except asyncpg.ForeignKeyViolationError:
        return None
    return _job(row)


async def get_job(db: asyncpg.Connection, container: str, name: str) -> CronJob | None:
    row = await db.fetchrow(
        f"SELECT {COLUMNS} FROM cron_jobs WHERE container = $1 AND name = $2", container, name
    )
    return None if row is None else _job(row)


async def list_jobs(
    db: asyncpg.Connection, container: str, meta: Mapping[str, str], offset: int, limit: int
) -> list[CronJob]:
    # Meta values are strings, so containment is exactly "every pair matches".
    rows = await db.fetch(
        f"SELECT {COLUMNS} FROM cron_jobs WHERE container = $1 AND meta::jsonb @> $2::jsonb"
        " ORDER BY name LIMIT $3 OFFSET $4",
        container,
        json.dumps(dict(meta)),
        limit,
        offset,
    )
    return [_job(row) for row in rows]


async def set_state(
    db: asyncpg.Connection,
    container: str,
    name: str,
    state: CronState,
    next_run_at: float,
    at: float,
) -> CronJob | None:
    row = await db.fetchrow(
        "UPDATE cron_jobs SET state = $1, next_run_at = $2, updated_at = $3"
        f" WHERE container = $4 AND name = $5 RETURNING {COLUMNS}",
        state,
        next_run_at,
        at,
        container,
        name,
    )
    return None if row is None else _job(row)


async def delete_job(db: asyncpg.Connection, container: str, name: str) -> bool:
    status: str = await db.execute(
        "DELETE FROM cron_jobs WHERE container = $1 AND name = $2", container, name
    )
    return status != "DELETE 0"


async def history(
    db: asyncpg.Connection, container: str, name: str, offset: int, limit: int
) -> list[CronRun] | None:
    async with db.transaction(isolation="repeatable_read", readonly=True):
        if await get_job(db, container, name) is None:
            return None
        rows = await db.fetch(
            f"SELECT {RUN_COLUMNS} FROM cron_runs WHERE container = $1 AND name = $2"
            " ORDER BY id DESC LIMIT $3 OFFSET $4",
            container,
            name,
            limit,
            offset,
        )
    return [_run(row) for row in rows]


async def claim(
    db: asyncpg.Connection,
    now: float,
    node: str,
    lease_s: float,
    advance: Callable[[CronJob, float], float | None],
) -> CronClaim | None:
    async with db.transaction():
        row = await db.fetchrow(
            f"SELECT {COLUMNS} FROM cron_jobs WHERE {DUE}"
            " ORDER BY coalesce(lease_until, next_run_at) LIMIT 1 FOR UPDATE SKIP LOCKED",
            now,
        )
        if row is None:
            return None
        job = _job(row)
        if job.lease is not None:
            lease = Lease(node=node, until=now + lease_s, scheduled_at=job.lease.scheduled_at)
            await _lease(db, job, lease)
            return CronClaim(job=dataclasses.replace(job, lease=lease), lease=lease, retry=True)
        lease = Lease(node=node, until=now + lease_s, scheduled_at=job.next_run_at)
        following = advance(job, now)
        if following is None:
            job = dataclasses.replace(job, state="invalid", lease=lease)
        else:
            job = dataclasses.replace(job, next_run_at=following, lease=lease)
        await db.execute(
            "UPDATE cron_jobs SET state = $1, next_run_at = $2 WHERE container = $3 AND name = $4",
            job.state,
            job.next_run_at,
            job.container,
            job.name,
        )
        await _lease(db, job, lease)
        return CronClaim(job=job, lease=lease)


async def finish(
    db: asyncpg.Connection,
    claimed: CronClaim,
    run: CronRun | None,
    state: CronState | None,
    keep: int,
) -> bool:
    job, lease = claimed.job, claimed.lease
    key = (job.container, job.name)
    async with db.transaction():
        held = await db.fetchval(
            "SELECT 1 FROM cron_jobs WHERE container = $1 AND name = $2 AND lease_node = $3"
            " AND lease_until = $4 AND lease_scheduled_at = $5 FOR UPDATE",
            *key,
            lease.node,
            lease.until,
            lease.scheduled_at,
        )
        if held is None:
            return False
        if run is not None:
            await db.execute(
                f"INSERT INTO cron_runs (container, name, {RUN_COLUMNS})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                *key,
                *_run_row(run),
            )
            await db.execute(
                "DELETE FROM cron_runs WHERE container = $1 AND name = $2 AND id NOT IN"
                " (SELECT id FROM cron_runs WHERE container = $1 AND name = $2"
                " ORDER BY id DESC LIMIT $3)",
                *key,
                keep,
            )
            await db.execute(
                "UPDATE cron_jobs SET run_count = run_count + 1,"
                " error_count = error_count + $1, last_run = $2"
                " WHERE container = $3 AND name = $4",
                int(run.type == "error"),
                json.dumps(run.to_json()),
                *key,
            )
        await db.execute(
            "UPDATE cron_jobs SET state = coalesce($1, state), lease_node = NULL,"
            " lease_until = NULL, lease_scheduled_at = NULL WHERE container = $2 AND name = $3",
            state,
            *key,
        )
    return True


async def _lease(db: asyncpg.Connection, job: CronJob, lease: Lease) -> None:
    await db.execute(
        "UPDATE cron_jobs SET lease_node = $1, lease_until = $2, lease_scheduled_at = $3"
        " WHERE container = $4 AND name = $5",
        lease.node,
        lease.until,
        lease.scheduled_at,
        job.container,
        job.name,
    )


def _job(row: asyncpg.Record) -> CronJob:
    lease_node = row["lease_node"]
    last_run = row["last_run"]
    return CronJob(
        container=row["container"],
        name=row["name"],
        schedule=row["schedule"],
        tz=row["tz"],
        state=row["state"],
        token=row["token"],
        meta=json.loads(row["meta"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        next_run_at=row["next_run_at"],
        expires_at=row["expires_at"],
        run_count=row["run_count"],
        error_count=row["error_count"],
        last_run=None if last_run is None else CronRun.from_json(json.loads(last_run)),
        lease=None
        if lease_node is None
        else Lease(
            node=lease_node, until=row["lease_until"], scheduled_at=row["lease_scheduled_at"]
        ),
    )


def _run_row(run: CronRun) -> tuple[Any, ...]:
    return (
        run.scheduled_at,
        run.started_at,
        run.completed_at,
        run.type,
        run.status_code,
        run.body,
        json.dumps(dict(run.headers)),
    )


def _run(row: asyncpg.Record) -> CronRun:
    return CronRun(
        scheduled_at=row["scheduled_at"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        type=row["type"],
        status_code=row["status_code"],
        body=row["body"],
        headers=json.loads(row["headers"]),
    )
