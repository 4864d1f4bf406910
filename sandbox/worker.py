"""The worker process: ``python -I -m sandbox.worker`` (exec'd, never forked from the server).

Start-up is a fixed sequence: import everything it will ever need → read ``init`` → harden
(sandbox.harden) → say ``hello`` → serve ``load``/``call`` frames until stdin closes. ``handle``
is pure with respect to I/O except for the ``emit`` callback that streams log frames.
"""

from __future__ import annotations

# Everything the worker needs is imported before hardening: afterwards no file can be opened.
import _strptime  # type: ignore[import-not-found]  # noqa: F401  (strptime imports it lazily)
import ast
import contextlib
import encodings.idna  # noqa: F401
import hashlib
import os
import random
import re
import sys
import unicodedata  # noqa: F401  (the parser needs it for non-ASCII identifiers)
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox import harden, protocol
from sandbox.channel import Channel, ChannelClosed
from sandbox.js import JSCompileError, JSModule
from sandbox.policy import (
    EntryPointError,
    arity_of,
    compile_rule,
    find_entry,
    rule_globals,
)
from sandbox.values import NotPlainData, to_plain, to_rule
from sandbox.webtask_io import ResponseError, RuleResponse, RuleStorage, request_object

for _name in ("md5", "sha1", "sha256", "sha512"):
    hashlib.new(_name, b"")  # OpenSSL reads its configuration on first use

MAX_MESSAGE_CHARS = 2000
MAX_PROPS_BYTES = 16384
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
Emit = Callable[[protocol.Message], None]


@dataclass
class Loaded:
    entry: Callable[..., Any] | None
    arity: int
    js: JSModule | None = None
    js_log: _JSLogSink | None = None


@dataclass
class State:
    """Per-worker state: compiled rules by code hash and the limits from ``init``."""

    channel: Channel
    log_bytes: int
    result_bytes: int
    cpu_ms: int
    js_memory_bytes: int = 64 * 2**20
    rng: random.Random = field(default_factory=random.Random)
    modules: dict[str, Loaded] = field(default_factory=dict)
    must_exit: bool = False


def clean_message(value: object) -> str:
    """``str()`` of an error without heap addresses, capped."""
    try:
        text = str(value)
    except Exception:  # a hostile __str__ cannot exist (no classes), but be safe
        text = "Unprintable error"
    text = _ADDRESS.sub("", text)
    return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS] + "…"


def _js_truthy(value: Any) -> bool:
    if value is None or value is False or value == "":
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == value and value != 0
    return True


def describe_error(error: Any) -> dict[str, Any]:
    """The wire form of what a rule failed with (message, optional name and own fields)."""
    if isinstance(error, BaseException):
        described: dict[str, Any] = {"message": clean_message(error), "type": type(error).__name__}
        name = getattr(error, "wt_name", None)
        if isinstance(name, str):
            described["name"] = name
        props = getattr(error, "wt_props", None)
        if isinstance(props, dict):
            with contextlib.suppress(NotPlainData, ValueError, TypeError, OverflowError):
                plain = {
                    key: clean_message(value) if isinstance(value, str) else value
                    for key, value in to_plain(props).items()
                }
                if len(protocol.encode(plain)) <= MAX_PROPS_BYTES:
                    described["props"] = plain
        return described
    if isinstance(error, dict):
        message = error.get("message")
        plain = {"message": clean_message(message) if _js_truthy(message) else "[object Object]"}
    else:
        plain = {"message": clean_message(error) or "Unknown error"}
    plain["plain"] = True
    with contextlib.suppress(NotPlainData, ValueError, TypeError, OverflowError, RecursionError):
        value = to_plain(error)
        if len(protocol.encode(value)) <= MAX_PROPS_BYTES:
            plain["value"] = value
    return plain


def _compile_error(language: str, diagnostics: list[dict[str, Any]]) -> protocol.Message:
    return {"t": "compile_error", "language": language, "diagnostics": diagnostics}


def _failure(language: str, text: str) -> protocol.Message:
    return _compile_error(language, [{"line": 0, "column": 0, "message": text}])


_COMMONJS = re.compile(r"\bmodule\.exports\b")
_PYTHONISH = re.compile(r"^(def|async def|import|from|class)\s", re.M)
_JSISH = re.compile(r"module\.exports|\bfunction\b|=>|\bconst\b|\blet\b|\bvar\b")


