"""The embedded default ``Store``: one SQLite file (WAL) in the data dir.

sqlite3 calls run in a worker thread behind one lock so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from runtime.store import WebtaskRecord

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS webtasks (
    container TEXT NOT NULL,
    name TEXT NOT NULL,
    code TEXT NOT NULL,
    meta_sealed TEXT NOT NULL,
    secrets_sealed TEXT,
    token TEXT NOT NULL,
    claims TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (container, name)
);
CREATE TABLE IF NOT EXISTS webtask_meta (
    container TEXT NOT NULL,
    name TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (container, name, digest),
    FOREIGN KEY (container, name) REFERENCES webtasks (container, name) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS webtask_meta_digest ON webtask_meta (digest);
CREATE TABLE IF NOT EXISTS revocations (
    jti TEXT PRIMARY KEY,
    revoked_at REAL NOT NULL
);
"""


class SQLiteStore:
    """``Store`` on a local SQLite database file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)

        def connect() -> sqlite3.Connection:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.executescript(SCHEMA)
            return db

        self._db = await asyncio.to_thread(connect)
        self.path.chmod(0o600)

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await asyncio.to_thread(db.close)

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        db = self._db
        if db is None:
            raise RuntimeError("The store is not open.")

        def locked() -> T:
            with self._lock:
                return fn(db)

        return await asyncio.to_thread(locked)

    async def put_webtask(self, record: WebtaskRecord) -> None:
        def put(db: sqlite3.Connection) -> None:
            with _transaction(db):
                _put(db)

        def _put(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO webtasks (container, name, code, meta_sealed, secrets_sealed, token,"
                " claims,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (container, name) DO UPDATE SET code = excluded.code,"
                " meta_sealed = excluded.meta_sealed, secrets_sealed = excluded.secrets_sealed,"
                " token = excluded.token, claims = excluded.claims,"
                " updated_at = excluded.updated_at",
                (
                    record.container,
                    record.name,
                    record.code,
                    record.meta_sealed,
                    record.secrets_sealed,
                    record.token,
                    json.dumps(dict(record.claims)),
                    record.created_at,
                    record.updated_at,
                ),
            )
            db.execute(
                "DELETE FROM webtask_meta WHERE container = ? AND name = ?",
                (record.container, record.name),
            )
            db.executemany(
                "INSERT OR IGNORE INTO webtask_meta (container, name, digest) VALUES (?, ?, ?)",
                [(record.container, record.name, digest) for digest in record.meta_index],
            )

        await self._run(put)

    async def get_webtask(self, container: str, name: str) -> WebtaskRecord | None:
        def get(db: sqlite3.Connection) -> WebtaskRecord | None:
            row = db.execute(
                f"SELECT {COLUMNS} FROM webtasks WHERE container = ? AND name = ?",
                (container, name),
            ).fetchone()
            return None if row is None else _record(db, row)

        return await self._run(get)

    async def delete_webtask(self, container: str, name: str) -> bool:
        def delete(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "DELETE FROM webtasks WHERE container = ? AND name = ?", (container, name)
            )
            return cursor.rowcount > 0

        return await self._run(delete)

    async def list_webtasks(
        self, container: str | None, meta_digests: Sequence[str], offset: int, limit: int
    ) -> list[WebtaskRecord]:
        clauses: list[str] = []
        params: list[Any] = []
        if container is not None:
            clauses.append("w.container = ?")
            params.append(container)
        for digest in meta_digests:
            clauses.append(
                "EXISTS (SELECT 1 FROM webtask_meta m WHERE m.container = w.container"
                " AND m.name = w.name AND m.digest = ?)"
            )
            params.append(digest)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = (
            f"SELECT {COLUMNS} FROM webtasks w {where} ORDER BY w.container, w.name"
            " LIMIT ? OFFSET ?"
        )

        def select(db: sqlite3.Connection) -> list[WebtaskRecord]:
            rows = db.execute(sql, [*params, limit, offset]).fetchall()
            return [_record(db, row) for row in rows]

        return await self._run(select)

    async def revoke(self, jti: str, at: float) -> None:
        await self._run(
            lambda db: db.execute(
                "INSERT OR IGNORE INTO revocations (jti, revoked_at) VALUES (?, ?)", (jti, at)
            )
        )

    async def revoked(self, jtis: list[str]) -> bool:
        if not jtis:
            return False
        marks = ",".join("?" for _ in jtis)

        def check(db: sqlite3.Connection) -> bool:
            row = db.execute(f"SELECT 1 FROM revocations WHERE jti IN ({marks}) LIMIT 1", jtis)
            return row.fetchone() is not None

        return await self._run(check)


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


COLUMNS = (
    "container, name, code, meta_sealed, secrets_sealed, token, claims, created_at, updated_at"
)


def _record(db: sqlite3.Connection, row: tuple[Any, ...]) -> WebtaskRecord:
    container, name, code, meta, sealed, token, claims, created, updated = row
    digests = db.execute(
        "SELECT digest FROM webtask_meta WHERE container = ? AND name = ? ORDER BY digest",
        (container, name),
    ).fetchall()
    return WebtaskRecord(
        container=container,
        name=name,
        code=code,
        meta_sealed=meta,
        meta_index=tuple(d for (d,) in digests),
        secrets_sealed=sealed,
        token=token,
        claims=json.loads(claims),
        created_at=created,
        updated_at=updated,
    )
