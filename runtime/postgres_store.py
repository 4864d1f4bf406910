"""The scale-out ``Store``: PostgreSQL through an asyncpg pool, shared by every node.

The schema is a list of numbered migrations (``pg_schema.MIGRATIONS``) applied at start-up under
a transaction-scoped advisory lock, so any number of nodes may start at once. Text keys use the
"C" collation so lists come back in the same (bytewise) order as on SQLite.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg

from runtime import storage_postgres
from runtime.backends import redact
from runtime.cron import postgres as cron_sql
from runtime.cron.records import CronClaim, CronJob, CronRun, CronState
from runtime.oauth.records import ApiRecord, ClientRecord, UserRecord
from runtime.pg_schema import migrate
from runtime.store import ExclusiveTaken, StorageDocument, StoreUnavailable, WebtaskRecord

logger = logging.getLogger(__name__)

T = TypeVar("T")

# What a lost or refused connection looks like from asyncpg: the node keeps serving, the request
# gets a 503 and the pool replaces the connection on the next acquire.
_UNAVAILABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)


class PostgresStore:
    """``Store`` on a PostgreSQL database named by ``WTHOST_DATABASE_URL``."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None

    def __repr__(self) -> str:
        return f"PostgresStore({redact(self.url)!r})"

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.url, min_size=1, max_size=self.pool_size, command_timeout=30
            )
            async with self._pool.acquire() as db:
                version = await migrate(db)
        except _UNAVAILABLE as exc:
            await self.close()
            raise StoreUnavailable(
                f"PostgreSQL at {redact(self.url)} cannot be reached: {exc}."
            ) from exc
        except BaseException:
            await self.close()
            raise
        logger.info("PostgreSQL store at %s, schema version %d", redact(self.url), version)

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @asynccontextmanager
    async def _db(self) -> AsyncIterator[asyncpg.Connection]:
        pool = self._pool
        if pool is None:
            raise RuntimeError("The store is not open.")
        try:
            async with pool.acquire() as db:
                yield db
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"The database is unavailable ({type(exc).__name__}).") from exc

    async def _run(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        async with self._db() as db:
            return await fn(db)

    async def setdefault(self, name: str, value: str) -> str:
        async def run(db: asyncpg.Connection) -> str:
            await db.execute(
                "INSERT INTO cluster (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                name,
                value,
            )
            stored: str = await db.fetchval("SELECT value FROM cluster WHERE name = $1", name)
            return stored

        return await self._run(run)

    # --- webtasks ---------------------------------------------------------------------------

    async def put_webtask(self, record: WebtaskRecord) -> None:
        for attempt in range(3):
            try:
                await self._run(lambda db: _upsert(db, record))
                return
            except asyncpg.UniqueViolationError:
                if record.exclusive is None or attempt == 2:
                    raise
                holder: str | None = await self._run(
                    lambda db: db.fetchval(
                        "SELECT name FROM webtasks WHERE container = $1 AND exclusive = $2"
                        " AND name <> $3",
                        record.container,
                        record.exclusive,
                        record.name,
                    )
                )
                # None: the holder let go between the two statements; write again.
                if holder is not None:
                    raise ExclusiveTaken(holder) from None

    async def get_webtask(self, container: str, name: str) -> WebtaskRecord | None:
        row = await self._run(
            lambda db: db.fetchrow(
                f"SELECT {COLUMNS} FROM webtasks WHERE container = $1 AND name = $2",
                container,
                name,
            )
        )
        return None if row is None else _record(row)

    async def delete_webtask(self, container: str, name: str) -> bool:
        status = await self._run(
            lambda db: db.execute(
                "DELETE FROM webtasks WHERE container = $1 AND name = $2", container, name
            )
        )
        return _count(status) > 0

    async def list_webtasks(
        self, container: str | None, meta_digests: Sequence[str], offset: int, limit: int
    ) -> list[WebtaskRecord]:
        rows = await self._run(
            lambda db: db.fetch(
                f"SELECT {COLUMNS} FROM webtasks"
                " WHERE ($1::text IS NULL OR container = $1) AND meta_index @> $2::text[]"
                " ORDER BY container, name LIMIT $3 OFFSET $4",
                container,
                list(meta_digests),
                limit,
                offset,
            )
        )
        return [_record(row) for row in rows]

    async def revoke(self, jti: str, at: float) -> None:
        await self._run(
            lambda db: db.execute(
                "INSERT INTO revocations (jti, revoked_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                jti,
                at,
            )
        )

    async def revoked(self, jtis: list[str]) -> bool:
        if not jtis:
            return False
        found = await self._run(
            lambda db: db.fetchval(
                "SELECT EXISTS (SELECT 1 FROM revocations WHERE jti = ANY($1::text[]))", jtis
            )
        )
        return bool(found)

    # --- OAuth2 token server (runtime/oauth): APIs, clients, users -------------------------

    async def _insert(self, sql: str, *params: Any) -> bool:
        status = await self._run(lambda db: db.execute(f"{sql} ON CONFLICT DO NOTHING", *params))
        return _count(status) > 0

    async def _delete(self, sql: str, *params: Any) -> bool:
        return _count(await self._run(lambda db: db.execute(sql, *params))) > 0

    async def _select(self, sql: str, *params: Any) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self._run(lambda db: db.fetch(sql, *params))
        return rows

    async def add_api(self, api: ApiRecord) -> bool:
        return await self._insert(
            "INSERT INTO oauth_apis (container, identifier, name, scopes, created_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            api.container,
            api.identifier,
            api.name,
            json.dumps(api.scopes),
            api.created_at,
        )

    async def get_api(self, container: str, identifier: str) -> ApiRecord | None:
        rows = await self._select(
            f"SELECT {API_COLUMNS} FROM oauth_apis WHERE container = $1 AND identifier = $2",
            container,
            identifier,
        )
        return _api(rows[0]) if rows else None

    async def list_apis(self, container: str) -> list[ApiRecord]:
        rows = await self._select(
            f"SELECT {API_COLUMNS} FROM oauth_apis WHERE container = $1 ORDER BY identifier",
            container,
        )
        return [_api(row) for row in rows]

    async def delete_api(self, container: str, identifier: str) -> bool:
        return await self._delete(
            "DELETE FROM oauth_apis WHERE container = $1 AND identifier = $2",
            container,
            identifier,
        )

    async def add_client(self, client: ClientRecord) -> bool:
        return await self._insert(
            "INSERT INTO oauth_clients (container, client_id, name, public, grants, metadata,"
            " secret_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            client.container,
            client.client_id,
            client.name,
            client.public,
            json.dumps(client.grants),
            json.dumps(dict(client.metadata)),
            client.secret_hash,
            client.created_at,
        )

    async def get_client(self, container: str, client_id: str) -> ClientRecord | None:
        rows = await self._select(
            f"SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE container = $1 AND client_id = $2",
            container,
            client_id,
        )
        return _client(rows[0]) if rows else None

    async def list_clients(self, container: str) -> list[ClientRecord]:
        rows = await self._select(
            f"SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE container = $1"
            " ORDER BY created_at, client_id",
            container,
        )
        return [_client(row) for row in rows]

    async def delete_client(self, container: str, client_id: str) -> bool:
        return await self._delete(
            "DELETE FROM oauth_clients WHERE container = $1 AND client_id = $2",
            container,
            client_id,
        )

    async def add_user(self, user: UserRecord) -> bool:
        return await self._insert(
            "INSERT INTO oauth_users (container, user_id, email, password_hash, created_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            user.container,
            user.user_id,
            user.email,
            user.password_hash,
            user.created_at,
        )

    async def get_user(self, container: str, email: str) -> UserRecord | None:
        rows = await self._select(
            f"SELECT {USER_COLUMNS} FROM oauth_users WHERE container = $1 AND email = $2",
            container,
            email,
        )
        return _user(rows[0]) if rows else None

    async def list_users(self, container: str) -> list[UserRecord]:
        rows = await self._select(
            f"SELECT {USER_COLUMNS} FROM oauth_users WHERE container = $1 ORDER BY email",
            container,
        )
        return [_user(row) for row in rows]

    async def delete_user(self, container: str, email: str) -> bool:
        return await self._delete(
            "DELETE FROM oauth_users WHERE container = $1 AND email = $2", container, email
        )

    # --- Webtask storage (runtime/storage_postgres.py holds the SQL) -----------------------

    async def get_storage(self, container: str, name: str) -> StorageDocument | None:
        return await self._run(lambda db: storage_postgres.get(db, container, name))

    async def set_storage(
        self, container: str, name: str, data: str | None, *, etag: int | None, force: bool
    ) -> int | None:
        return await self._run(
            lambda db: storage_postgres.put(db, container, name, data, etag, force)
        )

    # --- Cron (runtime/cron/postgres.py holds the SQL) -------------------------------------

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


async def _upsert(db: asyncpg.Connection, record: WebtaskRecord) -> None:
    await db.execute(
        f"INSERT INTO webtasks ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        " ON CONFLICT (container, name) DO UPDATE SET code = excluded.code,"
        " meta_sealed = excluded.meta_sealed, meta_index = excluded.meta_index,"
        " secrets_sealed = excluded.secrets_sealed, token = excluded.token,"
        " claims = excluded.claims, updated_at = excluded.updated_at,"
        " exclusive = excluded.exclusive",
        record.container,
        record.name,
        record.code,
        record.meta_sealed,
        sorted(set(record.meta_index)),
        record.secrets_sealed,
        record.token,
        json.dumps(dict(record.claims)),
        record.created_at,
        record.updated_at,
        record.exclusive,
    )


def _count(status: str) -> int:
    """Rows touched, from a command tag such as ``INSERT 0 1`` or ``DELETE 3``."""
    return int(status.rsplit(" ", 1)[-1])


COLUMNS = (
    "container, name, code, meta_sealed, meta_index, secrets_sealed, token, claims, created_at,"
    " updated_at, exclusive"
)
API_COLUMNS = "container, identifier, name, scopes, created_at"
CLIENT_COLUMNS = "container, client_id, name, public, grants, metadata, secret_hash, created_at"
USER_COLUMNS = "container, user_id, email, password_hash, created_at"


def _record(row: asyncpg.Record) -> WebtaskRecord:
    return WebtaskRecord(
        container=row["container"],
        name=row["name"],
        code=row["code"],
        meta_sealed=row["meta_sealed"],
        meta_index=tuple(row["meta_index"]),
        secrets_sealed=row["secrets_sealed"],
        token=row["token"],
        claims=json.loads(row["claims"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        exclusive=row["exclusive"],
    )


def _api(row: asyncpg.Record) -> ApiRecord:
    return ApiRecord(
        container=row["container"],
        identifier=row["identifier"],
        name=row["name"],
        scopes=tuple(json.loads(row["scopes"])),
        created_at=row["created_at"],
    )


def _client(row: asyncpg.Record) -> ClientRecord:
    return ClientRecord(
        container=row["container"],
        client_id=row["client_id"],
        name=row["name"],
        public=row["public"],
        grants=tuple(json.loads(row["grants"])),
        metadata=json.loads(row["metadata"]),
        secret_hash=row["secret_hash"],
        created_at=row["created_at"],
    )


def _user(row: asyncpg.Record) -> UserRecord:
    return UserRecord(
        container=row["container"],
        user_id=row["user_id"],
        email=row["email"],
        password_hash=row["password_hash"],
        created_at=row["created_at"],
    )
