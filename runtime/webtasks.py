"""Named webtasks: validate uploads, compile them in the container's sandbox, seal secrets,
mint the webtask token, and serve records to the run path from an invalidated cache."""

from __future__ import annotations

import dataclasses
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from compilers import Compiler, UnknownCompiler, get_compiler
from runtime import hooks, issuance, tokens
from runtime.crypto import DecryptionError, SecretBox
from runtime.errors import (
    APIError,
    BadRequest,
    Conflict,
    NotFound,
    ScriptFailed,
    ScriptTimedOut,
    ServiceUnavailable,
)
from runtime.issuance import Plan
from runtime.keys import Keys
from runtime.names import (
    CODE_URL_PREFIX as CODE_URL_PREFIX,
    NAME_RE as NAME_RE,
    check_name as check_name,
    code_url,
)
from runtime.store import ExclusiveTaken, Store, WebtaskRecord, code_hash
from sandbox.errors import (
    CompileFailed,
    ExecutionTimeout,
    PoolBusy,
    PoolClosed,
    SandboxError,
    WorkerCrashed,
)
from sandbox.pool import WorkerPool

logger = logging.getLogger(__name__)


def rule_hash(code: str, language: str | None, api: Mapping[str, Any] | None = None) -> str:
    """Cache key of compiled code in a worker: the source, the language it is read as and the
    ``module.webtask`` it loads with."""
    if api is None:
        return code_hash(f"{language or ''}\0{code}")
    return code_hash(f"{language or ''}\0{code}\0{json.dumps(api, sort_keys=True)}")


def module_api(
    code: str, secrets: Mapping[str, str], meta: Mapping[str, str], params: Mapping[str, str]
) -> dict[str, Any] | None:
    """``module.webtask`` (webtask-runtime's load-time API: secrets, meta, params) for code
    that reads it; None for the rest, so they share compiled code across webtasks."""
    if "module.webtask" not in code:
        return None
    return {"secrets": dict(secrets), "meta": dict(meta), "params": dict(params)}


def claimed_params(claims: Mapping[str, Any]) -> dict[str, str]:
    """The ``pctx`` claim (``ctx.params``) as strings."""
    pctx = claims.get("pctx")
    return {str(k): str(v) for k, v in pctx.items()} if isinstance(pctx, dict) else {}


def _upload_failure(exc: SandboxError) -> APIError:
    """What to answer when compiling an upload did not get to a verdict: module-level code
    (run by the compile step) was killed, or no worker could take it."""
    if isinstance(exc, WorkerCrashed):
        return ScriptFailed(str(exc))
    if isinstance(exc, ExecutionTimeout):
        return ScriptTimedOut(str(exc))
    busy = ServiceUnavailable(str(exc))
    if isinstance(exc, PoolBusy | PoolClosed):
        busy.headers["Retry-After"] = str(getattr(exc, "retry_after_s", 1))
    return busy


@dataclass(frozen=True, slots=True)
class Runnable:
    """What the run path needs: the record, its decrypted secrets and its compiler.

    ``named`` is False for code run with the request (``/api/run/{container}``): its record is
    made for the one call and stored nowhere, and it has no storage.
    """

    record: WebtaskRecord
    meta: Mapping[str, str]
    secrets: Mapping[str, str]
    compiler: Compiler
    code_hash: str
    language: str | None = None
    named: bool = True
    module_api: dict[str, Any] | None = None

    @property
    def display_name(self) -> str:
        """The name in log lines."""
        return self.record.name if self.named else "(unnamed)"


