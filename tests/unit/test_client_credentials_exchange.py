"""client-credentials-exchange: authorization, every check in order, arguments, envelopes."""

from __future__ import annotations

from typing import Any

import pytest

from compilers import REGISTRY, Outcome, Reply, RuleError
from compilers.client_credentials_exchange import (
    ARITY,
    AUDIENCE,
    CLIENT,
    SCOPE,
    ClientCredentialsExchange,
)
from compilers.extension import NOT_OBJECT
from tests.unit.hook_requests import error_data, hook_request, invocation

COMPILER = ClientCredentialsExchange()
VALID = {"client": {"id": "c"}, "scope": ["read"], "audience": "aud", "context": {"ip": "1"}}


def test_registered_under_the_reference_name() -> None:
    assert REGISTRY["auth0-ext-compilers/client-credentials-exchange"].name == COMPILER.name


def test_valid_body_gives_client_scope_audience_context() -> None:
    request = hook_request(VALID)
    args = invocation(COMPILER.prepare(request)).args_for(5)
    assert isinstance(args, list)
    client, scope, audience, context = args
    assert (client, scope, audience) == ({"id": "c"}, ["read"], "aud")
    assert context["ip"] == "1"
    assert context["webtask"]["body"] == VALID
    assert context["webtask"]["secrets"] == {"auth0-extension-secret": "s"}
    assert list(context) == ["ip", "webtask"]


@pytest.mark.parametrize(
    ("body", "context_keys"),
    [
        ({"client": {}, "audience": "a"}, ["webtask"]),
        ({"client": {}, "audience": "a", "context": "text"}, ["webtask"]),
        ({"client": {}, "audience": "a", "context": [1, 2]}, ["webtask"]),
        ({"client": {}, "audience": "a", "context": {"k": 1}}, ["k", "webtask"]),
    ],
)
def test_context_is_body_context_when_an_object(body: Any, context_keys: list[str]) -> None:
    args = invocation(COMPILER.prepare(hook_request(body))).args_for(5)
    assert isinstance(args, list)
    assert list(args[3]) == context_keys


def test_missing_scope_and_null_client_reach_the_rule_as_none() -> None:
    args = invocation(COMPILER.prepare(hook_request({"client": None, "audience": "a"}))).args_for(5)
    assert isinstance(args, list)
    assert args[:3] == [None, None, "a"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("no good", NOT_OBJECT),
        (42, NOT_OBJECT),
        (True, NOT_OBJECT),
        ([], CLIENT),
        ({}, CLIENT),
        ({"client": "c", "scope": "s", "audience": 1}, CLIENT),
        ({"client": 1, "audience": "a"}, CLIENT),
        ({"client": {}, "scope": "s", "audience": 1}, SCOPE),
        ({"client": {}, "scope": {}, "audience": "a"}, SCOPE),
        ({"client": {}, "scope": 1, "audience": "a"}, SCOPE),
        ({"client": {}, "scope": "", "audience": 1}, AUDIENCE),
        ({"client": {}, "scope": 0}, AUDIENCE),
        ({"client": {}, "scope": []}, AUDIENCE),
        ({"client": {}, "scope": None, "audience": ["a"]}, AUDIENCE),
    ],
)
def test_checks_run_in_the_reference_order(body: Any, message: str) -> None:
    assert error_data(COMPILER.prepare(hook_request(body))) == {"message": message}


def test_messages_keep_the_reference_space_after_body() -> None:
    assert CLIENT == "Body .client received by extensibility point is not an object"
    assert SCOPE == "Body .scope received by extensibility point is neither empty nor an array"
    assert AUDIENCE == "Body .audience received by extensibility point is not a string"


def test_get_has_no_body_and_text_is_a_buffer() -> None:
    assert error_data(COMPILER.prepare(hook_request(VALID, method="GET"))) == {
        "message": NOT_OBJECT
    }
    text = hook_request(b"client=x", content_type="text/plain")
    assert error_data(COMPILER.prepare(text)) == {"message": CLIENT}


def _crash(reply: Any, message: str) -> None:
    assert isinstance(reply, Reply)
    assert reply.status == 500
    assert reply.body == {
        "code": 500,
        "error": "Script generated an unhandled synchronous exception.",
        "details": f"TypeError: {message}",
        "name": "TypeError",
        "message": message,
    }


@pytest.mark.parametrize("raw", [b"", b"null"])
def test_null_body_crashes_like_the_reference(raw: bytes) -> None:
    _crash(COMPILER.prepare(hook_request(raw)), "Cannot read properties of null (reading 'client')")


def test_null_context_crashes_like_the_reference() -> None:
    reply = COMPILER.prepare(hook_request({"client": {}, "audience": "a", "context": None}))
    _crash(reply, "Cannot set properties of null (setting 'webtask')")


@pytest.mark.parametrize(
    ("secret", "auth"),
    [("s", None), ("s", "Bearer t"), ("s", "Basic s"), ("s", "Bearer  s"), ("s", "Bearer s s")],
)
def test_authorization_runs_first(secret: str, auth: str | None) -> None:
    reply = COMPILER.prepare(hook_request("no good", secret=secret, auth=auth))
    assert error_data(reply) == {"message": "Unauthorized extensibility point", "statusCode": 500}


@pytest.mark.parametrize(("secret", "auth"), [(None, None), ("s", "bEaReR s"), ("s", " Bearer s ")])
def test_authorized_or_open(secret: str | None, auth: str | None) -> None:
    invocation(COMPILER.prepare(hook_request(VALID, secret=secret, auth=auth)))


def test_invalid_json_is_an_error_envelope() -> None:
    reply = COMPILER.prepare(hook_request(b'{"client": }'))
    assert error_data(reply) == {"message": "Unexpected token } in JSON at position 11"}


def test_other_arities_get_the_signature() -> None:
    prepared = invocation(COMPILER.prepare(hook_request(VALID)))
    assert prepared.args_for(6) == RuleError(message=ARITY)
    assert ARITY == (
        "A client-credentials-exchange rule must take (client, scope, audience, context, cb)."
    )


def test_envelopes() -> None:
    ok = COMPILER.respond(Outcome(result={"a": 1}))
    assert ok.encode() == b'{"statusCode":200,"headers":{},"status":"success","data":{"a":1}}'
    assert (
        COMPILER.respond(Outcome(result=None)).encode()
        == b'{"statusCode":200,"headers":{},"status":"success"}'
    )
    err = COMPILER.respond(Outcome(error=RuleError(message="no", name="InvalidScopeError")))
    assert err.encode() == b'{"status":"error","data":{"message":"no","name":"InvalidScopeError"}}'


def test_absent_fields_are_marked_undefined_for_javascript() -> None:
    absent = invocation(COMPILER.prepare(hook_request({"client": {}, "audience": "a"})))
    assert absent.undefined_for(5) == frozenset({1})
    present = invocation(COMPILER.prepare(hook_request({**VALID, "scope": None})))
    assert present.undefined_for(5) == frozenset()
