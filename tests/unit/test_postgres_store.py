"""PostgreSQL specifics beyond the shared contract: migrations under concurrency, schema
versions, an unreachable server, passwords kept out of messages."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from runtime.backends import redact
from runtime.pg_schema import MIGRATIONS
from runtime.postgres_store import PostgresStore
from runtime.store import StoreUnavailable
from tests.support.services import postgres_database


def test_nodes_starting_together_apply_each_migration_once() -> None:
    async def main(url: str) -> None:
        stores = [PostgresStore(url, pool_size=2) for _ in range(6)]
        await asyncio.gather(*(store.open() for store in stores))
        try:
            db = await asyncpg.connect(url)
            try:
                versions = await db.fetch("SELECT version FROM wthost_schema ORDER BY version")
            finally:
                await db.close()
            assert [row["version"] for row in versions] == list(range(1, len(MIGRATIONS) + 1))
        finally:
            await asyncio.gather(*(store.close() for store in stores))

    with postgres_database() as url:
        asyncio.run(main(url))


def test_a_schema_newer_than_the_code_is_refused() -> None:
    async def main(url: str) -> None:
        store = PostgresStore(url)
        await store.open()
        await store.close()
        db = await asyncpg.connect(url)
        try:
            await db.execute("INSERT INTO wthost_schema (version) VALUES ($1)", len(MIGRATIONS) + 1)
        finally:
            await db.close()
        with pytest.raises(RuntimeError, match=r"newer than this wthost"):
            await PostgresStore(url).open()

    with postgres_database() as url:
        asyncio.run(main(url))


def test_an_unreachable_server_is_store_unavailable_without_the_password() -> None:
    async def main() -> None:
        # Port 1 on loopback: nothing listens there, the connection is refused at once.
        store = PostgresStore("postgresql://wthost:hunter2@127.0.0.1:1/wthost")
        with pytest.raises(StoreUnavailable) as caught:
            await store.open()
        assert "postgresql://wthost:***@127.0.0.1:1/wthost cannot be reached" in str(caught.value)
        assert "hunter2" not in str(caught.value)
        assert "hunter2" not in repr(store)
        assert caught.value.status == 503

    asyncio.run(main())


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:p@h:5432/d", "postgresql://u:***@h:5432/d"),
        ("postgresql://u@h/d", "postgresql://u@h/d"),
        ("postgresql://h/d", "postgresql://h/d"),
        ("redis://:secret@h:6379/0", "redis://:***@h:6379/0"),
        ("postgresql://u:p@ss@h/d", "postgresql://u:***@h/d"),
    ],
)
def test_redact_hides_passwords(url: str, shown: str) -> None:
    assert redact(url) == shown
