"""One enabled Auth0 hook per type and container: the meta rule and the store's slot."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from runtime import hooks
from runtime.sqlite_store import SQLiteStore
from runtime.store import ExclusiveTaken, WebtaskRecord

HOOK = {"auth0-extension": "runtime", "auth0-extension-name": "credentials-exchange"}


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        (HOOK, "credentials-exchange"),
        ({**HOOK, "auth0-extension-disabled": "1"}, None),
        ({**HOOK, "auth0-extension-disabled": ""}, "credentials-exchange"),  # wt: falsy = on
        ({**HOOK, "auth0-extension": "other"}, None),
        ({"auth0-extension-name": "credentials-exchange"}, None),
        ({"auth0-extension": "runtime", "auth0-extension-name": ""}, None),
        ({}, None),
    ],
)
def test_enabled_type(meta: dict[str, str], expected: str | None) -> None:
    assert hooks.enabled_type(meta) == expected


def record(container: str, name: str, exclusive: str | None) -> WebtaskRecord:
    return WebtaskRecord(
        container=container,
        name=name,
        code="def f(cb): pass",
        meta_sealed="m",
        meta_index=(),
        secrets_sealed=None,
        token="t",
        exclusive=exclusive,
    )


def test_store_gives_a_slot_to_one_webtask_per_container(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SQLiteStore(tmp_path / "db.sqlite")
        await store.open()
        try:
            await store.put_webtask(record("c", "one", "slot"))
            await store.put_webtask(record("c", "one", "slot"))  # the holder may rewrite
            await store.put_webtask(record("other", "two", "slot"))  # another container
            await store.put_webtask(record("c", "three", None))
            with pytest.raises(ExclusiveTaken) as taken:
                await store.put_webtask(record("c", "two", "slot"))
            assert taken.value.holder == "one"
            assert await store.get_webtask("c", "two") is None
            await store.put_webtask(record("c", "one", None))  # released
            await store.put_webtask(record("c", "two", "slot"))
            got = await store.get_webtask("c", "two")
            assert got is not None
            assert got.exclusive == "slot"
        finally:
            await store.close()

    asyncio.run(scenario())


def test_databases_from_before_slots_are_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE webtasks (
            container TEXT NOT NULL, name TEXT NOT NULL, code TEXT NOT NULL,
            meta_sealed TEXT NOT NULL, secrets_sealed TEXT, token TEXT NOT NULL,
            claims TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
            PRIMARY KEY (container, name)
        );
        INSERT INTO webtasks VALUES ('c', 'old', 'x', 'm', NULL, 't', '{}', 1, 1);
        """
    )
    db.close()

    async def scenario() -> None:
        store = SQLiteStore(path)
        await store.open()
        try:
            old = await store.get_webtask("c", "old")
            assert old is not None
            assert old.exclusive is None
            await store.put_webtask(record("c", "new", "slot"))
            with pytest.raises(ExclusiveTaken):
                await store.put_webtask(record("c", "old", "slot"))
        finally:
            await store.close()

    asyncio.run(scenario())