class Webtasks:
    """The named-webtask service used by the management and run endpoints."""

    def __init__(self, store: Store, pool: WorkerPool, keys: Keys, max_code_bytes: int) -> None:
        self.store = store
        self.pool = pool
        self.keys = keys
        self.box = SecretBox(keys.secrets_key)
        self._index_key = hmac.new(keys.secrets_key, b"wthost meta index", "sha256").digest()
        self.max_code_bytes = max_code_bytes
        self._cache: dict[tuple[str, str], Runnable] = {}
        # Bumped by every invalidation: a record read before one is not cached after it.
        self._generation = 0
        self.changed: Callable[[str, str], None] = self.forget
        """Called after every write and delete; the app points it at ``Bus.invalidate`` so
        every node (this one included) runs ``forget``."""

    def forget(self, container: str | None, name: str | None) -> None:
        """Drop the cached runnable of ``container/name`` (everything when None)."""
        self._generation += 1
        if container is None or name is None:
            self._cache.clear()
        else:
            self._cache.pop((container, name), None)

    def _aad(self, container: str, name: str, part: str = "secrets") -> str:
        return f"webtask-{part}:{container}/{name}"

    def meta_digest(self, key: str, value: str) -> str:
        """Keyed digest of one meta pair: lets the store filter without seeing the value."""
        return hmac.new(self._index_key, f"{key}\0{value}".encode(), "sha256").hexdigest()

    def meta_of(self, record: WebtaskRecord) -> dict[str, str]:
        value = self.box.open(record.meta_sealed, self._aad(record.container, record.name, "meta"))
        return dict(value) if isinstance(value, dict) else {}

    def _ectx_aad(self, ten: object) -> str:
        # Bound to the token's container restriction, so a sealed ectx cannot be replayed into
        # a token (and a webtask) of another container.
        return f"webtask-ectx:{ten if isinstance(ten, str) else ''}"

    def open_ectx(self, sealed: str, ten: object) -> dict[str, str]:
        """The secrets of a token's ``ectx`` claim; 400 when it was sealed for another ``ten``."""
        try:
            value = self.box.open(sealed, self._ectx_aad(ten))
        except DecryptionError as exc:
            raise BadRequest(
                "Claim 'ectx' is encrypted, but not by this server for this container; send the "
                "secrets as a plain object instead."
            ) from exc
        return dict(value) if isinstance(value, dict) else {}

    def _secrets(self, ectx: dict[str, str] | str | None, ten: object) -> dict[str, str]:
        if ectx is None:
            return {}
        return self.open_ectx(ectx, ten) if isinstance(ectx, str) else dict(ectx)

    async def upsert(
        self,
        container: str,
        name: str,
        body: Mapping[str, Any],
        issuer: Mapping[str, Any],
    ) -> WebtaskRecord:
        """Create or replace ``container/name`` from a PUT body: the same record, token and
        rules as ``POST /api/tokens/issue`` with ``jtn``."""
        check_name("container", container)
        check_name("webtask", name)
        plan = issuance.plan(
            issuer,
            issuance.from_put(container, name, body),
            jti=tokens.new_jti(),
            now=int(time.time()),
            max_code_bytes=self.max_code_bytes,
        )
        return await self._save(plan, container, name)

    async def issue(self, plan: Plan) -> str:
        """Sign a planned token; a named one creates or replaces its webtask first."""
        if plan.container is not None and plan.name is not None:
            record = await self._save(plan, plan.container, plan.name)
            return record.token
        claims = dict(plan.claims)
        secrets = self._secrets(plan.ectx, claims.get("ten"))
        if secrets:
            claims["ectx"] = self.box.seal(secrets, self._ectx_aad(claims.get("ten")))
        return tokens.sign(claims, self.keys)

    async def _save(self, plan: Plan, container: str, name: str) -> WebtaskRecord:
        meta = plan.meta
        secrets = self._secrets(plan.ectx, container)
        previous = await self.store.get_webtask(container, name)
        code = plan.code
        if code is None:
            if previous is None:
                raise BadRequest(
                    f"The url refers to stored code, but webtask {container}/{name} has none "
                    "yet; send 'code'."
                )
            code = previous.code
        try:
            get_compiler(meta)
        except UnknownCompiler as exc:
            raise BadRequest(str(exc)) from exc
        language = meta.get("wt-language") or None
        if language not in (None, "python", "javascript"):
            raise BadRequest(
                f"Meta wt-language must be 'python' or 'javascript', not {language!r}."
            )
        api = module_api(code, secrets, meta, claimed_params(plan.claims))
        try:
            await self.pool.compile(
                container, rule_hash(code, language, api), code, language, module_api=api
            )
        except CompileFailed as exc:
            raise BadRequest(str(exc), language=exc.language, details=exc.diagnostics) from exc
        except SandboxError as exc:
            raise _upload_failure(exc) from exc
        now = time.time()
        claims = {**plan.claims, "url": code_url(container, name)}
        if secrets:
            claims["ectx"] = self.box.seal(secrets, self._ectx_aad(container))
        hook_type = hooks.enabled_type(meta)
        record = WebtaskRecord(
            container=container,
            name=name,
            code=code,
            meta_sealed=self.box.seal(meta, self._aad(container, name, "meta")),
            meta_index=tuple(sorted(self.meta_digest(k, v) for k, v in meta.items())),
            secrets_sealed=self.box.seal(secrets, self._aad(container, name)) if secrets else None,
            token=tokens.sign(claims, self.keys),
            claims=claims,
            created_at=previous.created_at if previous else now,
            updated_at=now,
            exclusive=None
            if hook_type is None
            else self.meta_digest(hooks.EXTENSION_NAME, hook_type),
        )
        if hook_type is not None:
            await self._disable_other_hooks(container, name, hook_type)
        try:
            await self.store.put_webtask(record)
        except ExclusiveTaken as exc:
            raise Conflict(
                f"Auth0 hook {exc.holder!r} of type {hook_type!r} was enabled in container "
                f"{container!r} at the same time; only one hook of a type may be enabled. "
                "Retry.",
                holder=exc.holder,
            ) from exc
        self.changed(container, name)
        return record

    async def _disable_other_hooks(self, container: str, name: str, hook_type: str) -> None:
        """Enabling a hook disables the other enabled hooks of its type (as Auth0 did), so the
        store's one-holder-per-slot rule only ever stops a concurrent enable."""
        digests = [
            self.meta_digest(hooks.EXTENSION, hooks.RUNTIME),
            self.meta_digest(hooks.EXTENSION_NAME, hook_type),
        ]
        for other in await self.store.list_webtasks(container, digests, 0, 1000):
            meta = self.meta_of(other)
            if other.name == name or hooks.enabled_type(meta) is None:
                continue
            meta[hooks.DISABLED] = "1"
            await self.store.put_webtask(
                dataclasses.replace(
                    other,
                    meta_sealed=self.box.seal(meta, self._aad(container, other.name, "meta")),
                    meta_index=tuple(sorted(self.meta_digest(k, v) for k, v in meta.items())),
                    exclusive=None,
                    updated_at=time.time(),
                )
            )
            self.changed(container, other.name)
            logger.info(
                "hook %s/%s disabled: %s enables another %s hook",
                container,
                other.name,
                name,
                hook_type,
            )

    async def get(self, container: str, name: str) -> WebtaskRecord:
        record = await self.store.get_webtask(container, name)
        if record is None:
            raise NotFound(f"No such webtask: {container}/{name}.")
        return record

    def secrets_of(self, record: WebtaskRecord) -> dict[str, str]:
        if record.secrets_sealed is None:
            return {}
        value = self.box.open(record.secrets_sealed, self._aad(record.container, record.name))
        return dict(value) if isinstance(value, dict) else {}

    async def delete(self, container: str, name: str) -> None:
        deleted = await self.store.delete_webtask(container, name)
        # After the write, so no node can cache the record again from before it.
        self.changed(container, name)
        if not deleted:
            raise NotFound(f"No such webtask: {container}/{name}.")

    async def runnable(self, container: str, name: str) -> Runnable:
        cached = self._cache.get((container, name))
        if cached is not None:
            return cached
        generation = self._generation
        record = await self.get(container, name)
        meta = self.meta_of(record)
        try:
            compiler = get_compiler(meta)
        except UnknownCompiler as exc:
            raise BadRequest(str(exc)) from exc
        secrets = self.secrets_of(record)
        language = meta.get("wt-language") or None
        api = module_api(record.code, secrets, meta, claimed_params(record.claims))
        runnable = Runnable(
            record=record,
            meta=meta,
            secrets=secrets,
            compiler=compiler,
            code_hash=rule_hash(record.code, language, api),
            language=language,
            module_api=api,
        )
        if generation == self._generation:
            self._cache[(container, name)] = runnable
        return runnable