def detect_language(source: str, hint: object) -> str:
    """Meta ``wt-language`` when given; else Python if it parses as Python, else JavaScript."""
    if hint in ("python", "javascript"):
        return str(hint)
    if _COMMONJS.search(source):
        return "javascript"
    try:
        ast.parse(source, "<rule>")
        return "python"
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pass
    # Broken either way: report in the language it most looks like.
    if _PYTHONISH.search(source) and not _JSISH.search(source):
        return "python"
    return "javascript"


def load(state: State, message: protocol.Message, emit: Emit) -> protocol.Message:
    code_hash = str(message.get("hash", ""))
    source = message.get("code")
    if not isinstance(source, str):
        return _failure("python", "Rule source must be text.")
    source = source.removeprefix("\ufeff")  # a UTF-8 BOM, as webtask-runtime strips it
    language = detect_language(source, message.get("language"))
    if language == "javascript":
        api = message.get("webtask")
        return _load_js(state, code_hash, source, emit, api if isinstance(api, dict) else None)
    compiled = compile_rule(source)
    if compiled.code is None:
        return _compile_error("python", [d.as_dict() for d in compiled.diagnostics])
    namespace = rule_globals(_log_emitter(state, 0, emit), {}, state.rng)
    try:
        exec(compiled.code, namespace)
        entry = find_entry(namespace, compiled.code)
        arity = arity_of(entry)
    except EntryPointError as exc:
        return _failure("python", str(exc))
    except MemoryError:
        state.must_exit = True
        return _failure("python", "The rule ran out of memory while loading.")
    except BaseException as exc:  # the module body raised: report it like a compile error
        return _failure(
            "python", f"Loading the rule raised {type(exc).__name__}: {clean_message(exc)}"
        )
    state.modules[code_hash] = Loaded(entry=entry, arity=arity)
    return {"t": "loaded", "hash": code_hash, "arity": arity, "language": "python"}


def _load_js(
    state: State, code_hash: str, source: str, emit: Emit, api: dict[str, Any] | None = None
) -> protocol.Message:
    sink = _JSLogSink(_log_emitter(state, 0, emit))
    try:
        module = JSModule(
            source,
            memory_bytes=state.js_memory_bytes,
            cpu_s=state.cpu_ms / 1000,
            log=sink,
            log_bytes=state.log_bytes,
            webtask=api,
        )
    except JSCompileError as exc:
        d = exc.diagnostic
        return _compile_error(
            "javascript", [{"line": d.line, "column": d.column, "message": d.message}]
        )
    except MemoryError:
        state.must_exit = True
        return _failure("javascript", "The rule ran out of memory while loading.")
    except Exception as exc:  # QuickJS limits (time, stack) while evaluating the module body
        return _failure("javascript", f"Loading the rule failed: {clean_message(exc)}")
    state.modules[code_hash] = Loaded(entry=None, arity=module.arity, js=module, js_log=sink)
    return {"t": "loaded", "hash": code_hash, "arity": module.arity, "language": "javascript"}


