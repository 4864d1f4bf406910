"""``/api/tokens/{issue,inspect,revoke}``: the v1 webtask token API that wt-cli drives.

Issue answers ``200 text/plain`` with the raw JWT and a ``Location`` (sandboxjs reads
``res.text`` and the header); with ``jtn`` it creates or replaces the named webtask, the same
record ``PUT /api/webtask`` writes. The claim rules live in ``runtime.issuance``.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import Response

from runtime import issuance, lineage, tokens
from runtime.auth import authenticate
from runtime.errors import BadRequest
from runtime.http import base_url, json_response, read_body, read_json_object
from runtime.keys import Keys
from runtime.services import Services, services

TRUTHY = ("1", "true", "yes")


def _truthy(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in TRUTHY


def run_url(request: Request, svc: Services, container: str, name: str) -> str:
    return f"{base_url(request, svc.settings.public_url)}/api/run/{container}/{name}"


async def issue_token(request: Request) -> Response:
    svc = services(request)
    issuer = await authenticate(request, svc.keys, svc.store)
    body = await read_json_object(request, svc.settings.max_body_bytes)
    plan = issuance.plan(
        issuer,
        body,
        jti=tokens.new_jti(),
        now=int(time.time()),
        max_code_bytes=svc.settings.max_code_bytes,
    )
    token = await svc.webtasks.issue(plan)
    headers: dict[str, str] = {}
    ten = plan.claims.get("ten")
    if plan.container is not None and plan.name is not None:
        headers["Location"] = run_url(request, svc, plan.container, plan.name)
    elif isinstance(ten, str) and not issuance.is_regex(ten) and "," not in ten:
        base = base_url(request, svc.settings.public_url)
        headers["Location"] = f"{base}/api/run/{ten}?key={quote(token, safe='')}"
    return Response(token, media_type="text/plain", headers=headers)


def _subject(raw: str | None, keys: Keys) -> dict[str, Any]:
    """The claims of a token this server signed; expired ones included (they can be read)."""
    if not raw:
        raise BadRequest("Name the token with the 'token' parameter.")
    try:
        return tokens.verify(raw.strip(), keys, check_window=False)
    except tokens.TokenError as exc:
        raise BadRequest(f"The 'token' parameter is not a token of this server: {exc}") from exc


async def inspect_token(request: Request) -> Response:
    svc = services(request)
    caller = await authenticate(request, svc.keys, svc.store)
    subject = _subject(request.query_params.get("token"), svc.keys)
    lineage.may_inspect(caller, subject)
    body: dict[str, Any] = dict(subject)
    ten, name = subject.get("ten"), subject.get("jtn")
    decrypt = _truthy(request, "decrypt") and isinstance(subject.get("ectx"), str)
    record = None
    if isinstance(ten, str) and isinstance(name, str):
        body["webtask_url"] = run_url(request, svc, ten, name)
        record = await svc.store.get_webtask(ten, name)
    if decrypt and record is not None and record.claims.get("jti") == subject.get("jti"):
        # The webtask's current token: its secrets are also sealed in the record, which
        # webtasks stored before ectx was bound to the container can still open.
        body["ectx"] = svc.webtasks.secrets_of(record)
    elif decrypt:
        body["ectx"] = svc.webtasks.open_ectx(subject["ectx"], ten)
    if record is not None:
        meta = svc.webtasks.meta_of(record)
        if _truthy(request, "meta") and meta:
            body["meta"] = meta
        if _truthy(request, "fetch_code"):
            body["code"] = record.code
    return json_response(body)


async def _revocation_subject(request: Request, limit: int) -> str | None:
    raw = request.query_params.get("token")
    if raw:
        return raw
    payload = await read_body(request, limit)
    if not payload.strip():
        return None
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        values = parse_qs(payload.decode(errors="replace")).get("token")
        return values[0] if values else None
    try:
        parsed = json.loads(payload)
    except ValueError as exc:
        raise BadRequest(f"Request body is not valid JSON: {exc}.") from exc
    except RecursionError as exc:
        raise BadRequest("Request body is JSON nested too deeply.") from exc
    token = parsed.get("token") if isinstance(parsed, dict) else None
    return token if isinstance(token, str) else None


async def revoke_token(request: Request) -> Response:
    svc = services(request)
    caller = await authenticate(request, svc.keys, svc.store)
    subject = _subject(await _revocation_subject(request, svc.settings.max_body_bytes), svc.keys)
    lineage.may_revoke(caller, subject)
    jti = subject.get("jti")
    if not isinstance(jti, str):
        raise BadRequest("This token has no 'jti' claim, so it cannot be revoked.")
    await svc.store.revoke(jti, time.time())
    return json_response({"revoked": jti})
