"""The PostgreSQL and Redis servers tests share with CI: throwaway databases and namespaces.

``TEST_POSTGRES_URL`` (an admin connection, default the local trust-auth ``postgres`` user) and
``TEST_REDIS_URL`` point elsewhere when needed. Every database made here is named
``wthost_test_<random>`` and dropped by the code that made it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def database_url(name: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


async def _admin(sql: str) -> None:
    db = await asyncpg.connect(ADMIN_URL)
    try:
        await db.execute(sql)
    finally:
        await db.close()


def create_database() -> str:
    """A new empty database; returns its name."""
    name = f"wthost_test_{secrets.token_hex(6)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    return name


def drop_database(name: str) -> None:
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def postgres_database() -> Iterator[str]:
    """The URL of a fresh database, dropped afterwards."""
    name = create_database()
    try:
        yield database_url(name)
    finally:
        drop_database(name)


async def truncate_all(url: str) -> None:
    """Empty every wthost table (the schema version stays)."""
    db = await asyncpg.connect(url)
    try:
        tables = await db.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> 'wthost_schema'"
        )
        if tables:
            names = ", ".join(f'"{row["tablename"]}"' for row in tables)
            await db.execute(f"TRUNCATE {names} CASCADE")
    finally:
        await db.close()
