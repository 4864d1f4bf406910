"""The webtask context (``ctx``) and the raw model's ``req``, as webtask-runtime 2.0.0 builds them.

Pure functions of what the platform knows: the request (query, headers, body) and the webtask
(secrets, params, meta, the ``pb``/``mb`` claims). The rules they follow (RT ``context.js``,
``request.js``):

- ``ctx.query`` is the query string without its ``webtask_*`` parameters, parsed like node's
  ``querystring.parse`` (a repeated key becomes a list);
- ``ctx.data`` is the query, then the params, then the secrets (later ones win); with ``mb``
  each key of an object body is added where ``data`` has nothing truthy yet;
- when the body is parsed (``pb``), ``ctx.body_raw`` is its text and ``ctx.body`` its value:
  ``application/x-www-form-urlencoded`` → ``querystring.parse``, ``application/json`` (also
  when no Content-Type is sent) → ``JSON.parse``; other types and parse errors leave no
  ``ctx.body``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import parse_qsl

from compilers.base import JSON

FORM = "application/x-www-form-urlencoded"
JSON_TYPE = "application/json"
MAX_KEYS = 1000  # querystring.parse's default maxKeys
# node keeps the first of these when a request repeats them, and joins other repeats with ", ".
_SINGLE_HEADERS = frozenset(
    [
        "age",
        "authorization",
        "content-length",
        "content-type",
        "etag",
        "expires",
        "from",
        "host",
        "if-modified-since",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "proxy-authorization",
        "referer",
        "retry-after",
        "server",
        "user-agent",
    ]
)
_INT64 = (-(2**63), 2**63 - 1)


class Absent:
    """A ``ctx.body`` that is not there (JavaScript's ``undefined``, unlike JSON ``null``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = Absent()


def parse_query(raw: str) -> dict[str, JSON]:
    """node's ``querystring.parse``: ``+`` is a space, a repeated key becomes a list of its
    values, and at most 1000 pairs are read."""
    out: dict[str, JSON] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True)[:MAX_KEYS]:
        previous = out.get(key)
        if previous is None:
            out[key] = value
        elif isinstance(previous, list):
            previous.append(value)
        else:
            out[key] = [previous, value]
    return out


def without_flags(query: Mapping[str, JSON]) -> dict[str, JSON]:
    """``ctx.query``: the query without the platform's ``webtask_*`` parameters."""
    return {key: value for key, value in query.items() if not key.startswith("webtask_")}


def request_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Header names lower-cased; repeats kept first, joined with ``, `` (``; `` for cookies),
    as node's ``IncomingMessage.headers`` does."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in raw:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        previous = headers.get(name)
        if previous is None:
            headers[name] = value
        elif name not in _SINGLE_HEADERS:
            headers[name] = previous + ("; " if name == "cookie" else ", ") + value
    return headers


def _js_int(text: str) -> int | float:
    """A JSON integer as ``JSON.parse`` gives it: exact in 64 bits, else a float."""
    value = int(text)
    return value if _INT64[0] <= value <= _INT64[1] else float(value)


def _refuse(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str) -> JSON | Absent:
    """``JSON.parse(text)``, or ``ABSENT`` when it throws."""
    try:
        value: JSON = json.loads(text, parse_int=_js_int, parse_constant=_refuse)
    except (ValueError, RecursionError):
        return ABSENT
    return value


def parse_body(content_type: str | None, text: str) -> JSON | Absent:
    """The parsed body for ``ctx.body``: a form, JSON, or ``ABSENT`` (any other type, or a
    body that does not parse). A request without Content-Type is read as JSON, as in RT."""
    kind = JSON_TYPE if content_type is None else content_type
    if FORM in kind:
        return parse_query(text)
    if JSON_TYPE in kind:
        return parse_json(text)
    return ABSENT


def is_truthy(value: JSON) -> bool:
    """JavaScript truthiness of JSON data."""
    if value is None or value is False or value == "":
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == value and value != 0
    return True


def base_data(
    query: Mapping[str, JSON], params: Mapping[str, JSON], secrets: Mapping[str, JSON]
) -> dict[str, JSON]:
    """``ctx.data`` before the body is merged: query, then params, then secrets."""
    data = dict(query)
    data.update(params)
    data.update(secrets)
    return data


def merge_body(data: dict[str, JSON], body: JSON) -> None:
    """``mb``: add the body's keys where ``data`` holds nothing truthy (arrays by index)."""
    if isinstance(body, dict):
        items: Iterable[tuple[str, JSON]] = body.items()
    elif isinstance(body, list):
        items = ((str(index), item) for index, item in enumerate(body))
    else:
        return
    for key, value in items:
        if not is_truthy(data.get(key)):
            data[key] = value


def context(
    *,
    secrets: Mapping[str, str],
    params: Mapping[str, str],
    meta: Mapping[str, str],
    query: Mapping[str, JSON],
    headers: Mapping[str, str],
    req_id: str,
    token: str | None,
    body_raw: str | None,
    body: JSON | Absent,
    merge: bool,
) -> dict[str, JSON]:
    """``ctx`` in webtask-runtime's key order (the worker adds ``storage``). ``query`` is
    ``ctx.query`` (no ``webtask_*``); ``body_raw`` is None when the body was not parsed."""
    data = base_data(query, params, secrets)
    if merge and not isinstance(body, Absent):
        merge_body(data, body)
    ctx: dict[str, JSON] = {
        "data": data,
        "headers": headers,
        "id": req_id,
        "params": dict(params),
        "query": dict(query),
        "secrets": dict(secrets),
        "meta": dict(meta),
    }
    if token is not None:
        ctx["token"] = token
    if body_raw:
        ctx["body_raw"] = body_raw
        if not isinstance(body, Absent):
            ctx["body"] = body
    return ctx


def unparsed(ctx: Mapping[str, JSON]) -> dict[str, JSON]:
    """``ctx`` as the ``(ctx, req, res)`` model gets it under ``pb: 2``: the body is left to
    the rule, so no ``body``/``body_raw`` and nothing of it merged into ``data``."""
    if "body_raw" not in ctx:
        return dict(ctx)
    raw = {key: value for key, value in ctx.items() if key not in ("body", "body_raw")}
    raw["data"] = base_data(
        _mapping(ctx, "query"), _mapping(ctx, "params"), _mapping(ctx, "secrets")
    )
    return raw


def _mapping(ctx: Mapping[str, JSON], key: str) -> Mapping[str, JSON]:
    value = ctx.get(key)
    return value if isinstance(value, Mapping) else {}


def raw_args(
    ctx: Mapping[str, JSON], req: Mapping[str, JSON], body: bytes, parse_body: int
) -> list[JSON]:
    """``[ctx, req]`` for the ``(ctx, req, res)`` model (the worker adds ``res``).

    ``req.body`` is the parsed body under ``pb: 1`` only. Rules cannot read a request stream
    here, so ``req.raw_body`` (RT's name for the body text it read) always carries the body.
    """
    raw_ctx: dict[str, JSON] = dict(ctx) if parse_body == 1 else unparsed(ctx)
    request: dict[str, Any] = dict(req)
    if parse_body == 1 and "body" in ctx:
        request["body"] = ctx["body"]
    if body:
        text = ctx.get("body_raw")
        request["raw_body"] = text if isinstance(text, str) else body.decode("utf-8", "replace")
    return [raw_ctx, request]
