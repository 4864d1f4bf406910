"""pre-/post-user-registration and post-change-password: one reference module, three names."""

from __future__ import annotations

from typing import Any

import pytest

from compilers import REGISTRY, Outcome, RuleError
from compilers.extension import NOT_OBJECT
from compilers.user_registration import CONNECTION, CONTEXT, POINTS, USER, UserRegistration
from tests.unit.hook_requests import error_data, hook_request, invocation

COMPILER = UserRegistration("pre-user-registration")
VALID: dict[str, Any] = {
    "user": {"email": "a@b"},
    "context": {"connection": {"name": "db"}, "ip": "1"},
}


@pytest.mark.parametrize("point", POINTS)
def test_all_three_points_are_registered(point: str) -> None:
    compiler = REGISTRY[f"auth0-ext-compilers/{point}"]
    assert isinstance(compiler, UserRegistration)
    args = invocation(compiler.prepare(hook_request(VALID))).args_for(3)
    assert isinstance(args, list)
    assert args[0] == {"email": "a@b"}


def test_unknown_point_is_refused() -> None:
    with pytest.raises(ValueError, match="Unknown user-registration point 'signup'"):
        UserRegistration("signup")


def test_context_is_a_copy_of_body_context_plus_webtask() -> None:
    request = hook_request(VALID)
    args = invocation(COMPILER.prepare(request)).args_for(3)
    assert isinstance(args, list)
    user, context = args
    assert user == {"email": "a@b"}
    assert list(context) == ["connection", "ip", "webtask"]
    assert context["webtask"]["body"] == VALID
    assert "webtask" not in VALID["context"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("no good", NOT_OBJECT),
        (None, NOT_OBJECT),
        (0, NOT_OBJECT),
        ({"context": {"connection": {}}}, USER),
        ({"user": None, "context": "x"}, USER),
        ({"user": "bad user", "context": {"connection": {}}}, USER),
        ([], USER),
        ({"user": {}}, CONTEXT),
        ({"user": {}, "context": None}, CONTEXT),
        ({"user": [], "context": "bad context"}, CONTEXT),
        ({"user": {}, "context": {}}, CONNECTION),
        ({"user": {}, "context": {"connection": None}}, CONNECTION),
        ({"user": {}, "context": {"connection": "bad connection"}}, CONNECTION),
        ({"user": {}, "context": [1]}, CONNECTION),
    ],
)
def test_checks_run_in_the_reference_order(body: Any, message: str) -> None:
    assert error_data(COMPILER.prepare(hook_request(body))) == {"message": message}


def test_messages_are_the_reference_text() -> None:
    assert USER == "Body.user received by extensibility point is not an object"
    assert CONTEXT == "Body.context received by extensibility point is not an object"
    assert CONNECTION == (
        "Body.context.connection received by extensibility point is not an object"
    )


def test_empty_body_and_get_are_not_objects() -> None:
    for request in (hook_request(b""), hook_request(VALID, method="GET")):
        assert error_data(COMPILER.prepare(request)) == {"message": NOT_OBJECT}


def test_unauthorized_before_validation() -> None:
    reply = COMPILER.prepare(hook_request("no good", auth="Bearer wrong"))
    assert error_data(reply) == {"message": "Unauthorized extensibility point", "statusCode": 500}


def test_other_arities_get_the_signature() -> None:
    prepared = invocation(UserRegistration("post-change-password").prepare(hook_request(VALID)))
    assert prepared.args_for(2) == RuleError(
        message="A post-change-password rule must take (user, context, cb)."
    )


@pytest.mark.parametrize("result", [None, 0, 0.0, "", False])
def test_falsy_results_answer_an_empty_object(result: Any) -> None:
    reply = COMPILER.respond(Outcome(result=result))
    assert reply.encode() == b'{"statusCode":200,"headers":{},"status":"success","data":{}}'


@pytest.mark.parametrize("result", [[], {"user": {}}, "x", 1, True])
def test_truthy_results_pass_through(result: Any) -> None:
    reply = COMPILER.respond(Outcome(result=result))
    assert reply.body["data"] == result


def test_error_envelope_carries_friendly_message() -> None:
    error = RuleError(message="m", name="PreUserRegistrationError", props={"friendlyMessage": "f"})
    reply = COMPILER.respond(Outcome(error=error))
    assert reply.encode() == (
        b'{"status":"error","data":{"message":"m","name":"PreUserRegistrationError",'
        b'"friendlyMessage":"f"}}'
    )
