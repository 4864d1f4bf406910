"""The PostgreSQL schema as numbered migrations, applied once each at start-up.

``migrate`` takes a transaction-scoped advisory lock first: when several nodes start together
one applies the pending migrations and the others wait, then find nothing left to do. A
migration is never edited once released; a change is a new entry at the end.
"""

from __future__ import annotations

import asyncpg

from runtime import storage_postgres
from runtime.cron import postgres as cron_sql

# Any constant works; it only has to be the same on every node (it spells "wthost" in hex).
MIGRATION_LOCK = 0x777468_6F7374

MIGRATIONS: tuple[str, ...] = (
    # 1: webtasks, revocations, the OAuth2 token server's tenants, cluster-wide values.
    """
    CREATE TABLE webtasks (
        container TEXT COLLATE "C" NOT NULL,
        name TEXT COLLATE "C" NOT NULL,
        code TEXT NOT NULL,
        meta_sealed TEXT NOT NULL,
        meta_index TEXT[] NOT NULL DEFAULT '{}',
        secrets_sealed TEXT,
        token TEXT NOT NULL,
        claims TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        exclusive TEXT,
        PRIMARY KEY (container, name)
    );
    CREATE INDEX webtasks_meta_index ON webtasks USING GIN (meta_index);
    CREATE UNIQUE INDEX webtasks_exclusive ON webtasks (container, exclusive)
        WHERE exclusive IS NOT NULL;
    CREATE TABLE revocations (
        jti TEXT PRIMARY KEY,
        revoked_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE oauth_apis (
        container TEXT COLLATE "C" NOT NULL,
        identifier TEXT COLLATE "C" NOT NULL,
        name TEXT NOT NULL,
        scopes TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (container, identifier)
    );
    CREATE TABLE oauth_clients (
        container TEXT COLLATE "C" NOT NULL,
        client_id TEXT COLLATE "C" NOT NULL,
        name TEXT NOT NULL,
        public BOOLEAN NOT NULL,
        grants TEXT NOT NULL,
        metadata TEXT NOT NULL,
        secret_hash TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (container, client_id)
    );
    CREATE TABLE oauth_users (
        container TEXT COLLATE "C" NOT NULL,
        user_id TEXT COLLATE "C" NOT NULL,
        email TEXT COLLATE "C" NOT NULL,
        password_hash TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (container, user_id),
        UNIQUE (container, email)
    );
    CREATE TABLE cluster (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 2: cron jobs, their leases and run history.
    cron_sql.SCHEMA,
    # 3: webtask storage (ctx.storage).
    storage_postgres.SCHEMA,
)


async def migrate(db: asyncpg.Connection) -> int:
    """Apply the pending migrations; returns the schema version now in force."""
    async with db.transaction():
        await db.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await db.execute(
            "CREATE TABLE IF NOT EXISTS wthost_schema ("
            " version INTEGER PRIMARY KEY,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        current: int = await db.fetchval("SELECT coalesce(max(version), 0) FROM wthost_schema")
        if current > len(MIGRATIONS):
            raise RuntimeError(
                f"The database schema is at version {current}, newer than this wthost "
                f"({len(MIGRATIONS)}); upgrade this node before starting it."
            )
        for version in range(current + 1, len(MIGRATIONS) + 1):
            await db.execute(MIGRATIONS[version - 1])
            await db.execute("INSERT INTO wthost_schema (version) VALUES ($1)", version)
    return len(MIGRATIONS)