class _JSLogSink:
    """console.* of one JS module, pointed at the current call's log budget."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write

    def __call__(self, level: str, text: str) -> None:
        self.write(text)


class _LogBudget(Exception):
    pass


def _log_emitter(state: State, call_id: int, emit: Emit) -> Callable[[str], None]:
    spent = [0]

    def write(text: str) -> None:
        size = len(text.encode("utf-8", "replace")) + 1
        if spent[0] + size > state.log_bytes:
            raise _LogBudget(f"Log output is limited to {state.log_bytes} bytes per call.")
        spent[0] += size
        emit({"t": "log", "id": call_id, "line": text})

    return write


def call(state: State, message: protocol.Message, emit: Emit) -> protocol.Message:
    call_id = int(message.get("id", 0))
    loaded = state.modules.get(str(message.get("hash", "")))
    if loaded is None:
        return {
            "t": "result",
            "id": call_id,
            "ok": False,
            "unknown_hash": True,
            "error": {"message": "Rule is not loaded."},
        }
    args = message.get("args")
    if not isinstance(args, list):
        args = []
    raw = message.get("model") == "raw"
    storage = bool(message.get("storage"))
    if loaded.js is not None or loaded.entry is None:
        undefined = [i for i in message.get("undefined", ()) if isinstance(i, int)]
        return _call_js(
            state, loaded, call_id, args, emit, raw=raw, storage=storage, undefined=undefined
        )
    entry = loaded.entry
    # print() inside the rule resolves _print_ from the module globals: point it at this call.
    globals_ = getattr(entry, "__globals__", {})
    printer = globals_.get("_print_")
    if printer is not None:
        printer._emit = _log_emitter(state, call_id, emit)

    outcome: dict[str, Any] = {}

    def cb(error: Any = None, result: Any = None, *_rest: Any) -> None:
        if outcome:
            return
        if _js_truthy(error):
            outcome["error"] = describe_error(error)
        else:
            outcome["value"] = result

    rule_args = to_rule(args)
    if storage and rule_args and isinstance(rule_args[0], dict):
        rule_args[0]["storage"] = RuleStorage(state.channel, call_id)
    response: RuleResponse | None = None
    if raw:
        response = RuleResponse(state.channel, call_id, state.result_bytes)
        request = request_object(args[1] if len(args) > 1 else {})
        rule_args = [rule_args[0] if rule_args else {}, request, response]
    else:
        rule_args.append(cb)
    harden.set_call_cpu_budget(state.cpu_ms)
    try:
        returned = entry(*rule_args)
        if response is not None:
            if response.headersSent:
                response.end()  # returning ends the response (no event loop to finish it later)
                outcome["value"] = None
        elif not outcome and returned is not None:
            outcome["value"] = returned
    except MemoryError:
        state.must_exit = True
        if not outcome:
            outcome["error"] = {"message": "The rule ran out of memory.", "type": "MemoryError"}
    except BaseException as exc:
        if not outcome:
            outcome["error"] = describe_error(exc)
    if not outcome:
        outcome["error"] = {
            "message": "The rule returned without calling cb(error, result) or returning a "
            "result, so it would never answer: the call fails now instead of waiting out the "
            "execution time limit."
            if response is None
            else "The rule returned without writing a response (call res.end()).",
            "type": "NoCallback",
        }
    if "error" in outcome:
        reply = {"t": "result", "id": call_id, "ok": False, "error": outcome["error"]}
        if response is not None:
            reply["thrown"] = True  # the raw model has no callback: errors are exceptions
        return reply
    if response is not None:
        return {"t": "result", "id": call_id, "ok": True, "value": None, "streamed": True}
    try:
        value = to_plain(outcome["value"])
        reply = {"t": "result", "id": call_id, "ok": True, "value": value}
        if len(protocol.encode(reply)) > state.result_bytes:
            raise NotPlainData(f"Result is larger than the {state.result_bytes}-byte limit.")
    except (NotPlainData, ValueError, TypeError, OverflowError, RecursionError) as exc:
        return {
            "t": "result",
            "id": call_id,
            "ok": False,
            "error": {"message": clean_message(exc), "type": "ResultError"},
        }
    except MemoryError:
        state.must_exit = True
        return {
            "t": "result",
            "id": call_id,
            "ok": False,
            "error": {"message": "The rule's result is too large.", "type": "ResultError"},
        }
    return reply


class _JSHost:
    """Streams a JS raw-model response as frames and forwards storage RPCs (see js.Host)."""

    def __init__(self, state: State, call_id: int) -> None:
        self._state = state
        self._call_id = call_id
        self._sent = 0

    def output(self, event: list[Any]) -> None:
        channel = self._state.channel
        if event and event[0] == "head":
            status = event[1] if isinstance(event[1], int) and 100 <= event[1] <= 599 else 500
            headers = event[2] if len(event) > 2 and isinstance(event[2], dict) else {}
            channel.send({"t": "head", "id": self._call_id, "status": status, "headers": headers})
        elif event and event[0] == "chunk":
            data = event[1]
            chunk = bytes(data) if isinstance(data, list) else str(data).encode()
            self._sent += len(chunk)
            if self._sent > self._state.result_bytes:
                raise ResponseError(
                    f"Response body is limited to {self._state.result_bytes} bytes."
                )
            channel.send({"t": "chunk", "id": self._call_id, "data": chunk})

    def rpc(self, op: str, args: dict[str, Any]) -> Any:
        return self._state.channel.rpc(self._call_id, op, args)


def _call_js(
    state: State,
    loaded: Loaded,
    call_id: int,
    args: list[Any],
    emit: Emit,
    *,
    raw: bool = False,
    storage: bool = False,
    undefined: list[int] | None = None,
) -> protocol.Message:
    assert loaded.js is not None  # JS modules carry both
    assert loaded.js_log is not None
    loaded.js_log.write = _log_emitter(state, call_id, emit)
    harden.set_call_cpu_budget(state.cpu_ms)
    try:
        outcome = loaded.js.call(
            args, raw=raw, storage=storage, undefined=undefined, host=_JSHost(state, call_id)
        )
    except MemoryError:
        state.must_exit = True
        outcome = {"error": {"message": "The rule ran out of memory.", "type": "MemoryError"}}
    except Exception as exc:  # QuickJS interrupted (time limit), stack overflow, OOM
        first = clean_message(exc).splitlines()[0] if str(exc) else "InternalError"
        if "interrupted" in first:
            first = "The rule used up its CPU time limit (JavaScript interrupted)."
        outcome = {"error": {"message": first, "type": "InternalError"}, "thrown": True}
    if "error" in outcome:
        error = dict(outcome["error"])
        error["message"] = clean_message(error.get("message", ""))
        reply = {"t": "result", "id": call_id, "ok": False, "error": error}
        if outcome.get("thrown"):
            reply["thrown"] = True
        return reply
    reply = {"t": "result", "id": call_id, "ok": True, "value": outcome.get("value")}
    if outcome.get("streamed"):
        reply["streamed"] = True
    if outcome.get("null"):
        reply["null"] = True
    if len(protocol.encode(reply)) > state.result_bytes:
        return {
            "t": "result",
            "id": call_id,
            "ok": False,
            "error": {
                "message": f"Result is larger than the {state.result_bytes}-byte limit.",
                "type": "ResultError",
            },
        }
    return reply


def handle(state: State, message: protocol.Message, emit: Emit) -> protocol.Message | None:
    kind = message.get("t")
    if kind == "load":
        return load(state, message, emit)
    if kind == "call":
        return call(state, message, emit)
    if kind == "ping":
        return {"t": "pong"}
    return {"t": "error", "message": f"Unknown message type {kind!r}."}


def main(hardener: harden.Hardener | None = None) -> None:
    """Serve one worker life on fds 0/1. A zygote passes its already-loaded ``hardener``."""
    hardener = hardener or harden.Hardener()
    channel = Channel(max_frame_bytes=64 * 2**20)
    try:
        init = channel.receive()
    except ChannelClosed:
        os._exit(0)
    if init.get("t") != "init":
        os._exit(2)
    limits = harden.Limits(
        cpu_ms=int(init["cpu_ms"]),
        memory_mb=int(init["memory_mb"]),
        uid=int(init["uid"]),
        layers=tuple(init.get("layers", ())),
    )
    sys.setrecursionlimit(int(init.get("recursion", 200)) + 50)
    state = State(
        channel=channel,
        log_bytes=int(init["log_bytes"]),
        result_bytes=int(init["result_bytes"]),
        cpu_ms=limits.cpu_ms,
        js_memory_bytes=int(init["memory_mb"]) * 2**20 // 2,
    )
    os.chdir("/")
    report = hardener.apply(limits)
    channel.send({"t": "hello", "version": protocol.VERSION, "pid": os.getpid(), "layers": report})
    while True:
        try:
            message = channel.receive()
        except ChannelClosed:
            os._exit(0)
        try:
            reply = handle(state, message, channel.send)
        except Exception as exc:  # never let a rule's odd value take the worker down silently
            reply = {
                "t": "result",
                "id": message.get("id", 0),
                "ok": False,
                "error": {
                    "message": f"The rule failed: {clean_message(exc)}",
                    "type": type(exc).__name__,
                },
            }
            state.must_exit = True
        if reply is not None:
            if state.must_exit:
                reply["exit"] = True  # tells the pool not to reuse this process
            channel.send(reply)
        if state.must_exit:
            os._exit(0)


if __name__ == "__main__":
    main()
