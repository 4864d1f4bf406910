"""The embedded default ``Store``: one SQLite file (WAL) in the data dir.

sqlite3 calls run in a worker thread behind one lock so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from runtime import storage_sqlite
from runtime.cron import sqlite as cron_sql
from runtime.cron.records import CronClaim, CronJob, CronRun, CronState
from runtime.oauth.records import ApiRecord, ClientRecord, UserRecord
from runtime.sqlite_schema import CLUSTER_SCHEMA, OAUTH_SCHEMA, SCHEMA
from runtime.store import ExclusiveTaken, StorageDocument, WebtaskRecord

T = TypeVar("T")


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
            _migrate_exclusive(db)
            db.executescript(OAUTH_SCHEMA)
            db.executescript(CLUSTER_SCHEMA)
            db.executescript(cron_sql.SCHEMA)
            db.executescript(storage_sqlite.SCHEMA)
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
        def put(db: sqlite3.Connection) -> str | None:
            try:
                with _transaction(db):
                    _put(db)
            except sqlite3.IntegrityError:
                if record.exclusive is None:
                    raise
                row = db.execute(
                    "SELECT name FROM webtasks WHERE container = ? AND exclusive = ? AND name != ?",
                    (record.container, record.exclusive, record.name),
                ).fetchone()
                if row is None:
                    raise
                return str(row[0])
            return None

        def _put(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO webtasks (container, name, code, meta_sealed, secrets_sealed, token,"
                " claims,"
                " created_at, updated_at, exclusive) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (container, name) DO UPDATE SET code = excluded.code,"
                " meta_sealed = excluded.meta_sealed, secrets_sealed = excluded.secrets_sealed,"
                " token = excluded.token, claims = excluded.claims,"
                " updated_at = excluded.updated_at, exclusive = excluded.exclusive",
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
                    record.exclusive,
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

        holder = await self._run(put)
        if holder is not None:
            raise ExclusiveTaken(holder)

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

    # --- OAuth2 token server (runtime/oauth): APIs, clients, users -------------------------

    async def _insert(self, sql: str, params: Sequence[Any]) -> bool:
        def insert(db: sqlite3.Connection) -> bool:
            try:
                db.execute(sql, params)
            except sqlite3.IntegrityError:
                return False
            return True

        return await self._run(insert)

    async def _select(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return await self._run(lambda db: db.execute(sql, params).fetchall())

    async def _delete(self, sql: str, params: Sequence[Any]) -> bool:
        return await self._run(lambda db: db.execute(sql, params).rowcount > 0)

    async def add_api(self, api: ApiRecord) -> bool:
        return await self._insert(
            "INSERT INTO oauth_apis (container, identifier, name, scopes, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (api.container, api.identifier, api.name, json.dumps(api.scopes), api.created_at),
        )

    async def get_api(self, container: str, identifier: str) -> ApiRecord | None:
        rows = await self._select(
            f"SELECT {API_COLUMNS} FROM oauth_apis WHERE container = ? AND identifier = ?",
            (container, identifier),
        )
        return _api(rows[0]) if rows else None

    async def list_apis(self, container: str) -> list[ApiRecord]:
        rows = await self._select(
            f"SELECT {API_COLUMNS} FROM oauth_apis WHERE container = ? ORDER BY identifier",
            (container,),
        )
        return [_api(row) for row in rows]

    async def delete_api(self, container: str, identifier: str) -> bool:
        return await self._delete(
            "DELETE FROM oauth_apis WHERE container = ? AND identifier = ?", (container, identifier)
        )

    async def add_client(self, client: ClientRecord) -> bool:
        return await self._insert(
            "INSERT INTO oauth_clients (container, client_id, name, public, grants, metadata,"
            " secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                client.container,
                client.client_id,
                client.name,
                int(client.public),
                json.dumps(client.grants),
                json.dumps(dict(client.metadata)),
                client.secret_hash,
                client.created_at,
            ),
        )

    async def get_client(self, container: str, client_id: str) -> ClientRecord | None:
        rows = await self._select(
            f"SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE container = ? AND client_id = ?",
            (container, client_id),
        )
        return _client(rows[0]) if rows else None

    async def list_clients(self, container: str) -> list[ClientRecord]:
        rows = await self._select(
            f"SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE container = ?"
            " ORDER BY created_at, client_id",
            (container,),
        )
        return [_client(row) for row in rows]

    async def delete_client(self, container: str, client_id: str) -> bool:
        return await self._delete(
            "DELETE FROM oauth_clients WHERE container = ? AND client_id = ?",
            (container, client_id),
        )

    async def add_user(self, user: UserRecord) -> bool:
        return await self._insert(
            "INSERT INTO oauth_users (container, user_id, email, password_hash, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (user.container, user.user_id, user.email, user.password_hash, user.created_at),
        )

    async def get_user(self, container: str, email: str) -> UserRecord | None:
        rows = await self._select(
            f"SELECT {USER_COLUMNS} FROM oauth_users WHERE container = ? AND email = ?",
            (container, email),
        )
        return _user(rows[0]) if rows else None

    async def list_users(self, container: str) -> list[UserRecord]:
        rows = await self._select(
            f"SELECT {USER_COLUMNS} FROM oauth_users WHERE container = ? ORDER BY email",
            (container,),
        )
        return [_user(row) for row in rows]

    async def delete_user(self, container: str, email: str) -> bool:
        return await self._delete(
            "DELETE FROM oauth_users WHERE container = ? AND email = ?", (container, email)
        )

    # --- Cluster-wide values ---------------------------------------------------------------

    async def setdefault(self, name: str, value: str) -> str:
        def run(db: sqlite3.Connection) -> str:
            db.execute("INSERT OR IGNORE INTO cluster (name, value) VALUES (?, ?)", (name, value))
            row = db.execute("SELECT value FROM cluster WHERE name = ?", (name,)).fetchone()
            return str(row[0])

        return await self._run(run)

    # --- Webtask storage (runtime/storage_sqlite.py holds the SQL) -------------------------

    async def get_storage(self, container: str, name: str) -> StorageDocument | None:
        return await self._run(lambda db: storage_sqlite.get(db, container, name))

    async def set_storage(
        self, container: str, name: str, data: str | None, *, etag: int | None, force: bool
    ) -> int | None:
        return await self._run(
            lambda db: storage_sqlite.put(db, container, name, data, etag, force)
        )

    # --- Cron (runtime/cron/sqlite.py holds the SQL) ---------------------------------------

    async def put_cron_job(self, job: CronJob) -> CronJob | None:
        return await self._run(lambda db: cron_sql.put_job(db, job))

    async def get_cron_job(self, container: str, name: str) -> CronJob | None:
        return await self._run(lambda db: cron_sql.get_job(db, container, name))

    async def list_cron_jobs(
        self, container: str, meta: Mapping[str, str], offset: int, limit: int
    ) -> list[CronJob]:
        return await self._run(lambda db: cron_sql.list_jobs(db, container, meta, offset, limit))

    async def set_cron_state(
        self, container: str, name: str, state: CronState, next_run_at: float, at: float
    ) -> CronJob | None:
        return await self._run(
            lambda db: cron_sql.set_state(db, container, name, state, next_run_at, at)
        )

    async def delete_cron_job(self, container: str, name: str) -> bool:
        return await self._run(lambda db: cron_sql.delete_job(db, container, name))

    async def cron_history(
        self, container: str, name: str, offset: int, limit: int
    ) -> list[CronRun] | None:
        return await self._run(lambda db: cron_sql.history(db, container, name, offset, limit))

    async def claim_cron_run(
        self,
        now: float,
        node: str,
        lease_s: float,
        advance: Callable[[CronJob, float], float | None],
    ) -> CronClaim | None:
        return await self._run(lambda db: cron_sql.claim(db, now, node, lease_s, advance))

    async def finish_cron_run(
        self, claim: CronClaim, run: CronRun | None, state: CronState | None, keep: int
    ) -> bool:
        return await self._run(lambda db: cron_sql.finish(db, claim, run, state, keep))


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
    "container, name, code, meta_sealed, secrets_sealed, token, claims, created_at, updated_at,"
    " exclusive"
)


def _migrate_exclusive(db: sqlite3.Connection) -> None:
    """Databases made before hook slots existed get the column; the index is created here."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(webtasks)")}
    if "exclusive" not in columns:
        db.execute("ALTER TABLE webtasks ADD COLUMN exclusive TEXT")
    db.execute(
        "CREATE UNIQUE INDEX IF NOT EXISTS webtasks_exclusive ON webtasks (container, exclusive)"
        " WHERE exclusive IS NOT NULL"
    )


