"""generic: the secret check around ``(ctx, cb)`` and the raw ``(ctx, req, res)`` form."""

from __future__ import annotations

from compilers import REGISTRY, Outcome, RuleError
from compilers.generic import ARITY, Generic
from tests.unit.hook_requests import error_data, hook_request, invocation

COMPILER = Generic()


def test_registered_under_the_reference_name() -> None:
    assert isinstance(REGISTRY["auth0-ext-compilers/generic"], Generic)


def test_two_arguments_get_the_context_with_the_body() -> None:
    args = invocation(COMPILER.prepare(hook_request({"id": "client"}))).args_for(2)
    assert isinstance(args, list)
    (ctx,) = args
    assert ctx["body"] == {"id": "client"}
    assert ctx["secrets"] == {"auth0-extension-secret": "s"}


def test_any_body_is_fine() -> None:
    for body, seen in (("text", "text"), (None, None), (b"", None), ([1], [1])):
        args = invocation(COMPILER.prepare(hook_request(body))).args_for(2)
        assert isinstance(args, list)
        assert args[0]["body"] == seen


def test_non_json_body_reaches_the_rule_as_text() -> None:
    request = hook_request(b"a=1&b=\xff", content_type="application/x-www-form-urlencoded")
    args = invocation(COMPILER.prepare(request)).args_for(2)
    assert isinstance(args, list)
    assert args[0]["body"] == "a=1&b=\ufffd"


def test_get_reuses_a_body_the_platform_parsed() -> None:
    request = hook_request(b"", method="GET", ctx={"body": {"pre": 1}})
    args = invocation(COMPILER.prepare(request)).args_for(2)
    assert isinstance(args, list)
    assert args[0]["body"] == {"pre": 1}


def test_raw_form_gets_ctx_and_req_and_streams() -> None:
    request = hook_request({"a": 1}, ctx={"body_raw": '{"a": 1}', "body": {"a": 1}, "data": {}})
    prepared = invocation(COMPILER.prepare(request))
    assert prepared.raw_arities == frozenset({3})
    assert prepared.storage
    args = prepared.args_for(3)
    assert isinstance(args, list)
    ctx, req = args
    assert "body" not in ctx  # pb 2: the raw form reads the body itself
    assert req["raw_body"] == '{"a": 1}'
    assert "body" not in req
    assert prepared.args_for(1) == RuleError(message=ARITY)
    assert ARITY == "A generic rule must take (ctx, cb) or (ctx, req, res)."


def test_bad_json_fails_only_the_wrapped_form() -> None:
    prepared = invocation(COMPILER.prepare(hook_request(b"{bad")))
    assert prepared.args_for(2) == RuleError(message="Unexpected token b in JSON at position 1")
    raw = prepared.args_for(3)
    assert isinstance(raw, list)
    assert raw[1]["raw_body"] == "{bad"


def test_unauthorized() -> None:
    for auth in (None, "Bearer bar"):
        reply = COMPILER.prepare(hook_request({"id": "client"}, auth=auth))
        assert error_data(reply) == {
            "message": "Unauthorized extensibility point",
            "statusCode": 500,
        }


def test_envelopes() -> None:
    ok = COMPILER.respond(Outcome(result={"id": "client", "baz": "baz"}))
    assert ok.encode() == (
        b'{"statusCode":200,"headers":{},"status":"success","data":{"id":"client","baz":"baz"}}'
    )
    err = COMPILER.respond(Outcome(error=RuleError(message="boom")))
    assert err.encode() == b'{"status":"error","data":{"message":"boom"}}'
