from __future__ import annotations

import json
from typing import Any

import pytest

from compilers import REGISTRY, HookRequest, Invocation, Outcome, Reply, RuleError, get_compiler
from compilers.password_exchange import PasswordExchange

COMPILER = PasswordExchange()


def _request(
    body: Any,
    *,
    secret: str | None = "s",
    auth: str | None = "Bearer s",
    method: str = "POST",
    content_type: str = "application/json",
) -> HookRequest:
    headers = {"content-type": content_type}
    if auth is not None:
        headers["authorization"] = auth
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    secrets = {} if secret is None else {"auth0-extension-secret": secret}
    return HookRequest(method=method, headers=headers, body=raw, ctx={"secrets": secrets})


def test_registry_selects_by_meta() -> None:
    assert (
        get_compiler({"wt-compiler": "auth0-ext-compilers/password-exchange"})
        is REGISTRY["auth0-ext-compilers/password-exchange"]
    )


def test_valid_body_gives_both_argument_forms() -> None:
    body = {
        "user": {"id": "u"},
        "client": {"id": "c"},
        "scope": ["a"],
        "audience": "x",
        "context": {"ip": "1"},
    }
    prepared = COMPILER.prepare(_request(body))
    assert isinstance(prepared, Invocation)
    five = prepared.args_for(5)
    six = prepared.args_for(6)
    assert isinstance(five, list)
    assert isinstance(six, list)
    assert five[:3] == [{"id": "c"}, ["a"], "x"]
    assert five[3]["ip"] == "1"
    assert five[3]["webtask"]["body"] == body
    assert six[0] == {"id": "u"}
    assert prepared.args_for(3) == RuleError(message=prepared.arity_error)


@pytest.mark.parametrize("auth", [None, "Bearer t", "Token s", "Bearer s s"])
def test_authorization_failures(auth: str | None) -> None:
    reply = COMPILER.prepare(_request({}, auth=auth))
    assert isinstance(reply, Reply)
    assert reply.status == 200
    assert reply.body == {
        "status": "error",
        "data": {"statusCode": 500, "message": "Unauthorized extensibility point"},
    }


def test_no_secret_means_open() -> None:
    assert isinstance(
        COMPILER.prepare(_request({"audience": "a", "client": {}}, secret=None, auth=None)),
        Invocation,
    )


def test_get_has_no_body() -> None:
    reply = COMPILER.prepare(_request({"audience": "a"}, method="GET"))
    assert isinstance(reply, Reply)
    assert reply.body["data"]["message"] == "Body received by extensibility point is not an object"


def test_invalid_json_is_an_error_envelope() -> None:
    reply = COMPILER.prepare(_request(b"{nope"))
    assert isinstance(reply, Reply)
    assert reply.body["status"] == "error"
    assert reply.body["data"] == {"message": "Unexpected token n in JSON at position 1"}


def test_envelopes() -> None:
    ok = COMPILER.respond(Outcome(result={"a": 1}))
    assert ok.encode() == b'{"statusCode":200,"headers":{},"status":"success","data":{"a":1}}'
    err = COMPILER.respond(
        Outcome(error=RuleError(message="no", name="InvalidScopeError", props={"statusCode": 403}))
    )
    assert err.body == {
        "status": "error",
        "data": {"statusCode": 403, "message": "no", "name": "InvalidScopeError"},
    }


def test_absent_scope_is_marked_undefined_for_javascript() -> None:
    body = {"user": {}, "client": {}, "audience": "a"}
    prepared = COMPILER.prepare(_request(body))
    assert isinstance(prepared, Invocation)
    assert prepared.undefined_for(5) == frozenset({1})
    assert prepared.undefined_for(6) == frozenset({2})
    assert prepared.undefined_for(4) == frozenset()
