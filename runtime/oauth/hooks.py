"""Running a tenant's token hook: pick the one enabled hook, call it, read its envelope.

``LocalHooks`` runs it in-process through the same compiler + sandbox path as ``/api/run``;
``RemoteHooks`` finds it on another webtask server (list with a webtask token) and POSTs to its
run URL with ``Authorization: Bearer <auth0-extension-secret>`` — the protocol Auth0 used.
Both fail closed: anything but a clean success or a rule's own refusal raises ``ServerError``.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from compilers import HookRequest, UnknownCompiler, get_compiler
from runtime import api_run
from runtime.oauth.errors import AccessDenied, ServerError, TemporarilyUnavailable
from runtime.oauth.records import Grant
from runtime.services import Services
from runtime.store import WebtaskRecord
from runtime.webtasks import Runnable
from sandbox.errors import PoolBusy, PoolClosed, SandboxError

logger = logging.getLogger(__name__)

SECRET = "auth0-extension-secret"
# The extension names each grant's hook may carry (auth0-ext-compilers calls the client
# credentials point ``credentials-exchange``; ``client-credentials-exchange`` is accepted too).
EXTENSION_NAMES: Mapping[Grant, tuple[str, ...]] = {
    "password": ("password-exchange",),
    "client_credentials": ("client-credentials-exchange", "credentials-exchange"),
}
FAILED = "The token hook failed; no token was issued."


@dataclass(frozen=True, slots=True, kw_only=True)
class HookCall:
    """One hook invocation: the tenant, the grant and the body the compiler will validate."""

    container: str
    grant: Grant
    body: Mapping[str, Any]  # {client, scope, audience, context[, user]}
    user_agent: str = ""


class Hooks(Protocol):
    """Where the tenant's hooks run."""

    async def run(self, call: HookCall) -> tuple[bool, Any]:
        """``(False, None)`` when the tenant has no enabled hook, else ``(True, answer)``.
        Raises ``AccessDenied`` when the rule refused and ``ServerError`` when it failed."""
        ...

    async def close(self) -> None: ...


def is_enabled_hook(meta: Mapping[str, str], grant: Grant) -> bool:
    return (
        meta.get("auth0-extension") == "runtime"
        and meta.get("auth0-extension-name") in EXTENSION_NAMES[grant]
        and not meta.get("auth0-extension-disabled")
    )


def _order(meta: Mapping[str, str]) -> float:
    try:
        return float(meta.get("auth0-extension-order", "0"))
    except ValueError:
        return 0.0


def choose(candidates: Sequence[tuple[str, Mapping[str, str]]], grant: Grant) -> str | None:
    """The enabled hook for ``grant`` (lowest ``auth0-extension-order``, then name)."""
    enabled = sorted(
        ((_order(meta), name) for name, meta in candidates if is_enabled_hook(meta, grant)),
    )
    if len(enabled) > 1:
        logger.warning(
            "%d enabled %s hooks; running %s (lowest auth0-extension-order, then name)",
            len(enabled),
            grant,
            enabled[0][1],
        )
    return enabled[0][1] if enabled else None


def read_envelope(status: int, body: object, where: str) -> Any:
    """The hook's answer from an auth0-ext-compilers envelope; raises when it is not a success."""
    if status == 200 and isinstance(body, dict):
        if body.get("status") == "success":
            return body.get("data")
        data = body.get("data")
        if body.get("status") == "error" and isinstance(data, dict):
            code = data.get("statusCode")
            message = data.get("message")
            if isinstance(code, int) and not isinstance(code, bool) and code >= 500:
                logger.error("token hook %s failed with status %d: %s", where, code, message)
                raise ServerError(FAILED)
            if isinstance(message, str) and message:
                raise AccessDenied(message)
            raise AccessDenied("The token hook denied the request.")
    logger.error("token hook %s answered HTTP %d without a usable envelope", where, status)
    raise ServerError(FAILED)


def _hook_request(call: HookCall, secret: object) -> tuple[dict[str, str], bytes]:
    headers = {"content-type": "application/json"}
    if isinstance(secret, str) and secret:
        headers["authorization"] = f"Bearer {secret}"
    if call.user_agent:
        headers["user-agent"] = call.user_agent
    return headers, json.dumps(call.body, separators=(",", ":")).encode()


