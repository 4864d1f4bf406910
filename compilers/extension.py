"""The auth0-ext-compilers 6.1.0 conventions shared by every extensibility point.

Authorization: only when secret ``auth0-extension-secret`` is set, the ``Authorization`` header
(trimmed) must be ``bearer <secret>`` (case-insensitive scheme); compared in constant time.
It runs before the body is read (the reference reads the body first when the platform has not
parsed it; checking the secret first tells an unauthenticated caller nothing about its body).

Body reading follows the reference adapter and wreck 10: GET/HEAD/OPTIONS read no body (it is
``undefined`` unless the platform parsed one); a body the platform already parsed (a truthy
``ctx.body``) is reused; an empty body is ``null``; only ``application/*json`` is parsed; anything
else stays a (non-JSON) buffer. JSON errors use V8's ``JSON.parse`` wording, and ``NaN`` /
``Infinity`` are refused as ``JSON.parse`` refuses them.

Validation mirrors JavaScript semantics exactly, so three JS notions have Python stand-ins here:
``UNDEFINED`` (a property the body does not have, unlike JSON ``null``), ``typeof`` and
``prop`` (``value.name``, which throws on ``null``/``undefined``). Where the reference's own
validation dereferences ``null`` it crashes with a TypeError, which webtask-runtime answers as an
unhandled synchronous exception: ``NullDereference`` → ``crash_reply`` reproduces that answer.

Envelopes: success ``200 {"statusCode":200,"headers":{},"status":"success","data":…}`` (no
``data`` key when the rule gave ``None``: JavaScript's ``cb()``); errors
``200 {"status":"error","data":{<error's own fields>}}`` — without the host's stack trace.
"""

from __future__ import annotations

import hmac
import json
import re
from dataclasses import dataclass
from typing import Final

from compilers.base import JSON, HookRequest, Outcome, Reply, RuleError

SECRET_NAME = "auth0-extension-secret"
NOT_OBJECT = "Body received by extensibility point is not an object"
UNHANDLED = "Script generated an unhandled synchronous exception."
_BEARER = re.compile(r"^bearer (.+)$", re.IGNORECASE)
_JSON_TYPE = re.compile(r"^application/[a-z.+-]*json$")
_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS"})


class Undefined:
    """JavaScript's ``undefined``: a property that is absent (JSON ``null`` is ``None``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "undefined"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Final = Undefined()


@dataclass(frozen=True, slots=True)
class Buffer:
    """A body that was not JSON: an object to the validators, like a node Buffer."""

    raw: bytes


Body = JSON | Buffer | Undefined


class NullDereference(Exception):
    """The reference compiler would throw a TypeError here (``null.x``): the caller's body is
    malformed in a way the reference never validates. Internal: ``crash_reply`` answers it."""


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


def authorized_body(request: HookRequest) -> Body | Reply:
    """The shared start of every extensibility point: authorize, then read the body; a
    ``Reply`` is the error envelope to answer at once."""
    denied = authorize(request)
    if denied is not None:
        return error_reply(denied)
    body = read_body(request)
    if isinstance(body, RuleError):
        return error_reply(body)
    return body


def read_body(request: HookRequest) -> Body | RuleError:
    """The body as the reference adapter hands it to the compiler, or the parse error."""
    preparsed = request.ctx.get("body", UNDEFINED)
    if request.method.upper() in _BODYLESS or is_truthy(preparsed):
        return preparsed
    if not request.body:
        return None
    if not _JSON_TYPE.match(request.content_type):
        return Buffer(request.body)
    text = request.body.decode("utf-8", "replace")  # node's buffer.toString()
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:
        return RuleError(message=_json_error(text, exc))
    except RecursionError:  # V8's JSON.parse has a depth limit too
        return RuleError(message="Maximum call stack size exceeded")


class _NotJSON(ValueError):
    """``NaN``/``Infinity``: Python's json accepts them, ``JSON.parse`` does not."""


def _refuse_constant(name: str) -> None:
    raise _NotJSON(name)


# A constant outside string literals: where V8 reports the unexpected token.
_CONSTANT = re.compile(r'"(?:[^"\\]|\\.)*"|(NaN|Infinity)')


def _json_error(text: str, exc: ValueError) -> str:
    """V8's ``JSON.parse`` message (node ≤ 18 wording), as wreck would report it."""
    position = getattr(exc, "pos", None)
    if isinstance(exc, _NotJSON):
        found = (m.start(1) for m in _CONSTANT.finditer(text) if m.group(1))
        position = next(found, 0)
    if not isinstance(position, int) or position >= len(text.rstrip()):
        return "Unexpected end of JSON input"
    return f"Unexpected token {text[position]} in JSON at position {position}"


