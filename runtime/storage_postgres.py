"""Webtask storage for ``PostgresStore``: plain coroutines of an asyncpg connection.

The same contract as ``runtime/storage_sqlite.py``. A write is one transaction that locks the
document's row (``FOR UPDATE``) before it compares etags; the first write of a document races
other first writes on the primary key and retries as an update when it loses.
"""

from __future__ import annotations

import time

import asyncpg

from runtime.store import StorageConflict, StorageDocument, check_etag

# Migration 3 of runtime/pg_schema.py. The document belongs to its webtask.
SCHEMA = """
CREATE TABLE webtask_storage (
    container TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    data TEXT,
    etag BIGINT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (container, name),
    FOREIGN KEY (container, name) REFERENCES webtasks (container, name) ON DELETE CASCADE
);
"""
_SELECT = "SELECT data, etag FROM webtask_storage WHERE container = $1 AND name = $2"


async def get(db: asyncpg.Connection, container: str, name: str) -> StorageDocument | None:
    row = await db.fetchrow(_SELECT, container, name)
    return None if row is None else StorageDocument(data=row["data"], etag=int(row["etag"]))


async def put(
    db: asyncpg.Connection,
    container: str,
    name: str,
    data: str | None,
    etag: int | None,
    force: bool,
) -> int | None:
    for _ in range(3):
        try:
            written = await _attempt(db, container, name, data, etag, force)
        except asyncpg.ForeignKeyViolationError:
            return None  # no such webtask
        if written is not None:
            return written
        # Another first write won the row: read it again, now locked, and compare.
    raise StorageConflict(await get(db, container, name))


async def _attempt(
    db: asyncpg.Connection,
    container: str,
    name: str,
    data: str | None,
    etag: int | None,
    force: bool,
) -> int | None:
    """One transaction: the new etag, or None when a concurrent first write took the row."""
    async with db.transaction():
        row = await db.fetchrow(_SELECT + " FOR UPDATE", container, name)
        current = None if row is None else StorageDocument(data=row["data"], etag=int(row["etag"]))
        check_etag(current, etag, force)
        if current is not None:
            await db.execute(
                "UPDATE webtask_storage SET data = $3, etag = $4, updated_at = $5"
                " WHERE container = $1 AND name = $2",
                container,
                name,
                data,
                current.etag + 1,
                time.time(),
            )
            return current.etag + 1
        inserted: int | None = await db.fetchval(
            "INSERT INTO webtask_storage (container, name, data, etag, updated_at)"
            " VALUES ($1, $2, $3, 1, $4) ON CONFLICT DO NOTHING RETURNING etag",
            container,
            name,
            data,
            time.time(),
        )
        return inserted
