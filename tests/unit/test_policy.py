"""The RestrictedPython policy, exercised in-process (no worker, no OS layers)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from sandbox.policy import EntryPointError, arity_of, compile_rule, find_entry, rule_globals
from sandbox.values import JSObject, NotPlainData, to_plain, to_rule


def _load(source: str) -> tuple[Any, list[str]]:
    compiled = compile_rule(source)
    assert compiled.code is not None, compiled.diagnostics
    lines: list[str] = []
    namespace = rule_globals(lines.append, {}, random.Random(1))
    exec(compiled.code, namespace)
    return find_entry(namespace, compiled.code), lines


def test_seed_rule_runs() -> None:
    entry, _ = _load(
        "def rule(client, scope, audience, context, cb):\n"
        "    t = {}\n    t['scope'] = scope\n    t['scope'].append('extra')\n    cb(None, t)\n"
    )
    assert arity_of(entry) == 5
    got: list[Any] = []
    entry({}, ["a"], "x", {}, lambda e, r: got.append(r))
    assert got == [{"scope": ["a", "extra"]}]


@pytest.mark.parametrize(
    ("source", "line", "fragment"),
    [
        ("def f(cb):\n  return (\n", 2, "SyntaxError"),
        ("def f(cb):\n    return cb.__class__\n", 2, 'starts with "_"'),
        ("def f(cb):\n    eval('1')\n", 2, "Eval calls are not allowed"),
        ("def f(cb):\n    match cb:\n        case 1:\n            pass\n", 2, "not allowed"),
    ],
)
def test_compile_diagnostics_name_line_and_reason(source: str, line: int, fragment: str) -> None:
    compiled = compile_rule(source)
    assert compiled.code is None
    assert compiled.diagnostics[0].line == line
    assert fragment in compiled.diagnostics[0].message


def test_print_goes_to_the_log() -> None:
    entry, lines = _load("def f(cb):\n    print('hello', 1)\n    cb(None, 1)\n")
    entry(lambda *a: None)
    assert lines == ["hello 1"]


def test_attribute_access_on_objects() -> None:
    entry, _ = _load("def f(ctx, cb):\n    ctx.x = ctx.webtask.secrets.k\n    cb(None, ctx)\n")
    got: list[Any] = []
    entry(to_rule({"webtask": {"secrets": {"k": "v"}}}), lambda e, r: got.append(r))
    assert got[0]["x"] == "v"


@pytest.mark.parametrize(
    "body",
    [
        "import os",
        "open('/etc/passwd')",
        "json.dumps = None",
        "getattr(cb, '__glo' + 'bals__')",
        "'{0.__class__}'.format(1)",
        "json.loads.__globals__",
    ],
)
def test_policy_blocks(body: str) -> None:
    source = f"def f(cb):\n    {body}\n"
    compiled = compile_rule(source)
    if compiled.code is None:
        return  # refused at compile time
    namespace = rule_globals(lambda _: None, {}, random.Random(1))
    exec(compiled.code, namespace)
    entry = find_entry(namespace, compiled.code)
    with pytest.raises((ImportError, NameError, AttributeError, TypeError, NotImplementedError)):
        entry(lambda *a: None)


def test_facades_are_not_modules_and_are_read_only() -> None:
    namespace = rule_globals(lambda _: None, {}, random.Random(1))
    for name in ("json", "re", "math", "datetime", "hashlib", "base64", "random", "urllib"):
        assert type(namespace[name]).__name__ == "Facade"
    with pytest.raises(TypeError):
        namespace["json"].loads = None


def test_entry_point_rules() -> None:
    with pytest.raises(EntryPointError, match="no function"):
        _load("x = 1\n")
    with pytest.raises(EntryPointError, match="several functions"):
        _load("def a(cb): pass\ndef b(cb): pass\n")
    entry, _ = _load("def a(cb): pass\ndef b(ctx, cb): pass\nexports = b\n")
    assert arity_of(entry) == 2


def test_to_plain_refuses_foreign_values() -> None:
    assert to_plain(JSObject(a=[1, (2, 3)])) == {"a": [1, [2, 3]]}
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    for bad in (object(), {1: 2}, 10**30, cyclic):
        with pytest.raises(NotPlainData):
            to_plain(bad)


def test_strptime_works_but_import_does_not() -> None:
    entry, _ = _load(
        "def f(cb):\n"
        "    d = datetime.datetime.strptime('2026-11-26', '%Y-%m-%d')\n"
        "    cb(None, d.year)\n"
    )
    got: list[Any] = []
    entry(lambda e, r: got.append(r))
    assert got == [2026]
    with pytest.raises(ImportError, match="__import__ not found"):
        _load("import time\ndef f(cb):\n    pass\n")