def is_truthy(value: Body) -> bool:
    """JavaScript truthiness: only undefined, null, false, 0, NaN and "" are falsy."""
    if value is None or value is UNDEFINED or value is False or value == "":
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == value and value != 0
    return True


def is_object(value: Body) -> bool:
    """JS ``value && typeof value === 'object'``: dicts, arrays and buffers."""
    return isinstance(value, dict | list | Buffer)


def typeof(value: Body) -> str:
    """JS ``typeof`` for decoded JSON (``null`` is an ``'object'``, as in JavaScript)."""
    if value is UNDEFINED:
        return "undefined"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object"


def prop(value: Body, name: str) -> Body:
    """JS ``value.name``: ``UNDEFINED`` when absent; ``NullDereference`` on null/undefined."""
    if value is None or value is UNDEFINED:
        kind = "null" if value is None else "undefined"
        raise NullDereference(f"Cannot read properties of {kind} (reading '{name}')")
    if isinstance(value, dict):
        return value.get(name, UNDEFINED)
    return UNDEFINED


def field(body: Body, name: str) -> JSON:
    """``body[name]`` as a rule argument: None when the body lacks it."""
    return body.get(name) if isinstance(body, dict) else None


def absent(body: Body, names: list[str]) -> frozenset[int]:
    """Positions of ``names`` that ``body`` lacks: ``undefined`` arguments in JavaScript."""
    return frozenset(i for i, name in enumerate(names) if prop(body, name) is UNDEFINED)


def rule_body(body: Body) -> JSON:
    """The body as rules see it in ``ctx.body``: non-JSON text as a string, absent as None."""
    if isinstance(body, Buffer):
        return body.raw.decode("utf-8", "replace")
    if isinstance(body, Undefined):
        return None
    return body


def webtask_context(request: HookRequest, body: Body) -> dict[str, JSON]:
    """The webtask context (``ctx``) with ``ctx.body`` set to what the compiler read."""
    webtask = dict(request.ctx)
    webtask["body"] = rule_body(body)
    return webtask


def rule_context(body: Body, request: HookRequest) -> dict[str, JSON]:
    """``context = typeof body.context === 'object' ? body.context : {}; context.webtask = ctx``.

    A ``null`` context makes the reference throw (it cannot set ``webtask`` on null). An array
    context cannot carry a ``webtask`` key in Python, so it becomes a fresh object.
    """
    context = prop(body, "context")
    if context is None:
        raise NullDereference("Cannot set properties of null (setting 'webtask')")
    merged: dict[str, JSON] = dict(context) if isinstance(context, dict) else {}
    merged["webtask"] = webtask_context(request, body)
    return merged


def error_reply(error: RuleError) -> Reply:
    """The error envelope: HTTP 200 ``{"status":"error","data":{<own fields>}}``."""
    return Reply(status=200, body={"status": "error", "data": error.as_data()})


def success_reply(data: JSON) -> Reply:
    """The success envelope; ``None`` is JavaScript's ``undefined``, so ``data`` is left out."""
    body: dict[str, JSON] = {"statusCode": 200, "headers": {}, "status": "success"}
    if data is not None:
        body["data"] = data
    return Reply(status=200, body=body)


def unhandled_reply(details: str, name: str | None, message: str) -> Reply:
    """webtask-runtime's 500 for an exception thrown synchronously (its stack left out)."""
    body: dict[str, JSON] = {"code": 500, "error": UNHANDLED, "details": details}
    if name is not None:
        body["name"] = name
    body["message"] = message
    return Reply(status=500, body=body)


def crash_reply(crash: NullDereference) -> Reply:
    """The reference compiler's own TypeError on a null it dereferences."""
    message = str(crash)
    return unhandled_reply(f"TypeError: {message}", "TypeError", message)


NO_ANSWER = "Script finished without responding."


def rule_failure_reply(error: RuleError) -> Reply:
    """A rule's error: the envelope for ``cb(err)`` (and Python's ``raise``); a JavaScript
    exception thrown synchronously escapes the envelope, as in the reference."""
    if error.thrown:
        return unhandled_reply(error.text or error.message, error.kind, error.message)
    if error.kind == "NoCallback":
        # On webtask.io such a call waited for the execution time limit and failed there; the
        # caller sees the same failure (a 5xx, which Auth0 treats as the hook failing), at once.
        body = {"code": 500, "error": NO_ANSWER, "details": error.message}
        return Reply(status=500, body=body)
    return error_reply(error)


def respond(outcome: Outcome) -> Reply:
    """Shape a rule's outcome the way the reference adapter does."""
    if outcome.error is not None:
        return rule_failure_reply(outcome.error)
    if outcome.null:
        return Reply(
            status=200,
            body={"statusCode": 200, "headers": {}, "status": "success", "data": None},
        )
    return success_reply(outcome.result)
