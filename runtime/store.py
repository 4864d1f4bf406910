"""Persistence seam: the ``Store`` protocol and its records.

Backends (SQLite now, PostgreSQL later) store code as text, meta as a string map and secrets
only as ciphertext. Everything is async so a network database slots in without changing callers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from runtime.cron.records import CronClaim, CronJob, CronRun, CronState
from runtime.errors import ServiceUnavailable
from runtime.oauth.records import ApiRecord, ClientRecord, UserRecord


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class WebtaskRecord:
    """A named webtask as stored: code, sealed meta and secrets, and the token that names it.

    Meta is sealed too (hooks keep their shared secret in meta); ``meta_index`` holds keyed
    digests of each ``key:value`` pair so lists can be filtered without decrypting.
    """

    container: str
    name: str
    code: str
    meta_sealed: str
    meta_index: tuple[str, ...]
    secrets_sealed: str | None
    token: str
    claims: Mapping[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    exclusive: str | None = None
    """A slot at most one webtask per container may hold (an enabled Auth0 hook's type)."""

    @property
    def code_hash(self) -> str:
        return code_hash(self.code)


class ExclusiveTaken(Exception):
    """``put_webtask``: another webtask of the container holds the record's ``exclusive`` slot
    (the writer's conflict; nothing was written)."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"The slot is held by webtask {holder!r}.")
        self.holder = holder


class StoreUnavailable(ServiceUnavailable):
    """A network database cannot be reached or refused the connection (the operator's problem;
    the request may be retried). Nothing is known to have been written."""


@dataclass(frozen=True, slots=True)
class StorageDocument:
    """A webtask's storage (``ctx.storage``): its JSON text, None once cleared, and its etag:
    1 for the first write, one more for every write after it."""

    data: str | None
    etag: int


class StorageConflict(Exception):
    """``set_storage``: the document is not at the etag the write expected (the writer read
    an older version, or wanted to create what exists; nothing was written). ``current`` is
    the stored document."""

    def __init__(self, current: StorageDocument | None) -> None:
        super().__init__("The storage was modified since it was read.")
        self.current = current


def check_etag(current: StorageDocument | None, etag: int | None, force: bool) -> None:
    """Raise ``StorageConflict`` unless a write expecting ``etag`` may replace ``current``:
    ``force`` always may; ``etag`` None only creates (nothing stored); else etags must match."""
    if force:
        return
    if etag is None:
        if current is not None and current.data is not None:
            raise StorageConflict(current)
    elif current is None or current.etag != etag:
        raise StorageConflict(current)


class Store(Protocol):
    """Where webtasks and revocations live. Implementations must be safe for concurrent use."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def put_webtask(self, record: WebtaskRecord) -> None:
        """Insert or replace; raises ``ExclusiveTaken`` when ``record.exclusive`` is held by
        another webtask of the container (checked atomically with the write)."""
        ...

    async def get_webtask(self, container: str, name: str) -> WebtaskRecord | None: ...

    async def delete_webtask(self, container: str, name: str) -> bool: ...

    async def list_webtasks(
        self,
        container: str | None,
        meta_digests: Sequence[str],
        offset: int,
        limit: int,
    ) -> list[WebtaskRecord]: ...

    async def revoke(self, jti: str, at: float) -> None: ...

    async def revoked(self, jtis: list[str]) -> bool: ...

    # --- OAuth2 token server (runtime/oauth): a tenant's APIs, clients and users ------------
    # ``add_*`` insert and return False when the natural key (identifier, client id, email)
    # is taken; ``delete_*`` return False when nothing matched.

    async def add_api(self, api: ApiRecord) -> bool: ...

    async def get_api(self, container: str, identifier: str) -> ApiRecord | None: ...

    async def list_apis(self, container: str) -> list[ApiRecord]: ...

    async def delete_api(self, container: str, identifier: str) -> bool: ...

    async def add_client(self, client: ClientRecord) -> bool: ...

    async def get_client(self, container: str, client_id: str) -> ClientRecord | None: ...

    async def list_clients(self, container: str) -> list[ClientRecord]: ...

    async def delete_client(self, container: str, client_id: str) -> bool: ...

    async def add_user(self, user: UserRecord) -> bool: ...

    async def get_user(self, container: str, email: str) -> UserRecord | None: ...

    async def list_users(self, container: str) -> list[UserRecord]: ...

    async def delete_user(self, container: str, email: str) -> bool: ...

    # --- Cluster-wide values (scale-out): the Redis namespace, key fingerprints -------------

    async def setdefault(self, name: str, value: str) -> str:
        """Store ``value`` under ``name`` unless a value is there; return the stored one (the
        first writer wins, atomically, like ``dict.setdefault``)."""
        ...

    # --- Cron (runtime/cron): jobs, the lease of a run in flight, run history --------------
    # A job belongs to the webtask of the same container and name; deleting the webtask
    # deletes the job and its history.

    async def put_cron_job(self, job: CronJob) -> CronJob | None:
        """Insert or replace schedule, tz, state, token, meta, next run and expiry; counters,
        history, ``created_at`` and a lease survive a replace. None when the webtask does not
        exist (checked atomically with the write)."""
        ...

    async def get_cron_job(self, container: str, name: str) -> CronJob | None: ...

    async def list_cron_jobs(
        self, container: str, meta: Mapping[str, str], offset: int, limit: int
    ) -> list[CronJob]:
        """Jobs of a container by name; every ``meta`` pair must match."""
        ...

    async def set_cron_state(
        self, container: str, name: str, state: CronState, next_run_at: float, at: float
    ) -> CronJob | None: ...

    async def delete_cron_job(self, container: str, name: str) -> bool: ...

    async def cron_history(
        self, container: str, name: str, offset: int, limit: int
    ) -> list[CronRun] | None:
        """Runs newest first; None when the job does not exist."""
        ...

    async def claim_cron_run(
        self,
        now: float,
        node: str,
        lease_s: float,
        advance: Callable[[CronJob, float], float | None],
    ) -> CronClaim | None:
        """Atomically take one due run for ``node``: an active job whose ``next_run_at`` has
        come (its next run moves to ``advance(job, now)``, or the job becomes ``invalid`` when
        that is None), or any job whose lease ran out (the same run, ``retry``). The lease
        lasts ``lease_s``. Concurrent callers, on any node, never get the same run."""
        ...

    async def finish_cron_run(
        self, claim: CronClaim, run: CronRun | None, state: CronState | None, keep: int
    ) -> bool:
        """Record ``run`` (keeping the newest ``keep``), count it, set ``state`` if given and
        release the lease, atomically; False (nothing written) when the lease is no longer
        the claimed one."""
        ...

    # --- Webtask storage (ctx.storage, /api/webtask/{c}/{n}/data) ---------------------------
    # One JSON document per webtask; deleting the webtask deletes it.

    async def get_storage(self, container: str, name: str) -> StorageDocument | None:
        """None when the webtask never stored anything (or does not exist)."""
        ...

    async def set_storage(
        self, container: str, name: str, data: str | None, *, etag: int | None, force: bool
    ) -> int | None:
        """Write ``data`` (JSON text; None clears it) and return the new etag, atomically
        checked with ``check_etag`` (else ``StorageConflict``). None when the webtask does
        not exist."""
        ...
