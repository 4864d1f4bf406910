"""The ``Store`` contract, run against every backend: SQLite (a file) and PostgreSQL (a database
made for this test session and dropped after it). Each test starts from an empty store."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from runtime.cron.records import CronJob, CronRun, CronState, Lease, RunType
from runtime.oauth.records import ApiRecord, ClientRecord, UserRecord
from runtime.postgres_store import PostgresStore
from runtime.sqlite_store import SQLiteStore
from runtime.store import ExclusiveTaken, Store, WebtaskRecord
from tests.support.services import postgres_database, truncate_all

Scenario = Callable[[Store], Awaitable[None]]
Runner = Callable[[Scenario], None]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    """A factory of store objects on one empty database (call it again to reopen)."""
    if request.param == "sqlite":
        return lambda: SQLiteStore(tmp_path / "wthost.db")
    url: str = request.getfixturevalue("postgres_url")
    asyncio.run(truncate_all(url))
    return lambda: PostgresStore(url, pool_size=4)


@pytest.fixture
def run(backend: Callable[[], Store]) -> Runner:
    def run(scenario: Scenario) -> None:
        async def main() -> None:
            store = backend()
            await store.open()
            try:
                await scenario(store)
            finally:
                await store.close()

        asyncio.run(main())

    return run


def webtask(
    container: str = "c",
    name: str = "w",
    *,
    code: str = "def f(cb): cb(None, 1)",
    index: tuple[str, ...] = (),
    exclusive: str | None = None,
    created: float = 1.5,
    updated: float = 2.5,
) -> WebtaskRecord:
    return WebtaskRecord(
        container=container,
        name=name,
        code=code,
        meta_sealed=f"meta-of-{name}",
        meta_index=index,
        secrets_sealed=f"secrets-of-{name}",
        token=f"token-of-{name}",
        claims={"jti": f"j-{name}", "ca": ["a"], "ten": container, "nested": {"k": [1, None]}},
        created_at=created,
        updated_at=updated,
        exclusive=exclusive,
    )


# --- webtasks ---------------------------------------------------------------------------------


def test_a_webtask_reads_back_exactly_as_written(run: Runner) -> None:
    async def scenario(store: Store) -> None:
        record = webtask(index=("d2", "d1"), exclusive="slot")
        await store.put_webtask(record)
        got = await store.get_webtask("c", "w")
        assert got == webtask(index=("d1", "d2"), exclusive="slot")
        assert got is not None
        assert got.code_hash == record.code_hash
        assert await store.get_webtask("c", "other") is None
        assert await store.get_webtask("other", "w") is None

    run(scenario)


def test_no_secrets_and_unicode_code_survive(run: Runner) -> None:
    async def scenario(store: Store) -> None:
        record = WebtaskRecord(
            container="c",
            name="w",
            code="def f(cb): cb(None, 'é\u2028✓')\n",
            meta_sealed="m",
            meta_index=(),
            secrets_sealed=None,
            token="t",
        )
        await store.put_webtask(record)
        assert await store.get_webtask("c", "w") == record

    run(scenario)


def test_replacing_keeps_created_at_and_replaces_the_rest(run: Runner) -> None:
    async def scenario(store: Store) -> None:
        await store.put_webtask(webtask(index=("old",), created=1.0, updated=1.0))
        await store.put_webtask(
            webtask(code="new code", index=("new",), exclusive="s", created=9.0, updated=9.5)
        )
        got = await store.get_webtask("c", "w")
        assert got == webtask(
            code="new code", index=("new",), exclusive="s", created=1.0, updated=9.5
        )
        assert await store.list_webtasks("c", ["old"], 0, 10) == []

    run(scenario)


def test_delete_says_whether_something_was_deleted(run: Runner) -> None:
    async def scenario(store: Store) -> None:
        await store.put_webtask(webtask(index=("x",)))
        assert await store.delete_webtask("c", "w") is True
        assert await store.delete_webtask("c", "w") is False
        assert await store.get_webtask("c", "w") is None
        assert await store.list_webtasks(None, [], 0, 10) == []
        assert await store.list_webtasks(None, ["x"], 0, 10) == []
        await store.put_webtask(webtask(index=()))  # the name is free again, without its index
        assert await store.list_webtasks(None, ["x"], 0, 10) == []

    run(scenario)


def test_lists_are_ordered_by_container_then_name_bytewise(run: Runner) -> None:
    async def scenario(store: Store) -> None:
        for container, name in [("b", "x"), ("a", "b"), ("a", "B"), ("a", "a"), ("a", "_")]:
            await store.put_webtask(webtask(container, name))
        every = await store.list_webtasks(None, [], 0, 100)
        assert [(r.container, r.name) for r in every] == [
            ("a", "B"),
            ("a", "_"),
            ("a", "a"),
            ("a", "b"),
            ("b", "x"),
        ]
        assert [r.name for r in await store.list_webtasks("a", [], 1, 2)] == ["_", "a"]
        assert [r.name for r in await store.list_webtasks("a", [], 3, 100)] == ["b"]
        assert await store.list_webtasks("a", [], 10, 100) == []
        assert await store.list_webtasks("nobody", [], 0, 100) == []

    run(scenario)


def test_meta_filters_need_every_digest(run: Runner) -> None:
    async def scenario(store: Store) -> None:
        await store.put_webtask(webtask("c", "one", index=("k1", "k2")))
        await store.put_webtask(webtask("c", "two", index=("k1",)))
        await store.put_webtask(webtask("d", "three", index=("k1", "k2")))
        both = await store.list_webtasks("c", ["k1", "k2"], 0, 10)
        assert [r.name for r in both] == ["one"]
        assert [r.name for r in await store.list_webtasks("c", ["k1"], 0, 10)] == ["one", "two"]
        everywhere = await store.list_webtasks(None, ["k2"], 0, 10)
        assert [(r.container, r.name) for r in everywhere] == [("c", "one"), ("d", "three")]
        assert await store.list_webtasks(None, ["k3"], 0, 10) == []
        assert [r.meta_index for r in both] == [("k1", "k2")]

    run(scenario)


def test_the_exclusive_slot_has_one_holder_per_container(run: Runner) -> None:
    async def scenario(store: Store) -> None:
        await store.put_webtask(webtask("c", "one", exclusive="slot"))
        await store.put_webtask(webtask("c", "one", exclusive="slot"))  # the holder rewrites
        await store.put_webtask(webtask("other", "two", exclusive="slot"))
        await store.put_webtask(webtask("c", "three", exclusive="other-slot"))
        with pytest.raises(ExclusiveTaken) as taken:
            await store.put_webtask(webtask("c", "two", exclusive="slot"))
        assert taken.value.holder == "one"
        assert await store.get_webtask("c", "two") is None
        await store.put_webtask(webtask("c", "one", exclusive=None))  # released
        await store.put_webtask(webtask("c", "two", exclusive="slot"))
        got = await store.get_webtask("c", "two")
        assert got is not None
        assert got.exclusive == "slot"

    run(scenario)


def test_concurrent_claims_of_a_slot_leave_one_holder(run: Runner) -> None:
    async def scenario(store: Store) -> None:
        names = [f"w{i}" for i in range(6)]
        results = await asyncio.gather(
            *(store.put_webtask(webtask("c", n, exclusive="slot")) for n in names),
            return_exceptions=True,
        )
        winners = [n for n, result in zip(names, results, strict=True) if result is None]
        assert len(winners) == 1
        losers = [r for r in results if r is not None]
        assert all(isinstance(r, ExclusiveTaken) and r.holder == winners[0] for r in losers)
        stored = await store.list_webtasks("c", [], 0, 10)
        assert [r.name for r in stored] == winners

    run(scenario)


# --- revocations ------------------------------------------------------------------------------


def test_a_revoked_jti_anywhere_in_the_chain_is_found(run: Runner) -> None:
    async def scenario(store: Store) -> None:
        assert await store.revoked([]) is False
        assert await store.revoked(["a", "b"]) is False
        await store.revoke("b", 10.0)
        await store.revoke("b", 11.0)  # twice is fine
        assert await store.revoked(["a", "b"]) is True
        assert await store.revoked(["b"]) is True
        assert await store.revoked(["a", "c"]) is False

    run(scenario)


# --- OAuth2 token server --------------------------------------------------------------------


def test_apis_are_added_once_listed_in_order_and_deleted(run: Runner) -> None:
    async def scenario(store: Store) -> None:
        b = ApiRecord(container="t", identifier="https://b", name="B", scopes=("r", "w"))
        a = ApiRecord(container="t", identifier="https://a", name="A", scopes=(), created_at=3.0)
        elsewhere = ApiRecord(container="u", identifier="https://a", name="A2", scopes=("x",))
        assert await store.add_api(b) is True
        assert await store.add_api(a) is True
        assert await store.add_api(elsewhere) is True
        taken = ApiRecord(container="t", identifier="https://a", name="Z", scopes=())
        assert await store.add_api(taken) is False
        assert await store.get_api("t", "https://b") == b
        assert await store.get_api("t", "https://a") == a
        assert await store.get_api("t", "https://c") is None
        assert await store.list_apis("t") == [a, b]
        assert await store.list_apis("nobody") == []
        assert await store.delete_api("t", "https://a") is True
        assert await store.delete_api("t", "https://a") is False
        assert await store.list_apis("t") == [b]
        assert await store.get_api("u", "https://a") == elsewhere

    run(scenario)


def test_clients_are_added_once_listed_by_creation_and_deleted(run: Runner) -> None:
    async def scenario(store: Store) -> None:
        first = ClientRecord(
            container="t",
            client_id="zz",
            name="Confidential",
            public=False,
            grants=("client_credentials", "password"),
            metadata={"tier": "gold", "ü": "✓"},
            secret_hash="$argon2id$hash",
            created_at=1.0,
        )
        second = ClientRecord(
            container="t", client_id="aa", name="SPA", public=True, grants=(), created_at=2.0
        )
        assert await store.add_client(second) is True
        assert await store.add_client(first) is True
        taken = ClientRecord(container="t", client_id="aa", name="X", public=True, grants=())
        assert await store.add_client(taken) is False
        got = await store.get_client("t", "zz")
        assert got == first
        assert got is not None
        assert dict(got.metadata) == {"tier": "gold", "ü": "✓"}
        assert got.secret_hash == "$argon2id$hash"
        assert await store.get_client("t", "nope") is None
        assert await store.get_client("other", "zz") is None
        assert await store.list_clients("t") == [first, second]
        assert await store.delete_client("t", "zz") is True
        assert await store.delete_client("t", "zz") is False
        assert await store.list_clients("t") == [second]

    run(scenario)


def test_users_are_unique_by_id_and_by_email(run: Runner) -> None:
    async def scenario(store: Store) -> None:
        bob = UserRecord(container="t", user_id="u1", email="bob@x.io", password_hash="h1")
        amy = UserRecord(
            container="t", user_id="u2", email="amy@x.io", password_hash="h2", created_at=5.0
        )
        assert await store.add_user(bob) is True
        assert await store.add_user(amy) is True
        same_email = UserRecord(container="t", user_id="u3", email="bob@x.io", password_hash="h")
        same_id = UserRecord(container="t", user_id="u1", email="new@x.io", password_hash="h")
        assert await store.add_user(same_email) is False
        assert await store.add_user(same_id) is False
        other_tenant = UserRecord(container="v", user_id="u1", email="bob@x.io", password_hash="h")
        assert await store.add_user(other_tenant) is True
        assert await store.get_user("t", "bob@x.io") == bob
        assert await store.get_user("t", "carl@x.io") is None
        assert await store.list_users("t") == [amy, bob]
        assert await store.delete_user("t", "bob@x.io") is True
        assert await store.delete_user("t", "bob@x.io") is False
        assert await store.list_users("t") == [amy]
        assert [u.container for u in await store.list_users("v")] == ["v"]

    run(scenario)


# --- cluster-wide values -----------------------------------------------------------------------


def test_setdefault_keeps_the_first_value(run: Runner) -> None:
    async def scenario(store: Store) -> None:
        assert await store.setdefault("k", "one") == "one"
        assert await store.setdefault("k", "two") == "one"
        assert await store.setdefault("other", "x") == "x"
        values = await asyncio.gather(*(store.setdefault("race", str(i)) for i in range(8)))
        assert len(set(values)) == 1

    run(scenario)


# --- persistence --------------------------------------------------------------------------------


def test_everything_survives_a_reopen(backend: Callable[[], Store]) -> None:
    async def main() -> None:
        store = backend()
        await store.open()
        await store.put_webtask(webtask(index=("k",)))
        await store.revoke("j", 1.0)
        await store.add_user(UserRecord(container="t", user_id="u", email="e", password_hash="h"))
        await store.setdefault("k", "v")
        await store.close()
        await store.close()  # closing twice is harmless
        again = backend()
        await again.open()
        try:
            assert await again.get_webtask("c", "w") == webtask(index=("k",))
            assert await again.revoked(["j"]) is True
            assert await again.get_user("t", "e") is not None
            assert await again.setdefault("k", "other") == "v"
        finally:
            await again.close()

    asyncio.run(main())


# --- cron -----------------------------------------------------------------------------------------


def cron_job(
    name: str = "w",
    *,
    container: str = "c",
    next_run_at: float = 100.0,
    state: CronState = "active",
    meta: dict[str, str] | None = None,
    schedule: str = "*/5 * * * *",
    updated: float = 1.0,
) -> CronJob:
    return CronJob(
        container=container,
        name=name,
        schedule=schedule,
        tz="Europe/Paris",
        state=state,
        token=f"token-{name}",
        meta=meta or {},
        created_at=1.0,
        updated_at=updated,
        next_run_at=next_run_at,
        expires_at=None,
    )


def cron_run(n: int, kind: RunType = "success") -> CronRun:
    return CronRun(
        scheduled_at=float(n),
        started_at=n + 0.25,
        completed_at=n + 0.5,
        type=kind,
        status_code=200 if kind == "success" else 500,
        body=f"body {n}",
        headers={"content-type": "application/json"},
    )


def every_minute(job: CronJob, now: float) -> float | None:
    return now + 60


async def with_webtasks(store: Store, *names: str, container: str = "c") -> None:
    for name in names:
        await store.put_webtask(webtask(container, name))


def test_a_cron_job_needs_its_webtask_and_reads_back(run: Runner) -> None:
    async def scenario(store: Store) -> None:
        job = cron_job(meta={"a": "1", "ü": "✓"})
        assert await store.put_cron_job(job) is None
        assert await store.get_cron_job("c", "w") is None
        await with_webtasks(store, "w")
        assert await store.put_cron_job(job) == job
        assert await store.get_cron_job("c", "w") == job
        assert await store.get_cron_job("c", "other") is None

    run(scenario)


def test_replacing_a_job_keeps_counters_created_at_history_and_lease(run: Runner) -> None:
    async def scenario(store: Store) -> None:
        await with_webtasks(store, "w")
        await store.put_cron_job(cron_job(next_run_at=10.0))
        claim = await store.claim_cron_run(20.0, "node-a", 30.0, every_minute)
        assert claim is not None
        assert await store.finish_cron_run(claim, cron_run(1), None, 10) is True
        claim = await store.claim_cron_run(100.0, "node-a", 30.0, every_minute)
        assert claim is not None
        replaced = cron_job(next_run_at=500.0, schedule="0 * * * *", updated=7.0)
        replaced = dataclasses.replace(replaced, created_at=99.0, token="new")
        got = await store.put_cron_job(replaced)
        assert got == dataclasses.replace(
            replaced, created_at=1.0, run_count=1, last_run=cron_run(1), lease=claim.lease
        )
        assert await store.cron_history("c", "w", 0, 10) == [cron_run(1)]

    run(scenario)


def test_cron_jobs_list_by_name_with_meta_filters(run: Runner) -> None:
    async def scenario(store: Store) -> None:
        await with_webtasks(store, "b", "a", "c")
        await with_webtasks(store, "a", container="d")
        await store.put_cron_job(cron_job("b", meta={"k": "1", "x": "y"}))
        await store.put_cron_job(cron_job("a", meta={"k": "1"}))
        await store.put_cron_job(cron_job("c", meta={"k": "2"}))
        await store.put_cron_job(cron_job("a", container="d", meta={"k": "1"}))
        names = [j.name for j in await store.list_cron_jobs("c", {}, 0, 10)]
        assert names == ["a", "b", "c"]
        assert [j.name for j in await store.list_cron_jobs("c", {"k": "1"}, 0, 10)] == ["a", "b"]
        both = await store.list_cron_jobs("c", {"k": "1", "x": "y"}, 0, 10)
        assert [j.name for j in both] == ["b"]
        assert await store.list_cron_jobs("c", {"k": "3"}, 0, 10) == []
        assert [j.name for j in await store.list_cron_jobs("c", {}, 1, 1)] == ["b"]
        assert [j.container for j in await store.list_cron_jobs("d", {}, 0, 10)] == ["d"]

    run(scenario)


def test_set_state_and_delete_a_cron_job(run: Runner) -> None:
    async def scenario(store: Store) -> None:
        await with_webtasks(store, "w")
        await store.put_cron_job(cron_job())
        got = await store.set_cron_state("c", "w", "inactive", 300.0, 9.0)
        assert got == cron_job(state="inactive", next_run_at=300.0, updated=9.0)
        assert await store.set_cron_state("c", "nope", "active", 1.0, 1.0) is None
        assert await store.delete_cron_job("c", "w") is True
        assert await store.delete_cron_job("c", "w") is False
        assert await store.get_cron_job("c", "w") is None
        assert await store.cron_history("c", "w", 0, 10) is None
        assert await store.get_webtask("c", "w") is not None  # the webtask stays

    run(scenario)


def test_deleting_the_webtask_deletes_its_job_and_history(run: Runner) -> None:
    async def scenario(store: Store) -> None:
        await with_webtasks(store, "w")
        await store.put_cron_job(cron_job(next_run_at=1.0))
        claim = await store.claim_cron_run(2.0, "n", 30.0, every_minute)
        assert claim is not None
        await store.finish_cron_run(claim, cron_run(1), None, 10)
        assert await store.delete_webtask("c", "w") is True
        assert await store.get_cron_job("c", "w") is None
        await with_webtasks(store, "w")
        await store.put_cron_job(cron_job())
        assert await store.cron_history("c", "w", 0, 10) == []

    run(scenario)


def test_a_claim_takes_the_most_overdue_active_run_and_moves_it_on(run: Runner) -> None:
    async def scenario(store: Store) -> None:
        await with_webtasks(store, "late", "later", "future", "off")
        await store.put_cron_job(cron_job("later", next_run_at=50.0))
        await store.put_cron_job(cron_job("late", next_run_at=40.0))
        await store.put_cron_job(cron_job("future", next_run_at=1000.0))
        await store.put_cron_job(cron_job("off", next_run_at=10.0, state="inactive"))
        assert await store.claim_cron_run(30.0, "n", 60.0, every_minute) is None
        first = await store.claim_cron_run(100.0, "n", 60.0, every_minute)
        assert first is not None
        assert (first.job.name, first.retry) == ("late", False)
        assert first.lease == Lease(node="n", until=160.0, scheduled_at=40.0)
        assert first.job.next_run_at == 160.0
        assert await store.get_cron_job("c", "late") == first.job
        second = await store.claim_cron_run(100.0, "m", 60.0, every_minute)
        assert second is not None
        assert second.job.name == "later"
        assert await store.claim_cron_run(100.0, "n", 60.0, every_minute) is None

    run(scenario)


def test_a_job_without_a_next_run_becomes_invalid_when_claimed(run: Runner) -> None:
    async def scenario(store: Store) -> None:
        await with_webtasks(store, "w")
        await store.put_cron_job(cron_job(next_run_at=5.0))
        claim = await store.claim_cron_run(10.0, "n", 30.0, lambda job, now: None)
        assert claim is not None
        assert claim.job.state == "invalid"
        assert claim.lease.scheduled_at == 5.0
        assert await store.finish_cron_run(claim, cron_run(5), None, 10) is True
        stored = await store.get_cron_job("c", "w")
        assert stored is not None
        assert (stored.state, stored.lease) == ("invalid", None)
        assert await store.claim_cron_run(1e9, "n", 30.0, every_minute) is None

    run(scenario)


def test_a_run_whose_lease_ran_out_is_claimed_again_as_a_retry(run: Runner) -> None:
    async def scenario(store: Store) -> None:
        await with_webtasks(store, "w")
        await store.put_cron_job(cron_job(next_run_at=10.0))
        dead = await store.claim_cron_run(10.0, "dead-node", 30.0, every_minute)
        assert dead is not None
        assert await store.claim_cron_run(39.0, "b", 30.0, every_minute) is None
        retry = await store.claim_cron_run(40.0, "b", 30.0, every_minute)
        assert retry is not None
        assert retry.retry is True
        assert retry.lease == Lease(node="b", until=70.0, scheduled_at=10.0)
        assert retry.job.next_run_at == 70.0  # moved on once, by the first claim
        assert await store.finish_cron_run(dead, cron_run(10), None, 10) is False
        assert await store.finish_cron_run(retry, cron_run(10), None, 10) is True
        assert await store.finish_cron_run(retry, cron_run(10), None, 10) is False
        assert await store.cron_history("c", "w", 0, 10) == [cron_run(10)]

    run(scenario)


def test_finishing_records_counts_trims_history_and_sets_state(run: Runner) -> None:
    async def scenario(store: Store) -> None:
        await with_webtasks(store, "w")
        await store.put_cron_job(cron_job(next_run_at=0.0))
        for n in range(1, 5):
            claim = await store.claim_cron_run(n * 100.0, "n", 30.0, lambda job, now: now + 1)
            assert claim is not None
            kind: RunType = "error" if n % 2 else "success"
            state: CronState | None = "expired" if n == 4 else None
            assert await store.finish_cron_run(claim, cron_run(n, kind), state, 3) is True
        job = await store.get_cron_job("c", "w")
        assert job is not None
        assert (job.run_count, job.error_count, job.state) == (4, 2, "expired")
        assert job.last_run == cron_run(4, "success")
        assert job.lease is None
        history = await store.cron_history("c", "w", 0, 10)
        assert history == [cron_run(4), cron_run(3, "error"), cron_run(2)]
        assert await store.cron_history("c", "w", 1, 1) == [cron_run(3, "error")]

    run(scenario)


def test_finishing_without_a_run_only_releases_the_lease(run: Runner) -> None:
    async def scenario(store: Store) -> None:
        await with_webtasks(store, "w")
        await store.put_cron_job(cron_job(next_run_at=0.0))
        claim = await store.claim_cron_run(1.0, "n", 30.0, every_minute)
        assert claim is not None
        assert await store.finish_cron_run(claim, None, "inactive", 10) is True
        job = await store.get_cron_job("c", "w")
        assert job is not None
        assert (job.run_count, job.state, job.lease, job.last_run) == (0, "inactive", None, None)

    run(scenario)


def test_concurrent_claims_never_get_the_same_run(run: Runner) -> None:
    async def scenario(store: Store) -> None:
        names = [f"job{i}" for i in range(8)]
        await with_webtasks(store, *names)
        for name in names:
            await store.put_cron_job(cron_job(name, next_run_at=1.0))
        claims = await asyncio.gather(
            *(store.claim_cron_run(5.0, f"node{i}", 30.0, every_minute) for i in range(12))
        )
        taken = [c.job.name for c in claims if c is not None]
        assert sorted(taken) == names
        assert claims.count(None) == 4

    run(scenario)