class LocalHooks:
    """Hooks stored in this server, run in the tenant's own sandbox worker."""

    def __init__(self, services: Services) -> None:
        self.svc = services

    async def _candidates(self, call: HookCall) -> list[tuple[WebtaskRecord, dict[str, str]]]:
        webtasks = self.svc.webtasks
        found: dict[str, tuple[WebtaskRecord, dict[str, str]]] = {}
        for extension in EXTENSION_NAMES[call.grant]:
            digests = [
                webtasks.meta_digest("auth0-extension", "runtime"),
                webtasks.meta_digest("auth0-extension-name", extension),
            ]
            for record in await self.svc.store.list_webtasks(call.container, digests, 0, 1000):
                found[record.name] = (record, webtasks.meta_of(record))
        return list(found.values())

    async def run(self, call: HookCall) -> tuple[bool, Any]:
        candidates = await self._candidates(call)
        name = choose([(record.name, meta) for record, meta in candidates], call.grant)
        if name is None:
            return False, None
        record, meta = next((r, m) for r, m in candidates if r.name == name)
        where = f"{call.container}/{name}"
        try:
            compiler = get_compiler(meta)
        except UnknownCompiler as exc:
            logger.error("token hook %s cannot run: %s", where, exc)
            raise ServerError(FAILED) from exc
        # Built from the freshly listed record (not the run path's cache), so a hook replaced
        # by another process is never served stale.
        runnable = Runnable(
            record=record,
            meta=meta,
            secrets=self.svc.webtasks.secrets_of(record),
            compiler=compiler,
            code_hash=record.code_hash,
        )
        headers, body = _hook_request(call, runnable.secrets.get(SECRET))
        req_id = secrets.token_hex(8)
        hook = HookRequest(
            method="POST",
            headers=headers,
            body=body,
            ctx=api_run.webtask_context(
                runnable, headers=headers, query={}, body=body, req_id=req_id
            ),
        )
        try:
            reply = await api_run.execute(self.svc, runnable, hook, req_id)
        except (PoolBusy, PoolClosed) as exc:
            logger.warning("token hook %s request %s not run: %s", where, req_id, exc)
            raise TemporarilyUnavailable(
                "The token hook cannot run right now; retry shortly.",
                headers={"Retry-After": str(getattr(exc, "retry_after_s", 1))},
            ) from exc
        except SandboxError as exc:
            logger.error("token hook %s request %s failed: %s", where, req_id, exc)
            raise ServerError(FAILED) from exc
        return True, read_envelope(reply.status, reply.body, where)

    async def close(self) -> None:
        return None


class RemoteHooks:
    """Hooks on another webtask server (``WTHOST_HOOKS_URL``), found with a webtask token."""

    def __init__(self, base_url: str, token: str, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)
        self._token = token

    async def _candidates(self, call: HookCall) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for extension in EXTENSION_NAMES[call.grant]:
            response = await self.client.get(
                f"{self.base_url}/api/webtask/{quote(call.container, safe='')}",
                params=[
                    ("meta", "auth0-extension:runtime"),
                    ("meta", f"auth0-extension-name:{extension}"),
                ],
                headers={"Authorization": f"Bearer {self._token}"},
            )
            if response.status_code != 200:
                raise RemoteError(f"listing hooks answered HTTP {response.status_code}")
            listed = response.json()
            if not isinstance(listed, list):
                raise RemoteError("listing hooks did not answer a list")
            for item in listed:
                if isinstance(item, dict) and isinstance(item.get("name"), str):
                    meta = item.get("meta")
                    found[item["name"]] = dict(meta) if isinstance(meta, dict) else {}
        return found

    async def run(self, call: HookCall) -> tuple[bool, Any]:
        where = f"{self.base_url} {call.container}"
        try:
            candidates = await self._candidates(call)
            name = choose(list(candidates.items()), call.grant)
            if name is None:
                return False, None
            where = f"{self.base_url} {call.container}/{name}"
            headers, body = _hook_request(call, candidates[name].get(SECRET))
            response = await self.client.post(
                f"{self.base_url}/api/run/{quote(call.container, safe='')}/{quote(name, safe='')}",
                content=body,
                headers=headers,
            )
            answer = response.json() if response.content else None
        except (httpx.HTTPError, RemoteError, ValueError) as exc:
            logger.error("remote token hook at %s failed: %s", where, exc)
            raise ServerError(FAILED) from exc
        return True, read_envelope(response.status_code, answer, where)

    async def close(self) -> None:
        await self.client.aclose()


class RemoteError(Exception):
    """The remote webtask server answered something unusable (its fault, or our settings')."""
