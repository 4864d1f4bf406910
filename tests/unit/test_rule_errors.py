"""The reference preludes' error classes, as Python rules use them (in-process, no worker)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from sandbox.policy import compile_rule, find_entry, rule_globals
from sandbox.rule_errors import (
    RULE_ERRORS,
    ExtensibilityUserError,
    InvalidRequestError,
    InvalidScopeError,
    PreUserRegistrationError,
    SendPhoneMessageError,
    ServerError,
)
from sandbox.worker import describe_error

NAMES = [
    "ExtensibilityUserError",
    "InvalidRequestError",
    "InvalidScopeError",
    "ServerError",
    "PreUserRegistrationError",
    "SendPhoneMessageError",
]


def _run(source: str, *args: Any) -> dict[str, Any]:
    """Run a rule; return what it failed with, described as the worker reports it."""
    compiled = compile_rule(source)
    assert compiled.code is not None, compiled.diagnostics
    namespace = rule_globals(lambda line: None, {}, random.Random(1))
    exec(compiled.code, namespace)
    entry = find_entry(namespace, compiled.code)
    got: list[Any] = []
    try:
        entry(*args, lambda error=None, result=None: got.append(error))
    except Exception as exc:
        got.append(exc)
    return describe_error(got[0])


def test_every_rule_namespace_has_the_classes() -> None:
    namespace = rule_globals(lambda line: None, {}, random.Random(1))
    assert [name for name in NAMES if namespace[name] is RULE_ERRORS[name]] == NAMES


@pytest.mark.parametrize(
    ("error", "name"),
    [
        (ExtensibilityUserError("m"), "ExtensibilityUserError"),
        (InvalidRequestError("m"), "InvalidRequestError"),
        (InvalidScopeError("m"), "InvalidScopeError"),
        (ServerError("m"), "ServerError"),
    ],
)
def test_name_is_the_class_name_and_nothing_else_is_added(error: Exception, name: str) -> None:
    assert describe_error(error) == {"message": "m", "type": name, "name": name, "props": {}}
    assert isinstance(error, ExtensibilityUserError)


@pytest.mark.parametrize("cls", [PreUserRegistrationError, SendPhoneMessageError])
def test_friendly_message_falls_back_to_the_message(cls: type[PreUserRegistrationError]) -> None:
    cases: list[tuple[Any, str]] = [
        (cls("m", "f"), "f"),
        (cls("m", friendly_message="f"), "f"),
        (cls("m", friendlyMessage="f"), "f"),
        (cls("m"), "m"),
        (cls("m", ""), "m"),
        (cls("m", None), "m"),
    ]
    for error, friendly in cases:
        described = describe_error(error)
        assert described["message"] == "m"
        assert described["name"] == cls.__name__
        assert described["props"] == {"friendlyMessage": friendly}
        assert error.friendlyMessage == error.friendly_message == friendly


def test_message_reads_like_javascript() -> None:
    assert InvalidScopeError("bad scope").message == "bad scope"
    assert str(PreUserRegistrationError("m", "f")) == "m"


@pytest.mark.parametrize(
    ("source", "described"),
    [
        (
            "def rule(user, context, cb):\n    cb(PreUserRegistrationError('no', 'Sorry'))\n",
            {"friendlyMessage": "Sorry"},
        ),
        (
            "def rule(user, context, cb):\n"
            "    raise SendPhoneMessageError('e1', friendlyMessage='e2')\n",
            {"friendlyMessage": "e2"},
        ),
        ("def rule(user, context, cb):\n    raise InvalidRequestError('x')\n", {}),
    ],
)
def test_rules_raise_or_pass_them(source: str, described: dict[str, Any]) -> None:
    assert _run(source, {}, {})["props"] == described


def test_rules_can_catch_them() -> None:
    source = """\
def rule(user, context, cb):
    try:
        raise InvalidScopeError('inner')
    except ExtensibilityUserError as error:
        raise ServerError('caught ' + error.message + ' ' + error.wt_name)
"""
    assert _run(source, {}, {})["message"] == "caught inner InvalidScopeError"


@pytest.mark.parametrize(
    "statement",
    [
        "InvalidScopeError.wt_name = 'X'",
        "InvalidScopeError.message = 'X'",
        "setattr(ServerError, 'wt_props', {})",
        "delattr(ExtensibilityUserError, 'wt_name')",
        "PreUserRegistrationError('m').friendlyMessage = 'X'",
        "setattr(InvalidRequestError('m'), 'wt_name', 'X')",
    ],
)
def test_rules_cannot_change_the_classes_or_their_instances(statement: str) -> None:
    source = f"def rule(user, context, cb):\n    {statement}\n    cb(None, 'changed')\n"
    described = _run(source, {}, {})
    assert described["type"] == "TypeError"
    assert InvalidScopeError("x").wt_name == "InvalidScopeError"
    assert InvalidScopeError("x").message == "x"
    assert ServerError("x").wt_props == {}
    assert isinstance(vars(ExtensibilityUserError)["wt_name"], property)
    assert PreUserRegistrationError("m").friendlyMessage == "m"


def test_props_are_a_fresh_dict_on_every_read() -> None:
    error = PreUserRegistrationError("m", "f")
    error.wt_props["friendlyMessage"] = "changed"
    assert error.wt_props == {"friendlyMessage": "f"}


def test_private_state_is_out_of_reach() -> None:
    compiled = compile_rule(
        "def rule(user, context, cb):\n"
        "    cb(None, PreUserRegistrationError('m')._FriendlyError__friendly)\n"
    )
    assert compiled.code is None
