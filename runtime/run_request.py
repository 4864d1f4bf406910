"""What a rule is handed for one HTTP request: ``ctx`` and the raw model's ``req``.

Built once per request from the Starlette request, the webtask (``Runnable``) and its claims:
``pb`` (body parsing, 2 unless the token says otherwise; ``?webtask_pb`` forces 1) and ``mb``
(merge the body into ``ctx.data``; ``?webtask_mb`` forces it). The body is parsed here at most
once; compilers reuse ``ctx.body``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

from compilers import HookRequest, context as wt
from compilers.base import JSON
from runtime.webtasks import Runnable, claimed_params

URL_FORMAT = 1  # shared-domain URLs: /api/run/{container}/{name}
DEFAULT_PB = 2


def body_flags(claims: Mapping[str, Any], query: Mapping[str, JSON]) -> tuple[int, bool]:
    """``(pb, mb)`` of a call: the claims, overridden by truthy ``webtask_pb``/``webtask_mb``."""
    pb = claims.get("pb", DEFAULT_PB)
    pb = pb if isinstance(pb, int) and not isinstance(pb, bool) and pb in (0, 1, 2) else DEFAULT_PB
    if wt.is_truthy(query.get("webtask_pb")):
        pb = 1
    mb = bool(claims.get("mb")) or wt.is_truthy(query.get("webtask_mb"))
    return pb, mb


def webtask_context(
    runnable: Runnable,
    *,
    headers: Mapping[str, str],
    query: Mapping[str, JSON],
    body: bytes,
    req_id: str,
    parse_body: int | None = None,
    merge_body: bool | None = None,
    token: str | None = None,
) -> dict[str, JSON]:
    """The rule's ``ctx`` (``context.webtask``) for one call; ``headers`` are lower-cased and
    ``query`` is the whole query (``webtask_*`` flags included)."""
    claims = runnable.record.claims
    pb, mb = body_flags(claims, query)
    pb = pb if parse_body is None else parse_body
    mb = mb if merge_body is None else merge_body
    body_raw: str | None = None
    parsed: JSON | wt.Absent = wt.ABSENT
    if pb and body:
        body_raw = body.decode("utf-8", "replace")
        parsed = wt.parse_body(headers.get("content-type"), body_raw)
    return wt.context(
        secrets=runnable.secrets,
        params=claimed_params(claims),
        meta=runnable.meta,
        query=wt.without_flags(query),
        headers=headers,
        req_id=req_id,
        token=token,
        body_raw=body_raw,
        body=parsed,
        merge=mb,
    )


def hook_request(
    request: Request, runnable: Runnable, body: bytes, req_id: str, *, token: str | None
) -> HookRequest:
    """The ``HookRequest`` of an HTTP call; ``token`` is the token the rule may see
    (``ctx.token``, ``req.x_wt.token``), if any."""
    scope = request.scope
    raw_query = bytes(scope.get("query_string", b"")).decode("latin-1")
    query = wt.parse_query(raw_query) if raw_query else {}
    headers = wt.request_headers(scope.get("headers", ()))
    claims = runnable.record.claims
    pb, mb = body_flags(claims, query)
    ctx = webtask_context(
        runnable,
        headers=headers,
        query=query,
        body=body,
        req_id=req_id,
        parse_body=pb,
        merge_body=mb,
        token=token,
    )
    path = scope.get("raw_path") or str(scope.get("path", "")).encode()
    url = bytes(path).decode("latin-1") + (f"?{raw_query}" if raw_query else "")
    x_wt: dict[str, JSON] = {"container": runnable.record.container}
    if runnable.named:
        x_wt["jtn"] = runnable.record.name
    x_wt.update(
        url_format=URL_FORMAT,
        pb=pb,
        mb=int(mb),
        ectx=dict(runnable.secrets),
        pctx=claimed_params(claims),
        meta=dict(runnable.meta),
    )
    if token is not None:
        x_wt["token"] = token
    x_wt["req_id"] = req_id
    req = {"method": request.method, "url": url, "headers": headers, "query": query, "x_wt": x_wt}
    return HookRequest(
        method=request.method, headers=headers, body=body, ctx=ctx, req=req, parse_body=pb
    )
