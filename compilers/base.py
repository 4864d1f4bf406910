"""Data that flows through a compiler: the request it judges, the call it asks for, the reply.

Compilers are pure: ``prepare(HookRequest)`` returns either an ``Invocation`` (run the rule with
these arguments) or a ``Reply`` (answer now, e.g. unauthorized); ``respond(Outcome)`` shapes the
rule's outcome into the wire envelope. They never do I/O and never raise for bad input.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

JSON = Any


@dataclass(frozen=True, slots=True, kw_only=True)
class HookRequest:
    """One HTTP request to ``/api/run/...`` plus the webtask's context (``ctx``)."""

    method: str
    headers: Mapping[str, str]  # lower-cased names
    body: bytes
    ctx: Mapping[str, JSON]  # secrets, meta, headers, query, id, ... (becomes context.webtask)
    # The raw model's ``req`` without its body: method, url, headers, query, x_wt.
    req: Mapping[str, JSON] = field(default_factory=dict)
    # Body parsing (the token's ``pb``, or 1 with ``?webtask_pb``): 0 never, 1 always,
    # 2 for every model but ``(ctx, req, res)``. ``ctx`` holds the body parsed unless pb is 0.
    parse_body: int = 2

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def secrets(self) -> Mapping[str, JSON]:
        value = self.ctx.get("secrets")
        return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleError:
    """What a rule failed with: ``cb(err)`` or an exception it raised.

    ``props`` are the error's own extra fields (``statusCode``, ``friendlyMessage``, ...);
    ``name`` is set only for error classes whose name is an own property in JS (our
    extensibility error classes), as the reference envelope would show it. ``kind`` is the
    error's class name (``TypeError``, ``ValueError``) and ``text`` its string form
    (``String(err)`` in JS), used by the plain webtask model. ``thrown`` marks a JavaScript
    exception thrown synchronously out of the rule (webtask-runtime answers those with a 500).
    ``plain`` marks a failure with a value that is not an error (``cb('text')``, ``cb({...})``);
    ``value`` is that value when it is JSON data (webtask-runtime answers it as ``details``).
    """

    message: str
    name: str | None = None
    props: Mapping[str, JSON] = field(default_factory=dict)
    kind: str | None = None
    text: str | None = None
    thrown: bool = False
    plain: bool = False
    value: JSON = None

    def as_data(self) -> dict[str, JSON]:
        """The envelope's ``data``: own fields in the order JS defines them."""
        data: dict[str, JSON] = {"message": self.message}
        if self.name is not None:
            data["name"] = self.name
        data.update((k, v) for k, v in self.props.items() if k not in ("message", "name"))
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class Invocation:
    """Arguments for the rule, chosen by its arity once the worker has compiled it.

    ``args_by_arity[n]`` are the first ``n - 1`` arguments (the worker appends ``cb``), or the
    validation error that the reference gives for a rule of that arity.
    ``arity_error`` is the message when the rule's arity is not among the keys.
    """

    args_by_arity: Mapping[int, list[JSON] | RuleError]
    arity_error: str
    # Arities that run the raw ``(ctx, req, res)`` model: args are ``[ctx, req]`` and the
    # worker supplies ``res`` (streamed back) instead of ``cb``.
    raw_arities: frozenset[int] = frozenset()
    # Whether the first argument is a webtask ``ctx`` that gets ``ctx.storage``.
    storage: bool = False
    # Positions in ``args_by_arity[n]`` that the reference passes as ``undefined`` (a body field
    # that is absent, e.g. ``scope``): JavaScript rules should see ``undefined`` there, Python
    # rules see the ``None`` in the list.
    undefined_args: Mapping[int, frozenset[int]] = field(default_factory=dict)

    def args_for(self, arity: int) -> list[JSON] | RuleError:
        return self.args_by_arity.get(arity, RuleError(message=self.arity_error))

    def undefined_for(self, arity: int) -> frozenset[int]:
        """Argument positions a JavaScript rule of ``arity`` must receive as ``undefined``."""
        return self.undefined_args.get(arity, frozenset())


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """A rule call that ran to an answer: a result (``error is None``) or a rule error.

    ``streamed`` means the rule wrote its own HTTP response (raw model) as it ran.
    ``null`` means a ``None`` result is an explicit JSON ``null`` (JavaScript's ``null``), not
    ``undefined`` (Python has no ``undefined``: its ``None`` is left out like it).
    ``language`` is the language the rule was read as, when the worker said.
    """

    result: JSON = None
    error: RuleError | None = None
    streamed: bool = False
    null: bool = False
    language: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """An HTTP answer: status, headers and a JSON body (indented when ``indent`` is set, as
    webtask-runtime writes its errors: ``JSON.stringify(err, null, 2)``)."""

    status: int
    body: JSON
    headers: Mapping[str, str] = field(default_factory=dict)
    indent: int | None = None

    def encode(self) -> bytes:
        if self.indent is not None:
            return json.dumps(self.body, indent=self.indent, ensure_ascii=False).encode()
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode()


class Compiler(Protocol):
    """A ``wt-compiler``: authorize and validate a request, then shape the rule's outcome."""

    name: str

    def prepare(self, request: HookRequest) -> Invocation | Reply: ...

    def respond(self, outcome: Outcome) -> Reply: ...


Prepare = Callable[[HookRequest], Invocation | Reply]
