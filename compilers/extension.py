"""The auth0-ext-compilers 6.1.0 conventions shared by every extensibility point.

Authorization: only when secret ``auth0-extension-secret`` is set, the ``Authorization`` header
(trimmed) must be ``bearer <secret>`` (case-insensitive scheme); compared in constant time.
Envelopes: success ``200 {"statusCode":200,"headers":{},"status":"success","data":…}``; errors
``200 {"status":"error","data":{<error's own fields>}}`` — without the host's stack trace.
Body reading follows wreck 10: GET/HEAD/OPTIONS have no body; an empty body is ``null``; only
``application/*json`` is parsed; anything else stays a (non-JSON) buffer.
"""

from __future__ import annotations

import hmac
import json
import re
from dataclasses import dataclass

from compilers.base import JSON, HookRequest, Outcome, Reply, RuleError

SECRET_NAME = "auth0-extension-secret"
_BEARER = re.compile(r"^bearer (.+)$", re.IGNORECASE)
_JSON_TYPE = re.compile(r"^application/[a-z.+-]*json$")
_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS"})


def authorize(request: HookRequest) -> RuleError | None:
    """The reference's ``is_authorized``: None when allowed, else the error to answer."""
    secret = request.secrets.get(SECRET_NAME)
    if not is_truthy(secret):
        return None
    match = _BEARER.match(request.headers.get("authorization", "").strip())
    presented = match.group(1) if match else ""
    if match and hmac.compare_digest(presented.encode(), str(secret).encode()):
        return None
    return RuleError(message="Unauthorized extensibility point", props={"statusCode": 500})


@dataclass(frozen=True, slots=True)
class Buffer:
    """A body that was not JSON: an object to the validators, like a node Buffer."""

    raw: bytes


Body = JSON | Buffer


def read_body(request: HookRequest) -> Body | RuleError:
    """The body as wreck would hand it to the compiler, or the parse error."""
    if request.method.upper() in _BODYLESS:
        return None
    if not request.body:
        return None
    if not _JSON_TYPE.match(request.content_type):
        return Buffer(request.body)
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        position = getattr(exc, "pos", 0)
        return RuleError(message=f"Unexpected token in JSON at position {position}")


def is_truthy(value: Body) -> bool:
    """JavaScript truthiness: only null, false, 0, NaN and "" are falsy."""
    if value is None or value is False or value == "":
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == value and value != 0
    return True


def is_object(value: Body) -> bool:
    """JS ``value && typeof value === 'object'``: dicts, arrays and buffers."""
    return isinstance(value, dict | list | Buffer)


def field(body: Body, name: str) -> JSON:
    return body.get(name) if isinstance(body, dict) else None


def error_reply(error: RuleError) -> Reply:
    return Reply(status=200, body={"status": "error", "data": error.as_data()})


def success_reply(data: JSON) -> Reply:
    return Reply(
        status=200,
        body={"statusCode": 200, "headers": {}, "status": "success", "data": data},
    )


def respond(outcome: Outcome) -> Reply:
    if outcome.error is not None:
        return error_reply(outcome.error)
    return success_reply(outcome.result)


def rule_context(body: Body, request: HookRequest) -> dict[str, JSON]:
    """``context = body.context`` when it is an object, else ``{}``; plus ``context.webtask``."""
    context = field(body, "context")
    merged: dict[str, JSON] = dict(context) if isinstance(context, dict) else {}
    webtask = dict(request.ctx)
    webtask["body"] = None if isinstance(body, Buffer) else body
    merged["webtask"] = webtask
    return merged
