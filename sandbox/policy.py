"""The RestrictedPython policy for Python rules: how source is compiled and what it may touch.

``compile_rule(source)`` is pure and reports problems as ``Diagnostic`` data. ``RuleModule``
executes compiled code in a fresh restricted namespace and finds the entry point: the callable
bound to ``exports``, else the one top-level function.
"""

from __future__ import annotations

import ast
import importlib
import operator
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import CodeType
from typing import Any

from RestrictedPython.compile import compile_restricted_exec
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safe_builtins,
    safer_getattr,
)

from sandbox.facades import build_facades
from sandbox.rule_errors import RULE_ERRORS

FILENAME = "<rule>"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One compile problem: where it is and why."""

    line: int
    column: int
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "message": self.message}

    def __str__(self) -> str:
        return f"Line {self.line}, column {self.column}: {self.message}"


@dataclass(frozen=True, slots=True)
class Compiled:
    code: CodeType | None
    diagnostics: tuple[Diagnostic, ...]


def compile_rule(source: str) -> Compiled:
    """Compile Python rule source under RestrictedPython; syntax and policy errors as data."""
    try:
        ast.parse(source, FILENAME)
    except SyntaxError as exc:
        reason = exc.msg or "invalid syntax"
        return Compiled(
            None, (Diagnostic(exc.lineno or 1, exc.offset or 0, f"SyntaxError: {reason}"),)
        )
    except (ValueError, RecursionError, MemoryError) as exc:
        return Compiled(None, (Diagnostic(1, 0, f"SyntaxError: {exc.__class__.__name__}"),))
    try:
        result = compile_restricted_exec(source, FILENAME)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return Compiled(None, (Diagnostic(1, 0, f"SyntaxError: {exc}"),))
    if result.errors or result.code is None:
        return Compiled(None, tuple(_policy_diagnostic(text) for text in result.errors))
    return Compiled(result.code, ())


def _policy_diagnostic(text: str) -> Diagnostic:
    # RestrictedPython reports "Line N: reason".
    line = 0
    message = text
    if text.startswith("Line "):
        head, _, rest = text.partition(":")
        digits = head[5:].strip()
        if digits.isdigit():
            line, message = int(digits), rest.strip()
    return Diagnostic(line, 0, message)


class LogCapExceeded(Exception):
    """A rule printed more than its output budget."""


class _Printer:
    """RestrictedPython's print target: each ``print`` call becomes one log line."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit

    def __call__(self, _getattr_: object = None) -> _Printer:
        return self

    def _call_print(
        self, *objects: object, sep: object = " ", end: object = "\n", **_: object
    ) -> None:
        text = (sep if isinstance(sep, str) else " ").join(str(obj) for obj in objects)
        self._emit(text)


def _guarded_iter(ob: Any) -> Any:
    return iter(ob)


def _sorted(iterable: Iterable[Any], key: Any = None, reverse: bool = False) -> list[Any]:
    return sorted(_guarded_iter(iterable), key=key, reverse=reverse)


def _zip(*iterables: Iterable[Any]) -> list[tuple[Any, ...]]:
    return list(zip(*(_guarded_iter(it) for it in iterables), strict=False))


def _tuple(iterable: Iterable[Any] = ()) -> tuple[Any, ...]:
    return tuple(_guarded_iter(iterable))


def _bytes(source: Any = b"", encoding: str = "utf-8") -> bytes:
    if isinstance(source, str):
        return source.encode(encoding)
    if isinstance(source, int):
        if source > 2**20:
            raise ValueError("bytes(n) is limited to 1 MiB here.")
        return bytes(source)
    return bytes(_guarded_iter(source))


def _hasattr(obj: Any, name: str) -> bool:
    try:
        safer_getattr(obj, name)  # type: ignore[no-untyped-call]
    except (AttributeError, NotImplementedError, TypeError):
        return False
    return True


def _apply(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return fn(*args, **kwargs)


_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    "**=": operator.ipow,
    "<<=": operator.ilshift,
    ">>=": operator.irshift,
    "&=": operator.iand,
    "^=": operator.ixor,
    "|=": operator.ior,
    "@=": operator.imatmul,
}


def _inplacevar(op: str, x: Any, y: Any) -> Any:
    fn = _INPLACE.get(op)
    if fn is None:
        raise SyntaxError(f"Augmented assignment {op!r} is not allowed.")
    return fn(x, y)


_EXTRA_BUILTINS: dict[str, Any] = {
    "list": list,
    "dict": dict,
    "set": set,
    "frozenset": frozenset,
    "enumerate": enumerate,
    "reversed": reversed,
    "min": min,
    "max": max,
    "sum": sum,
    "any": any,
    "all": all,
    "map": map,
    "filter": filter,
    "iter": iter,
    "next": next,
    "sorted": _sorted,
    "zip": _zip,
    "tuple": _tuple,
    "bytes": _bytes,
    "getattr": safer_getattr,
    "hasattr": _hasattr,
}


def _c_level_import(name: str, *args: Any, **kwargs: Any) -> Any:
    """``__import__`` for C code only: ``datetime.strptime`` imports ``_strptime`` this way.

    Rules cannot call it (names starting with ``_`` do not compile) and every other module is
    refused with the same error an ``import`` statement gets.
    """
    if name == "_strptime":
        return importlib.import_module(name)  # pre-imported in workers: no file is opened
    raise ImportError("__import__ not found")


def rule_builtins() -> dict[str, Any]:
    """A fresh copy of ``safe_builtins`` plus safe wrappers; no classes, no import."""
    builtins = dict(safe_builtins)
    builtins.pop("__build_class__", None)  # no classes in rules
    builtins.update(_EXTRA_BUILTINS)
    builtins["__import__"] = _c_level_import
    return builtins


def rule_globals(
    emit: Callable[[str], None], extra: dict[str, Any], rng: random.Random
) -> dict[str, Any]:
    """The namespace a rule module executes in."""
    namespace: dict[str, Any] = {
        "__builtins__": rule_builtins(),
        "__name__": "rule",
        "_getattr_": safer_getattr,
        "_getitem_": operator.getitem,
        "_getiter_": _guarded_iter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": full_write_guard,
        "_inplacevar_": _inplacevar,
        "_apply_": _apply,
        "_print_": _Printer(emit),
    }
    namespace.update(build_facades(rng))
    namespace.update(RULE_ERRORS)  # the reference preludes' error classes
    namespace.update(extra)
    return namespace


class EntryPointError(Exception):
    """The module defines no usable entry point (the rule author's mistake)."""


def find_entry(namespace: dict[str, Any], code: CodeType) -> Callable[..., Any]:
    exported = namespace.get("exports")
    if callable(exported):
        return exported  # type: ignore[no-any-return]
    defined: list[Callable[..., Any]] = [
        value
        for name in code.co_names
        if callable(value := namespace.get(name))
        and getattr(value, "__module__", None) == "rule"
        and getattr(getattr(value, "__code__", None), "co_filename", None) == FILENAME
    ]
    unique = list(dict.fromkeys(defined))
    if len(unique) == 1:
        return unique[0]
    if not unique:
        raise EntryPointError(
            "The rule defines no function: define one, or set exports = <function>."
        )
    raise EntryPointError("The rule defines several functions: set exports = <the entry function>.")


def arity_of(fn: Callable[..., Any]) -> int:
    code = getattr(fn, "__code__", None)
    if code is None:
        raise EntryPointError("The rule's entry point must be a function defined in the rule.")
    return int(code.co_argcount)
