"""JavaScript rules on QuickJS, inside the same hardened worker as Python rules.

Each loaded webtask gets its own ``quickjs.Context`` (never shared between webtasks), with
memory, CPU-time and stack limits; the supervisor's wall clock backs them up (QuickJS does not
interrupt regex backtracking or some C loops). The module is CommonJS: ``module.exports = fn``
or a top-level ``return fn``. Calls run the entry with a ``cb``, then drain promise jobs and
timers a bounded number of times. Values cross the boundary as JSON text only.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import quickjs

from sandbox.channel import RPCError
from sandbox.js_prelude import PRELUDE

MAX_JOBS = 100_000
MAX_COLUMN_SOURCE = 65_536  # bytes before the failing line that column probing will re-compile
MAX_COLUMN_PROBES = 400  # longest line whose column is probed
STACK_BYTES = 1 << 20


class Host(Protocol):
    """What a running JavaScript call may ask of its worker: stream output, call the server."""

    def output(self, event: list[Any]) -> None: ...

    def rpc(self, op: str, args: dict[str, Any]) -> Any: ...


WRAPPER_HEAD = "(function (module, exports) {"
WRAPPER_TAIL = "\n})"
_LOCATION = re.compile(r"at <input>:(\d+)")


@dataclass(frozen=True, slots=True)
class JSDiagnostic:
    line: int
    column: int
    message: str


class JSCompileError(Exception):
    """The source is not valid JavaScript or exports no function (the uploader's fault)."""

    def __init__(self, diagnostic: JSDiagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def _diagnostic(context: quickjs.Context, exc: quickjs.JSException, source: str) -> JSDiagnostic:
    """QuickJS names the line only; the column is found by compiling prefixes of that line."""
    text = str(exc)
    first = text.splitlines()[0] if text else "SyntaxError"
    match = _LOCATION.search(text)
    line = int(match.group(1)) if match else 1
    return JSDiagnostic(line=line, column=_column(context, source, line, first), message=first)


def _compile_error(context: quickjs.Context, source: str) -> str | None:
    try:
        context.eval(WRAPPER_HEAD + source + WRAPPER_TAIL)
    except quickjs.JSException as exc:
        text = str(exc)
        return text.splitlines()[0] if text else "SyntaxError"
    return None


def _column(context: quickjs.Context, source: str, line: int, message: str) -> int:
    """The 1-based column where the error appears: walking back from the end of the line,
    the shortest prefix of the source that still fails with the same message.

    Bounded (long lines and big sources get the first non-blank column): each probe is a
    compile of the source up to that point, in the worker, with the context's limits.
    """
    lines = source.split("\n")
    if not 0 < line <= len(lines):
        return 1
    text = lines[line - 1]
    first_char = len(text) - len(text.lstrip()) + 1
    before = "\n".join(lines[: line - 1]) + ("\n" if line > 1 else "")
    if len(before) > MAX_COLUMN_SOURCE or len(text) > MAX_COLUMN_PROBES:
        return first_char
    column = len(text)
    while column > first_char and _compile_error(context, before + text[: column - 1]) == message:
        column -= 1
    return max(column, first_char)


class JSModule:
    """One JavaScript webtask loaded into its own context."""

    def __init__(
        self,
        source: str,
        *,
        memory_bytes: int,
        cpu_s: float,
        log: Callable[[str, str], None],
        log_bytes: int = 65536,
        webtask: dict[str, Any] | None = None,
    ) -> None:
        """``webtask`` is ``module.webtask`` while the module loads (secrets, meta, params)."""
        self._log = log
        self._cpu_s = cpu_s
        context = quickjs.Context()
        context.set_memory_limit(memory_bytes)
        context.set_max_stack_size(STACK_BYTES)
        context.set_time_limit(cpu_s)
        context.set("__wt_log_budget", log_bytes)
        context.eval(PRELUDE)
        self._context = context
        try:
            factory = context.eval(WRAPPER_HEAD + source + WRAPPER_TAIL)
        except quickjs.JSException as exc:
            raise JSCompileError(_diagnostic(context, exc, source)) from None
        context.set("__wt_factory", factory)
        if webtask is not None:
            context.set("__wt_module_api", context.parse_json(json.dumps(webtask)))
        try:
            kind = context.eval(
                "(function () { const module = { exports: {} };"
                " if (typeof __wt_module_api !== 'undefined') {"
                " module.webtask = __wt_module_api; delete globalThis.__wt_module_api; }"
                " const r = __wt_factory(module, module.exports);"
                " globalThis.__wt_entry = typeof r === 'function' ? r : module.exports;"
                " delete globalThis.__wt_factory;"
                " return typeof globalThis.__wt_entry; })()"
            )
        except quickjs.JSException as exc:
            message = str(exc).splitlines()[0] if str(exc) else "Error"
            raise JSCompileError(JSDiagnostic(0, 0, f"Loading the rule threw {message}")) from None
        if kind != "function":
            raise JSCompileError(
                JSDiagnostic(0, 0, "Supplied code must return or export a function.")
            )
        self.arity = int(context.eval("__wt_entry.length"))

    def call(
        self,
        args: list[Any],
        *,
        raw: bool = False,
        storage: bool = False,
        undefined: list[int] | None = None,
        host: Host | None = None,
    ) -> dict[str, Any]:
        """Run one call; returns ``{"value": …}`` or ``{"error": {...}, "thrown"?: True}``.

        ``raw`` runs the ``(ctx, req, res)`` model with ``args = [ctx, req]``; ``storage``
        gives ``args[0]`` a ``storage`` object. Both talk to the server through ``host``.
        """
        context = self._context
        context.set("__wt_args", context.parse_json(json.dumps(args)))
        context.set_time_limit(self._cpu_s)
        flags = f"{'true' if raw else 'false'}, {'true' if storage else 'false'}"
        holes = json.dumps(sorted(i for i in undefined or () if 0 <= i < len(args)))
        context.eval(
            f"__wt_call(__wt_entry, __wt_args, {flags}, {holes}); delete globalThis.__wt_args;"
        )
        for _ in range(MAX_JOBS):
            polled = context.eval("__wt_poll()")
            if polled is not None:
                result = self._handle(json.loads(str(polled)), host)
                if result is not None:
                    return result
                continue
            if context.execute_pending_job():
                continue
            due = context.eval("__wt_next_timer()")
            if not isinstance(due, int | float) or due < 0:
                break
            delay = (float(due) - time.time() * 1000) / 1000
            if delay > 0:
                time.sleep(delay)
            context.eval("__wt_fire_timer()")
        return {
            "error": {
                "message": "The rule finished without calling cb(error, result), so "
                "it would never answer: the call fails now instead of waiting out the "
                "execution time limit."
                if not raw
                else "The rule finished without ending its response (res.end()).",
                "type": "NoCallback",
            },
            "thrown": raw,
        }

    def _handle(self, polled: dict[str, Any], host: Host | None) -> dict[str, Any] | None:
        for level, text in polled.get("logs", ()):
            self._log(str(level), str(text))
        for event in polled.get("out", ()):
            if host is not None:
                host.output(event)
        for rpc_id, op, args in polled.get("rpcs", ()):
            self._answer(int(rpc_id), str(op), args, host)
        if "result" in polled:
            return self._decode(str(polled["result"]))
        return None

    def _answer(self, rpc_id: int, op: str, args: Any, host: Host | None) -> None:
        context = self._context
        try:
            if host is None:
                raise RPCError("Storage is not available to this rule.", 501)
            value = host.rpc(op, args if isinstance(args, dict) else {})
        except RPCError as exc:
            conflict = exc.details.get("conflict") if isinstance(exc.details, dict) else None
            context.set("__wt_rpc_value", context.parse_json(json.dumps(conflict)))
            context.eval(
                f"__wt_rpc_done({rpc_id}, false, null, {json.dumps(str(exc))}, {exc.code},"
                " __wt_rpc_value)"
            )
            return
        context.set("__wt_rpc_value", context.parse_json(json.dumps(value)))
        context.eval(f"__wt_rpc_done({rpc_id}, true, __wt_rpc_value)")

    @staticmethod
    def _decode(text: str) -> dict[str, Any]:
        taken = json.loads(text)
        if "error" in taken:
            error = taken["error"]
            props = dict(error.get("props") or {})
            message = str(props.pop("message", "") or "")
            name = props.pop("name", None)
            described: dict[str, Any] = {
                "message": message,
                "type": str(error.get("kind") or "Error"),
                "text": str(error.get("text") or ""),
            }
            if isinstance(name, str):
                described["name"] = name
            if props:
                described["props"] = props
            if error.get("plain"):
                described["plain"] = True
                described["value"] = error.get("value")
            return {"error": described, "thrown": bool(taken.get("thrown"))}
        raw = taken.get("json")
        decoded: dict[str, Any] = {"value": None if raw is None else json.loads(raw)}
        if taken.get("streamed"):
            decoded["streamed"] = True
        if raw == "null":
            decoded["null"] = True
        return decoded