def _record(db: sqlite3.Connection, row: tuple[Any, ...]) -> WebtaskRecord:
    container, name, code, meta, sealed, token, claims, created, updated, exclusive = row
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
        exclusive=exclusive,
    )


# --- OAuth2 token server rows ------------------------------------------------------------

API_COLUMNS = "container, identifier, name, scopes, created_at"
CLIENT_COLUMNS = "container, client_id, name, public, grants, metadata, secret_hash, created_at"
USER_COLUMNS = "container, user_id, email, password_hash, created_at"


def _api(row: tuple[Any, ...]) -> ApiRecord:
    container, identifier, name, scopes, created = row
    return ApiRecord(
        container=container,
        identifier=identifier,
        name=name,
        scopes=tuple(json.loads(scopes)),
        created_at=created,
    )


def _client(row: tuple[Any, ...]) -> ClientRecord:
    container, client_id, name, public, grants, metadata, secret_hash, created = row
    return ClientRecord(
        container=container,
        client_id=client_id,
        name=name,
        public=bool(public),
        grants=tuple(json.loads(grants)),
        metadata=json.loads(metadata),
        secret_hash=secret_hash,
        created_at=created,
    )


def _user(row: tuple[Any, ...]) -> UserRecord:
    container, user_id, email, password_hash, created = row
    return UserRecord(
        container=container,
        user_id=user_id,
        email=email,
        password_hash=password_hash,
        created_at=created,
    )
