"""Webtask storage in the ``Store`` contract, against SQLite and PostgreSQL: integer etags from
1, atomic compare-and-set, create-only writes, and the document deleted with its webtask."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from runtime.postgres_store import PostgresStore
from runtime.sqlite_store import SQLiteStore
from runtime.store import StorageConflict, StorageDocument, Store, WebtaskRecord
from tests.support.services import postgres_database, truncate_all

Scenario = Callable[[Store], Awaitable[None]]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[Scenario], None]:
    def make() -> Store:
        if request.param == "sqlite":
            return SQLiteStore(tmp_path / "wthost.db")
        return PostgresStore(url, pool_size=4)

    url = ""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        asyncio.run(truncate_all(url))

    def runner(scenario: Scenario) -> None:
        async def main() -> None:
            store = make()
            await store.open()
            try:
                await scenario(store)
            finally:
                await store.close()

        asyncio.run(main())

    return runner


def webtask(name: str = "w") -> WebtaskRecord:
    return WebtaskRecord(
        container="c",
        name=name,
        code="def f(cb): cb(None, 1)",
        meta_sealed="m",
        meta_index=(),
        secrets_sealed=None,
        token="t",
        claims={"jtn": name},
        created_at=1.0,
        updated_at=1.0,
    )


def test_etags_count_writes_from_one(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        await store.put_webtask(webtask())
        assert await store.get_storage("c", "w") is None
        assert await store.set_storage("c", "w", '{"a":1}', etag=None, force=True) == 1
        assert await store.set_storage("c", "w", '{"a":2}', etag=1, force=False) == 2
        assert await store.get_storage("c", "w") == StorageDocument(data='{"a":2}', etag=2)

    run(scenario)


def test_a_stale_etag_conflicts_with_the_current_document(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        await store.put_webtask(webtask())
        await store.set_storage("c", "w", '"one"', etag=None, force=False)
        await store.set_storage("c", "w", '"two"', etag=1, force=False)
        with pytest.raises(StorageConflict) as conflict:
            await store.set_storage("c", "w", '"three"', etag=1, force=False)
        assert conflict.value.current == StorageDocument(data='"two"', etag=2)
        assert await store.get_storage("c", "w") == StorageDocument(data='"two"', etag=2)

    run(scenario)


def test_create_only_writes_conflict_once_data_exists(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        await store.put_webtask(webtask())
        assert await store.set_storage("c", "w", "[1]", etag=None, force=False) == 1
        with pytest.raises(StorageConflict):
            await store.set_storage("c", "w", "[2]", etag=None, force=False)
        # Cleared data may be created again; the etag keeps counting (no ABA).
        assert await store.set_storage("c", "w", None, etag=1, force=False) == 2
        assert await store.get_storage("c", "w") == StorageDocument(data=None, etag=2)
        assert await store.set_storage("c", "w", "[3]", etag=None, force=False) == 3

    run(scenario)


def test_an_etag_for_nothing_stored_conflicts(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        await store.put_webtask(webtask())
        with pytest.raises(StorageConflict) as conflict:
            await store.set_storage("c", "w", "{}", etag=1, force=False)
        assert conflict.value.current is None

    run(scenario)


def test_no_storage_without_the_webtask(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        assert await store.set_storage("c", "ghost", "{}", etag=None, force=True) is None
        assert await store.get_storage("c", "ghost") is None

    run(scenario)


def test_storage_goes_with_its_webtask_and_survives_updates(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        await store.put_webtask(webtask())
        await store.set_storage("c", "w", '{"n":1}', etag=None, force=True)
        await store.put_webtask(webtask())  # an update keeps the data
        assert await store.get_storage("c", "w") == StorageDocument(data='{"n":1}', etag=1)
        assert await store.delete_webtask("c", "w")
        assert await store.get_storage("c", "w") is None
        await store.put_webtask(webtask())
        assert await store.set_storage("c", "w", "{}", etag=None, force=False) == 1

    run(scenario)


def test_concurrent_writers_with_one_etag_have_one_winner(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: Store) -> None:
        await store.put_webtask(webtask())
        await store.set_storage("c", "w", "0", etag=None, force=True)

        async def write(value: int) -> int | None:
            try:
                return await store.set_storage("c", "w", str(value), etag=1, force=False)
            except StorageConflict:
                return None

        results = await asyncio.gather(*(write(value) for value in range(8)))
        assert sorted(r for r in results if r is not None) == [2]
        document = await store.get_storage("c", "w")
        assert document is not None
        assert document.etag == 2

    run(scenario)


def test_first_writes_race_for_creation(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        await store.put_webtask(webtask())

        async def create(value: int) -> int | None:
            try:
                return await store.set_storage("c", "w", str(value), etag=None, force=False)
            except StorageConflict:
                return None

        results = await asyncio.gather(*(create(value) for value in range(8)))
        assert [r for r in results if r is not None] == [1]

    run(scenario)
