"""The plain webtask model (no ``wt-compiler``), answered exactly as webtask-runtime 2.0.0 does.

Models by arity: ``(cb)``, ``(ctx, cb)`` and ``(ctx, req, res)`` (the rule writes its own
response, streamed). ``cb(null, data)`` → 200 ``application/json`` with ``JSON.stringify(data)``
(falsy data → ``{}``). Failures are JSON with ``code``, ``error``, ``details``, ``name`` and
``message``, indented by two spaces as RT writes them (``JSON.stringify(err, null, 2)``):

- ``cb(err)`` → 400 "Script returned an error.", ``details`` = ``String(err)`` for an Error,
  else the value itself;
- a result that is not JSON data → 400 "Error when JSON serializing the result of the
  JavaScript code.";
- an exception thrown synchronously → 500 "Script generated an unhandled synchronous
  exception." (Python's ``raise`` is the Pythonic ``cb(err)``, so only the raw model and
  engine limits land here for Python rules);
- code that does not compile, exports no function or has another arity → 400 with RT's wording.

RT adds a ``stack`` field only as a non-enumerable property, so it never reaches the wire; host
stack traces never do here either. Python rules get the same answers with "Python" for
"JavaScript".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from compilers import context
from compilers.base import JSON, HookRequest, Invocation, Outcome, Reply, RuleError

SIGNATURES = "([ctx], callback) or (ctx, req, res)"
ARITY = (
    "Unable to compile submitted JavaScript. Error: The JavaScript function must have one of "
    f"the following signatures: {SIGNATURES}."
)
RETURNED_ERROR = "Script returned an error."
SERIALIZING = "Error when JSON serializing the result of the {language} code."
UNHANDLED = "Script generated an unhandled synchronous exception."
NO_ANSWER = "Script finished without responding."
TOO_LARGE = "Script exceeds the size limit."
INDENT = 2
_LANGUAGES = {"python": "Python", "javascript": "JavaScript"}
# Failures of the engine's own limits: no callback could have reported them.
_ENGINE_FAILURES = frozenset({"MemoryError", "InternalError"})


def language_name(language: str | None) -> str:
    """``JavaScript`` or ``Python`` as the reference's messages spell a language."""
    return _LANGUAGES.get(language or "javascript", "JavaScript")


def is_falsy(value: JSON) -> bool:
    """JavaScript falsiness of a result (``[]`` and ``{}`` are truthy)."""
    return not context.is_truthy(value)


def error_reply(status: int, error: str | None, failure: RuleError) -> Reply:
    """RT's ``Errors.create(status, error, source)`` as it reaches the wire."""
    body: dict[str, JSON] = {"code": status}
    if error is not None:
        body["error"] = error
    body.update(_described(failure))
    return Reply(status=status, body=body, indent=INDENT)


def _described(failure: RuleError) -> dict[str, JSON]:
    """``details``, ``name`` and ``message`` of what the rule failed with."""
    if failure.plain:
        value = failure.value if failure.value is not None else failure.text or failure.message
        described: dict[str, JSON] = {"details": value}
        if isinstance(value, dict):
            for key in ("name", "message"):
                if key in value:
                    described[key] = value[key]
        return described
    kind = failure.kind or "Error"
    text = failure.text or (f"{kind}: {failure.message}" if failure.message else kind)
    return {"details": text, "name": failure.name or kind, "message": failure.message}


def _split(text: str) -> RuleError:
    """An error given as ``String(err)`` (``TypeError: message``)."""
    kind, sep, message = text.partition(": ")
    if not sep or not kind.isidentifier():
        return RuleError(message=text, kind="Error", text=f"Error: {text}")
    return RuleError(message=message, kind=kind, text=text)


def serialize_failure(failure: RuleError, language: str | None) -> Reply:
    """The result could not be serialized: RT reports the ``JSON.stringify`` TypeError."""
    error = SERIALIZING.format(language=language_name(language))
    cause = _split(failure.text) if failure.text else _split(f"TypeError: {failure.message}")
    return error_reply(400, error, cause)


def arity_failure(language: str | None) -> Reply:
    """The function takes a number of arguments no model has (RT: no ``error`` field)."""
    name = language_name(language)
    details = ARITY.replace("JavaScript", name)
    return Reply(status=400, body={"code": 400, "details": details}, indent=INDENT)


def compile_failure(language: str, diagnostics: Sequence[Mapping[str, Any]]) -> Reply:
    """Code that does not compile or load: RT's 400 for each way that happens."""
    name = language_name(language)
    first = diagnostics[0] if diagnostics else {}
    message = str(first.get("message", "")) or "SyntaxError: The code does not compile."
    line, column = first.get("line", 0), first.get("column", 0)
    for prefix in ("Loading the rule threw ", "Loading the rule raised "):
        if message.startswith(prefix):
            # The module's own code threw while it loaded.
            return _compile_error(name, _split(message.removeprefix(prefix)))
    if message.startswith("SyntaxError"):
        cause = _split(message)
        if isinstance(line, int) and line > 0:
            located = f"{cause.message} (line {line}, column {column})"
            cause = RuleError(message=located, kind=cause.kind, text=f"{cause.kind}: {located}")
        return _compile_error(name, cause)
    # No function exported (or no usable entry point): RT's second kind of compile error.
    details = f"Unable to compile submitted {name}. Error: {message}"
    return Reply(status=400, body={"code": 400, "details": details}, indent=INDENT)


def _compile_error(name: str, cause: RuleError) -> Reply:
    text = cause.text or cause.message
    return error_reply(400, f"Unable to compile submitted {name}: {text}", cause)


def too_large(limit: int) -> Reply:
    """A request body over the limit (RT's ``maxBodySize``)."""
    message = f"Script exceeds the size limit of {limit}."
    return error_reply(400, TOO_LARGE, RuleError(message=message, kind="Error"))


def rule_failure(failure: RuleError, language: str | None) -> Reply:
    """What a rule's failure answers."""
    if failure.message == ARITY and failure.kind is None:
        return arity_failure(language)
    if failure.kind == "ResultError":
        return serialize_failure(failure, language)
    if failure.kind == "NoCallback":
        body = {"code": 500, "error": NO_ANSWER, "details": failure.message}
        return Reply(status=500, body=body, indent=INDENT)
    if failure.thrown or failure.kind in _ENGINE_FAILURES:
        return error_reply(500, UNHANDLED, failure)
    return error_reply(400, RETURNED_ERROR, failure)


class PlainWebtask:
    """Runs a plain webtask: ``(cb)``, ``(ctx, cb)``, or ``(ctx, req, res)`` streamed."""

    name = ""

    def prepare(self, request: HookRequest) -> Invocation | Reply:
        ctx = dict(request.ctx)
        return Invocation(
            args_by_arity={
                1: [],
                2: [ctx],
                3: context.raw_args(ctx, request.req, request.body, request.parse_body),
            },
            arity_error=ARITY,
            raw_arities=frozenset({3}),
            storage=True,
        )

    def respond(self, outcome: Outcome) -> Reply:
        if outcome.error is not None:
            return rule_failure(outcome.error, outcome.language)
        result = outcome.result
        return Reply(status=200, body={} if is_falsy(result) else result)
