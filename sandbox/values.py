"""Plain data in and out of rules.

Arguments reach a rule as ``JSObject`` (a dict that also allows ``obj.key``, so ported JavaScript
reads naturally) and lists. Results leave as plain dicts/lists/str/int/float/bool/None only;
anything else is refused with a message that names the offending type.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 256
MAX_NODES = 1_000_000
TOO_DEEP = f"Result is nested deeper than {MAX_DEPTH} levels (or is circular)."
_INT_RANGE = (-(2**63), 2**64 - 1)


class JSObject(dict[str, Any]):
    """A JSON object with attribute access. Writes are allowed (rules mutate their inputs)."""

    __slots__ = ()
    _guarded_writes = True  # RestrictedPython's full_write_guard lets rules write to it.

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"Object has no property {name!r}.") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            raise AttributeError(name)
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None


def to_rule(value: Any) -> Any:
    """Turn decoded JSON into what a rule sees (objects get attribute access)."""
    if isinstance(value, dict):
        return JSObject((str(k), to_rule(v)) for k, v in value.items())
    if isinstance(value, list):
        return [to_rule(v) for v in value]
    return value


class NotPlainData(ValueError):
    """A rule produced a value that is not JSON data (the rule author's mistake)."""


def to_plain(value: Any) -> Any:
    """Copy a rule's result into plain JSON data, refusing cycles, depth and foreign types."""
    budget = [MAX_NODES]
    try:
        return _plain(value, 0, budget)
    except RecursionError:
        raise NotPlainData(TOO_DEEP) from None


def _plain(value: Any, depth: int, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise NotPlainData(f"Result has more than {MAX_NODES} values.")
    if depth > MAX_DEPTH:
        raise NotPlainData(TOO_DEEP)
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if not _INT_RANGE[0] <= value <= _INT_RANGE[1]:
            raise NotPlainData("Result holds an integer too large for JSON interchange.")
        return int(value)
    if isinstance(value, float):
        return (
            float(value) if value == value and value not in (float("inf"), float("-inf")) else None
        )
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotPlainData(f"Result has a non-string key of type {type(key).__name__}.")
            out[str(key)] = _plain(item, depth + 1, budget)
        return out
    if isinstance(value, list | tuple):
        return [_plain(item, depth + 1, budget) for item in value]
    raise NotPlainData(
        f"Result holds a value of type {type(value).__name__}, which is not JSON data."
    )
