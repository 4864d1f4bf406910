"""Named webtasks: validate uploads, compile them in the container's sandbox, seal secrets,
mint the webtask token, and serve records to the run path from an invalidated cache."""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from compilers import Compiler, UnknownCompiler, get_compiler
from runtime import tokens
from runtime.crypto import SecretBox
from runtime.errors import BadRequest, NotFound
from runtime.keys import Keys
from runtime.store import Store, WebtaskRecord, code_hash
from sandbox.errors import CompileFailed
from sandbox.pool import WorkerPool

NAME_RE = re.compile(r"^[-a-zA-Z0-9._~!$+=:@]{1,128}$")
CODE_URL_PREFIX = "webtask://localhost/api/data/code/"


def rule_hash(code: str, language: str | None) -> str:
    """Cache key of compiled code in a worker: the source and the language it is read as."""
    return code_hash(f"{language or ''}\0{code}")


def check_name(kind: str, value: str) -> str:
    if not NAME_RE.match(value):
        raise BadRequest(
            f"Invalid {kind} name {value!r}: use 1-128 characters from a-z, A-Z, 0-9 and "
            "-._~!$+=:@."
        )
    return value


def code_url(container: str, name: str) -> str:
    return CODE_URL_PREFIX + quote(f"{container}/{name}", safe="")


def string_map(field: str, value: object) -> dict[str, str]:
    """A JSON object of string values (numbers and booleans are stringified, as wt does)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"'{field}' must be an object of strings, not {type(value).__name__}.")
    out: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, bool):
            item = "true" if item else "false"
        elif isinstance(item, int | float):
            item = str(item)
        if not isinstance(item, str):
            raise BadRequest(f"'{field}.{key}' must be a string, not {type(item).__name__}.")
        out[str(key)] = item
    return out


@dataclass(frozen=True, slots=True)
class Runnable:
    """What the run path needs: the record, its decrypted secrets and its compiler."""

    record: WebtaskRecord
    meta: Mapping[str, str]
    secrets: Mapping[str, str]
    compiler: Compiler
    code_hash: str
    language: str | None = None


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

    def _aad(self, container: str, name: str, part: str = "secrets") -> str:
        return f"webtask-{part}:{container}/{name}"

    def meta_digest(self, key: str, value: str) -> str:
        """Keyed digest of one meta pair: lets the store filter without seeing the value."""
        return hmac.new(self._index_key, f"{key}\0{value}".encode(), "sha256").hexdigest()

    def meta_of(self, record: WebtaskRecord) -> dict[str, str]:
        value = self.box.open(record.meta_sealed, self._aad(record.container, record.name, "meta"))
        return dict(value) if isinstance(value, dict) else {}

    async def upsert(
        self,
        container: str,
        name: str,
        body: Mapping[str, Any],
        issuer: Mapping[str, Any],
    ) -> WebtaskRecord:
        """Create or replace ``container/name`` from a PUT body; returns the stored record."""
        check_name("container", container)
        check_name("webtask", name)
        code = await self._code_from(container, name, body)
        meta = string_map("meta", body.get("meta"))
        secrets = string_map("secrets", body.get("secrets"))
        try:
            get_compiler(meta)
        except UnknownCompiler as exc:
            raise BadRequest(str(exc)) from exc
        language = meta.get("wt-language") or None
        if language not in (None, "python", "javascript"):
            raise BadRequest(
                f"Meta wt-language must be 'python' or 'javascript', not {language!r}."
            )
        try:
            await self.pool.compile(container, rule_hash(code, language), code, language)
        except CompileFailed as exc:
            raise BadRequest(str(exc), language=exc.language, details=exc.diagnostics) from exc
        now = time.time()
        previous = await self.store.get_webtask(container, name)
        claims: dict[str, Any] = {
            "jti": tokens.new_jti(),
            "iat": int(now),
            "ca": [*issuer.get("ca", []), issuer["jti"]] if "jti" in issuer else [],
            "ten": container,
            "jtn": name,
            "dd": 0,
            "url": code_url(container, name),
        }
        host = body.get("host")
        if isinstance(host, str) and host:
            claims["host"] = host
        if secrets:
            claims["ectx"] = self.box.seal(secrets, f"ectx:{claims['jti']}")
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
        )
        await self.store.put_webtask(record)
        self._cache.pop((container, name), None)
        return record

    async def _code_from(self, container: str, name: str, body: Mapping[str, Any]) -> str:
        code, url = body.get("code"), body.get("url")
        if (code is None) == (url is None):
            raise BadRequest("Send exactly one of 'code' (the rule source) or 'url'.")
        if url is not None:
            if url != code_url(container, name):
                raise BadRequest(
                    f"Unsupported url {url!r}: only this webtask's stored code "
                    f"({code_url(container, name)}) can be referenced; send 'code' instead."
                )
            existing = await self.store.get_webtask(container, name)
            if existing is None:
                raise BadRequest("The url refers to stored code, but this webtask has none yet.")
            return existing.code
        if not isinstance(code, str):
            raise BadRequest(f"'code' must be a string, not {type(code).__name__}.")
        if len(code.encode()) > self.max_code_bytes:
            raise BadRequest(f"'code' is larger than the {self.max_code_bytes}-byte limit.")
        if not code.strip():
            raise BadRequest("'code' is empty.")
        return code

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
        self._cache.pop((container, name), None)
        if not await self.store.delete_webtask(container, name):
            raise NotFound(f"No such webtask: {container}/{name}.")

    async def runnable(self, container: str, name: str) -> Runnable:
        cached = self._cache.get((container, name))
        if cached is not None:
            return cached
        record = await self.get(container, name)
        meta = self.meta_of(record)
        try:
            compiler = get_compiler(meta)
        except UnknownCompiler as exc:
            raise BadRequest(str(exc)) from exc
        runnable = Runnable(
            record=record,
            meta=meta,
            secrets=self.secrets_of(record),
            compiler=compiler,
            code_hash=rule_hash(record.code, meta.get("wt-language") or None),
            language=meta.get("wt-language") or None,
        )
        self._cache[(container, name)] = runnable
        return runnable
