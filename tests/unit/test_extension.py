"""The auth0-ext-compilers conventions: JS semantics, body reading, envelopes."""

from __future__ import annotations

from typing import Any

import pytest

from compilers import Outcome, RuleError
from compilers.extension import (
    UNDEFINED,
    Buffer,
    NullDereference,
    crash_reply,
    is_object,
    is_truthy,
    prop,
    read_body,
    respond,
    rule_body,
    success_reply,
    typeof,
)
from tests.unit.hook_requests import hook_request


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (UNDEFINED, "undefined"),
        (None, "object"),
        ({}, "object"),
        ([], "object"),
        (Buffer(b"x"), "object"),
        ("", "string"),
        (0, "number"),
        (1.5, "number"),
        (True, "boolean"),
    ],
)
def test_typeof(value: Any, kind: str) -> None:
    assert typeof(value) == kind


@pytest.mark.parametrize("value", [UNDEFINED, None, False, 0, 0.0, float("nan"), ""])
def test_falsy(value: Any) -> None:
    assert not is_truthy(value)
    assert not is_object(value)


@pytest.mark.parametrize("value", [{}, [], Buffer(b""), "0", 1, -1.5, True])
def test_truthy(value: Any) -> None:
    assert is_truthy(value)


def test_prop_tells_absent_from_null_and_throws_like_js() -> None:
    assert prop({"a": None}, "a") is None
    assert prop({}, "a") is UNDEFINED
    assert prop([], "a") is UNDEFINED
    assert prop("text", "a") is UNDEFINED
    with pytest.raises(NullDereference, match=r"^Cannot read properties of null \(reading 'a'\)$"):
        prop(None, "a")
    with pytest.raises(NullDereference, match=r"of undefined \(reading 'b'\)"):
        prop(UNDEFINED, "b")


@pytest.mark.parametrize(
    ("raw", "content_type", "expected"),
    [
        (b'{"a":1}', "application/json", {"a": 1}),
        (b'{"a":1}', "application/json; charset=utf-8", {"a": 1}),
        (b'{"a":1}', "Application/JSON", {"a": 1}),
        (b'{"a":1}', "application/vnd.api+json", {"a": 1}),
        (b"null", "application/json", None),
        (b"", "application/json", None),
        (b'{"a":1}', "text/plain", Buffer(b'{"a":1}')),
        (b"a=1", "application/x-www-form-urlencoded", Buffer(b"a=1")),
        (b"[1]", "application/json5", Buffer(b"[1]")),
    ],
)
def test_body_reading_follows_wreck(raw: bytes, content_type: str, expected: Any) -> None:
    assert read_body(hook_request(raw, content_type=content_type)) == expected


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "get"])
def test_bodyless_methods_read_no_body(method: str) -> None:
    assert read_body(hook_request({"a": 1}, method=method)) is UNDEFINED
    parsed = hook_request(b"", method=method, ctx={"body": {"p": 1}})
    assert read_body(parsed) == {"p": 1}


def test_a_truthy_parsed_body_is_reused_and_a_falsy_one_is_not() -> None:
    assert read_body(hook_request(b'{"raw":1}', ctx={"body": {"pre": 1}})) == {"pre": 1}
    assert read_body(hook_request(b'{"raw":1}', ctx={"body": 0})) == {"raw": 1}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{nope", "Unexpected token n in JSON at position 1"),
        (b"[1,]", "Unexpected token ] in JSON at position 3"),
        (b'{"a":', "Unexpected end of JSON input"),
        (b"   ", "Unexpected end of JSON input"),
        (b"\xff", "Unexpected token \ufffd in JSON at position 0"),
    ],
)
def test_json_errors_use_v8_wording(raw: bytes, message: str) -> None:
    assert read_body(hook_request(raw)) == RuleError(message=message)


def test_rules_see_text_for_buffers_and_none_for_no_body() -> None:
    assert rule_body(Buffer("é".encode())) == "é"
    assert rule_body(UNDEFINED) is None
    assert rule_body({"a": 1}) == {"a": 1}


def test_success_leaves_data_out_for_none_only() -> None:
    assert "data" not in success_reply(None).body
    falsy: Any
    for falsy in (0, "", False, [], {}):
        assert success_reply(falsy).body["data"] == falsy


def test_crash_reply_is_webtask_runtimes_synchronous_exception() -> None:
    reply = crash_reply(NullDereference("Cannot read properties of null (reading 'x')"))
    assert reply.status == 500
    assert reply.encode() == (
        b'{"code":500,"error":"Script generated an unhandled synchronous exception.",'
        b'"details":"TypeError: Cannot read properties of null (reading \'x\')",'
        b'"name":"TypeError","message":"Cannot read properties of null (reading \'x\')"}'
    )


def test_error_data_follows_js_own_property_order() -> None:
    error = RuleError(message="m", name="N", props={"friendlyMessage": "f", "statusCode": 1})
    assert list(error.as_data()) == ["message", "name", "friendlyMessage", "statusCode"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"NaN", "Unexpected token N in JSON at position 0"),
        (b'{"NaN": "Infinity", "a": -Infinity}', "Unexpected token I in JSON at position 26"),
        (b'["\\"NaN", NaN]', "Unexpected token N in JSON at position 10"),
    ],
)
def test_json_constants_python_accepts_are_refused_like_v8(raw: bytes, message: str) -> None:
    assert read_body(hook_request(raw)) == RuleError(message=message)


def test_a_thrown_javascript_error_escapes_the_envelope() -> None:
    error = RuleError(message="x", kind="TypeError", text="TypeError: x", thrown=True)
    reply = respond(Outcome(error=error))
    assert reply.status == 500
    assert reply.encode() == (
        b'{"code":500,"error":"Script generated an unhandled synchronous exception.",'
        b'"details":"TypeError: x","name":"TypeError","message":"x"}'
    )


def test_a_callback_error_stays_in_the_envelope() -> None:
    error = RuleError(message="x", kind="TypeError", text="TypeError: x")
    assert respond(Outcome(error=error)).encode() == b'{"status":"error","data":{"message":"x"}}'
