"""Cron tables and queries for ``SQLiteStore``: plain functions of a ``sqlite3.Connection``.

``SQLiteStore`` runs them in its worker thread under its lock; each writer opens its own
``BEGIN IMMEDIATE`` transaction, so a claim is atomic even between processes sharing the file.
The PostgreSQL store does the same with ``SELECT … FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from runtime.cron.records import CronClaim, CronJob, CronRun, CronState, Lease

# A job belongs to its webtask: deleting the webtask deletes the job and its history.
SCHEMA = """
CREATE TABLE IF NOT EXISTS cron_jobs (
    container TEXT NOT NULL,
    name TEXT NOT NULL,
    schedule TEXT NOT NULL,
    tz TEXT NOT NULL,
    state TEXT NOT NULL,
    token TEXT NOT NULL,
    meta TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    next_run_at REAL NOT NULL,
    expires_at REAL,
    run_count INTEGER NOT NULL DEFAULT 0,
    error_count INTEGER NOT NULL DEFAULT 0,
    last_run TEXT,
    lease_node TEXT,
    lease_until REAL,
    lease_scheduled_at REAL,
    PRIMARY KEY (container, name),
    FOREIGN KEY (container, name) REFERENCES webtasks (container, name) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS cron_jobs_due ON cron_jobs (state, next_run_at);
CREATE INDEX IF NOT EXISTS cron_jobs_lease ON cron_jobs (lease_until) WHERE lease_node IS NOT NULL;
CREATE TABLE IF NOT EXISTS cron_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    container TEXT NOT NULL,
    name TEXT NOT NULL,
    scheduled_at REAL NOT NULL,
    started_at REAL NOT NULL,
    completed_at REAL NOT NULL,
    type TEXT NOT NULL,
    status_code INTEGER,
    body TEXT NOT NULL,
    headers TEXT NOT NULL,
    FOREIGN KEY (container, name) REFERENCES cron_jobs (container, name) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS cron_runs_job ON cron_runs (container, name, id);
"""

COLUMNS = (
    "container, name, schedule, tz, state, token, meta, created_at, updated_at, next_run_at,"
    " expires_at, run_count, error_count, last_run, lease_node, lease_until, lease_scheduled_at"
)
RUN_COLUMNS = "scheduled_at, started_at, completed_at, type, status_code, body, headers"
# Due: an active job whose next run has come, or any job whose lease ran out (its node died
# or hung mid-run: the run it claimed is fired again).
DUE = (
    "(state = 'active' AND lease_node IS NULL AND next_run_at <= :now)"
    " OR (lease_node IS NOT NULL AND lease_until <= :now)"
)


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def put_job(db: sqlite3.Connection, job: CronJob) -> CronJob | None:
    """Insert or replace; counters, history, ``created_at`` and a lease survive a replace.
    None when the webtask does not exist."""
    with transaction(db):
        try:
            db.execute(
                f"INSERT INTO cron_jobs ({COLUMNS}) VALUES"
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, NULL, NULL, NULL, NULL)"
                " ON CONFLICT (container, name) DO UPDATE SET schedule = excluded.schedule,"
                " tz = excluded.tz, state = excluded.state, token = excluded.token,"
                " meta = excluded.meta, updated_at = excluded.updated_at,"
                " next_run_at = excluded.next_run_at, expires_at = excluded.expires_at",
                (
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
                ),
            )
        except sqlite3.IntegrityError:
            return None
        return get_job(db, job.container, job.name)


def get_job(db: sqlite3.Connection, container: str, name: str) -> CronJob | None:
    row = db.execute(
        f"SELECT {COLUMNS} FROM cron_jobs WHERE container = ? AND name = ?", (container, name)
    ).fetchone()
    return None if row is None else _job(row)


def list_jobs(
    db: sqlite3.Connection, container: str, meta: Mapping[str, str], offset: int, limit: int
) -> list[CronJob]:
    clauses = ["container = ?"]
    params: list[Any] = [container]
    for key, value in meta.items():
        clauses.append("EXISTS (SELECT 1 FROM json_each(meta) m WHERE m.key = ? AND m.value = ?)")
        params.extend((key, value))
    rows = db.execute(
        f"SELECT {COLUMNS} FROM cron_jobs WHERE {' AND '.join(clauses)} ORDER BY name"
        " LIMIT ? OFFSET ?",
        [*params, limit, offset],
    ).fetchall()
    return [_job(row) for row in rows]


def set_state(
    db: sqlite3.Connection,
    container: str,
    name: str,
    state: CronState,
    next_run_at: float,
    at: float,
) -> CronJob | None:
    with transaction(db):
        db.execute(
            "UPDATE cron_jobs SET state = ?, next_run_at = ?, updated_at = ?"
            " WHERE container = ? AND name = ?",
            (state, next_run_at, at, container, name),
        )
        return get_job(db, container, name)


def delete_job(db: sqlite3.Connection, container: str, name: str) -> bool:
    cursor = db.execute("DELETE FROM cron_jobs WHERE container = ? AND name = ?", (container, name))
    return cursor.rowcount > 0


def history(
    db: sqlite3.Connection, container: str, name: str, offset: int, limit: int
) -> list[CronRun] | None:
    if get_job(db, container, name) is None:
        return None
    rows = db.execute(
        f"SELECT {RUN_COLUMNS} FROM cron_runs WHERE container = ? AND name = ?"
        " ORDER BY id DESC LIMIT ? OFFSET ?",
        (container, name, limit, offset),
    ).fetchall()
    return [_run(row) for row in rows]


def claim(
    db: sqlite3.Connection,
    now: float,
    node: str,
    lease_s: float,
    advance: Callable[[CronJob, float], float | None],
) -> CronClaim | None:
    """Take the most overdue run, lease it to ``node`` and move the job's next run on, in one
    transaction. ``advance(job, now)`` gives the next run, or None when there is none."""
    # Most polls find nothing: look before taking the write lock.
    if db.execute(f"SELECT 1 FROM cron_jobs WHERE {DUE} LIMIT 1", {"now": now}).fetchone() is None:
        return None
    with transaction(db):
        row = db.execute(
            f"SELECT {COLUMNS} FROM cron_jobs WHERE {DUE}"
            " ORDER BY coalesce(lease_until, next_run_at) LIMIT 1",
            {"now": now},
        ).fetchone()
        if row is None:
            return None
        job = _job(row)
        if job.lease is not None:
            lease = Lease(node=node, until=now + lease_s, scheduled_at=job.lease.scheduled_at)
            _lease(db, job, lease)
            return CronClaim(job=dataclasses.replace(job, lease=lease), lease=lease, retry=True)
        lease = Lease(node=node, until=now + lease_s, scheduled_at=job.next_run_at)
        following = advance(job, now)
        if following is None:
            job = dataclasses.replace(job, state="invalid", lease=lease)
        else:
            job = dataclasses.replace(job, next_run_at=following, lease=lease)
        db.execute(
            "UPDATE cron_jobs SET state = ?, next_run_at = ? WHERE container = ? AND name = ?",
            (job.state, job.next_run_at, job.container, job.name),
        )
        _lease(db, job, lease)
        return CronClaim(job=job, lease=lease)


def finish(
    db: sqlite3.Connection,
    claimed: CronClaim,
    run: CronRun | None,
    state: CronState | None,
    keep: int,
) -> bool:
    """Record ``run`` (if any), set ``state`` (if given) and release the lease — only while
    the lease is still the one claimed; False when the job is gone or was taken over."""
    job, lease = claimed.job, claimed.lease
    key = (job.container, job.name)
    with transaction(db):
        held = db.execute(
            "SELECT 1 FROM cron_jobs WHERE container = ? AND name = ? AND lease_node = ?"
            " AND lease_until = ? AND lease_scheduled_at = ?",
            (*key, lease.node, lease.until, lease.scheduled_at),
        ).fetchone()
        if held is None:
            return False
        if run is not None:
            db.execute(
                f"INSERT INTO cron_runs (container, name, {RUN_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*key, *_run_row(run)),
            )
            db.execute(
                "DELETE FROM cron_runs WHERE container = ? AND name = ? AND id NOT IN"
                " (SELECT id FROM cron_runs WHERE container = ? AND name = ?"
                " ORDER BY id DESC LIMIT ?)",
                (*key, *key, keep),
            )
            db.execute(
                "UPDATE cron_jobs SET run_count = run_count + 1,"
                " error_count = error_count + ?, last_run = ?"
                " WHERE container = ? AND name = ?",
                (int(run.type == "error"), json.dumps(run.to_json()), *key),
            )
        db.execute(
            "UPDATE cron_jobs SET state = coalesce(?, state), lease_node = NULL,"
            " lease_until = NULL, lease_scheduled_at = NULL WHERE container = ? AND name = ?",
            (state, *key),
        )
    return True


def _lease(db: sqlite3.Connection, job: CronJob, lease: Lease) -> None:
    db.execute(
        "UPDATE cron_jobs SET lease_node = ?, lease_until = ?, lease_scheduled_at = ?"
        " WHERE container = ? AND name = ?",
        (lease.node, lease.until, lease.scheduled_at, job.container, job.name),
    )


def _job(row: tuple[Any, ...]) -> CronJob:
    (
        container,
        name,
        schedule,
        tz,
        state,
        token,
        meta,
        created_at,
        updated_at,
        next_run_at,
        expires_at,
        run_count,
        error_count,
        last_run,
        lease_node,
        lease_until,
        lease_scheduled_at,
    ) = row
    return CronJob(
        container=container,
        name=name,
        schedule=schedule,
        tz=tz,
        state=state,
        token=token,
        meta=json.loads(meta),
        created_at=created_at,
        updated_at=updated_at,
        next_run_at=next_run_at,
        expires_at=expires_at,
        run_count=run_count,
        error_count=error_count,
        last_run=None if last_run is None else CronRun.from_json(json.loads(last_run)),
        lease=None
        if lease_node is None
        else Lease(node=lease_node, until=lease_until, scheduled_at=lease_scheduled_at),
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


def _run(row: tuple[Any, ...]) -> CronRun:
    scheduled_at, started_at, completed_at, type_, status_code, body, headers = row
    return CronRun(
        scheduled_at=scheduled_at,
        started_at=started_at,
        completed_at=completed_at,
        type=type_,
        status_code=status_code,
        body=body,
        headers=json.loads(headers),
    )
