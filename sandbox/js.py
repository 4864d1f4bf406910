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
from typing import Any

import esprima
import quickjs

MAX_JOBS = 100_000
STACK_BYTES = 1 << 20

# Runs once per context, before the rule. Names starting with __wt are ours; rules can see them
# but they only reach this context's own state.
PRELUDE = r"""
(function (g) {
  'use strict';
  class ExtensibilityUserError extends Error {
    constructor(message) { super(message); this.name = this.constructor.name; }
  }
  class InvalidRequestError extends ExtensibilityUserError {}
  class InvalidScopeError extends ExtensibilityUserError {}
  class ServerError extends ExtensibilityUserError {}
  class PreUserRegistrationError extends ExtensibilityUserError {
    constructor(message, friendlyMessage) {
      super(message); this.friendlyMessage = friendlyMessage || message;
    }
  }
  class SendPhoneMessageError extends ExtensibilityUserError {
    constructor(message, friendlyMessage) {
      super(message); this.friendlyMessage = friendlyMessage || message;
    }
  }
  Object.assign(g, { ExtensibilityUserError, InvalidRequestError, InvalidScopeError,
                     ServerError, PreUserRegistrationError, SendPhoneMessageError });
  // No calls into Python while a time limit is set (the binding forbids it): console output
  // is buffered here and collected by the worker after every step, within a byte budget.
  const logs = [];
  let logBytes = 0;
  const logBudget = g.__wt_log_budget;
  delete g.__wt_log_budget;
  function log(level, text) {
    logBytes += text.length + 1;
    if (logBytes > logBudget) {
      throw new Error('Log output is limited to ' + logBudget + ' bytes per call.');
    }
    logs.push([level, text]);
  }
  function show(v) {
    if (typeof v === 'string') return v;
    if (v instanceof Error) return String(v);
    try { const s = JSON.stringify(v); return s === undefined ? String(v) : s; }
    catch (e) { return String(v); }
  }
  const line = (level) => (...args) => log(level, args.map(show).join(' '));
  g.console = { log: line('info'), info: line('info'), warn: line('warn'),
                error: line('error'), debug: line('debug') };
  const timers = [];
  let nextTimer = 1;
  g.setTimeout = (fn, ms, ...args) => {
    const id = nextTimer++;
    timers.push({ id, at: Date.now() + Math.max(0, Number(ms) || 0), fn, args });
    return id;
  };
  g.setImmediate = (fn, ...args) => g.setTimeout(fn, 0, ...args);
  g.clearTimeout = g.clearImmediate = (id) => {
    const i = timers.findIndex((t) => t.id === id);
    if (i >= 0) timers.splice(i, 1);
  };
  g.__wt_next_timer = () => {
    if (!timers.length) return -1;
    timers.sort((a, b) => a.at - b.at);
    return timers[0].at;
  };
  g.__wt_fire_timer = () => {
    const t = timers.shift();
    if (t) t.fn(...t.args);
  };
  g.require = (name) => {
    throw new Error('Module ' + JSON.stringify(String(name)) +
      ' is not available: wthost rules run without npm modules or network access.');
  };
  g.process = { env: {} };
  function describe(err) {
    if (err instanceof Error) {
      const props = {};
      for (const key of Object.getOwnPropertyNames(err)) {
        if (key !== 'stack') props[key] = err[key];
      }
      return { props, kind: err.name, text: String(err) };
    }
    const message = (err && err.message) || String(err) || 'Unknown error';
    return { props: { message: String(message) }, kind: 'Error', text: String(err) };
  }
  g.__wt_call = (entry, args) => {
    g.__wt_result = undefined;
    logBytes = 0;
    let done = false;
    const cb = function (err, data) {
      if (done) return;
      done = true;
      if (err) { g.__wt_result = { error: describe(err) }; return; }
      g.__wt_result = arguments.length > 1 ? { value: data } : { value: undefined };
    };
    try {
      entry.apply(null, args.concat([cb]));
    } catch (e) {
      if (!done) { done = true; g.__wt_result = { error: describe(e), thrown: true }; }
    }
  };
  g.__wt_logs = () => {
    if (!logs.length) return undefined;
    const out = JSON.stringify(logs);
    logs.length = 0;
    return out;
  };
  g.__wt_take = () => {
    const r = g.__wt_result;
    if (r === undefined) return undefined;
    g.__wt_result = undefined;
    if (r.error) {
      try { return JSON.stringify(r); }
      catch (e) {
        const message = String(r.error.props.message);
        return JSON.stringify({ error: { props: { message }, kind: 'Error', text: 'Error' } });
      }
    }
    try {
      const text = JSON.stringify(r.value);
      return JSON.stringify({ json: text === undefined ? null : text });
    } catch (e) {
      return JSON.stringify({ error: { props: {
        message: 'Error when JSON serializing the result of the extension point' },
        kind: 'Error', text: 'Error', serialize: true } });
    }
  };
})(globalThis);
"""

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


def _diagnostic(exc: quickjs.JSException, source: str) -> JSDiagnostic:
    """QuickJS names the line only; esprima finds the column when it agrees on the line."""
    text = str(exc)
    first = text.splitlines()[0] if text else "SyntaxError"
    match = _LOCATION.search(text)
    line = int(match.group(1)) if match else 1
    return JSDiagnostic(line=line, column=_column(source, line), message=first)


def _column(source: str, line: int) -> int:
    try:
        esprima.parseScript(WRAPPER_HEAD + source + WRAPPER_TAIL)
    except esprima.Error as exc:
        if getattr(exc, "lineNumber", None) == line:
            column = int(getattr(exc, "column", 1))
            return max(1, column - len(WRAPPER_HEAD)) if line == 1 else column
    except (RecursionError, MemoryError, ValueError, IndexError, AttributeError):
        pass
    return 1


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
    ) -> None:
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
            raise JSCompileError(_diagnostic(exc, source)) from None
        context.set("__wt_factory", factory)
        try:
            kind = context.eval(
                "(function () { const module = { exports: {} };"
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

    def _flush_logs(self) -> None:
        pending = self._context.eval("__wt_logs()")
        if pending is None:
            return
        for level, text in json.loads(str(pending)):
            self._log(str(level), str(text))

    def call(self, args: list[Any]) -> dict[str, Any]:
        """Run one call; returns ``{"value": …}`` or ``{"error": {...}, "thrown"?: True}``."""
        context = self._context
        context.set("__wt_args", context.parse_json(json.dumps(args)))
        context.set_time_limit(self._cpu_s)
        try:
            context.eval("__wt_call(__wt_entry, __wt_args); delete globalThis.__wt_args;")
            return self._settle()
        finally:
            self._flush_logs()

    def _settle(self) -> dict[str, Any]:
        context = self._context
        for _ in range(MAX_JOBS):
            self._flush_logs()
            taken = context.eval("__wt_take()")
            if taken is not None:
                return self._decode(str(taken))
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
                "it would never answer.",
                "type": "NoCallback",
            }
        }

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
            return {"error": described, "thrown": bool(taken.get("thrown"))}
        raw = taken.get("json")
        return {"value": None if raw is None else json.loads(raw)}
