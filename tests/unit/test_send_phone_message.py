"""send-phone-message: every reference check in order, the optional client, the crashes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from compilers import REGISTRY, Reply, RuleError
from compilers.extension import NOT_OBJECT
from compilers.send_phone_message import (
    ACTION,
    ARITY,
    CLIENT,
    CLIENT_ID,
    CLIENT_METADATA,
    CLIENT_NAME,
    CONTEXT,
    MESSAGE_TYPE,
    RECIPIENT,
    TEXT,
    USER,
    SendPhoneMessage,
)
from tests.unit.hook_requests import error_data, hook_request, invocation

COMPILER = SendPhoneMessage()
VALID: dict[str, Any] = {
    "recipient": "+1 555",
    "text": "Your code is 1234",
    "context": {
        "message_type": "sms",
        "action": "enrollment",
        "language": "en",
        "code": "1234",
        "ip": "127.0.0.1",
        "user_agent": "curl",
        "client": {"client_id": "cid", "name": "App", "client_metadata": {"k": "v"}},
        "user": {"user_id": "u1"},
    },
}


def _with(path: str, value: Any) -> dict[str, Any]:
    """VALID with ``path`` (dotted, under the body) set to ``value``, or removed for ``...``."""
    body = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    target = body
    for name in parents:
        target = target[name]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return body


def test_registered_under_the_reference_name() -> None:
    assert REGISTRY["auth0-ext-compilers/send-phone-message"] is not None


def test_valid_body_gives_recipient_text_context() -> None:
    args = invocation(COMPILER.prepare(hook_request(VALID))).args_for(4)
    assert isinstance(args, list)
    recipient, text, context = args
    assert (recipient, text) == ("+1 555", "Your code is 1234")
    assert list(context) == [*VALID["context"], "webtask"]
    assert context["webtask"]["body"] == VALID


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("context.message_type", "voice"),
        ("context.action", "second-factor-authentication"),
        ("context.client", ...),
        ("context.client.client_metadata", ...),
        ("context.client.client_metadata", None),
        ("context.client.client_metadata", []),
        ("context.user", None),
        ("context.user", []),
        ("context.extra", 1),
    ],
)
def test_accepted_variations(path: str, value: Any) -> None:
    invocation(COMPILER.prepare(hook_request(_with(path, value))))


# Each row breaks one field; every earlier field is valid, so the order is exercised too.
@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("recipient", ..., RECIPIENT),
        ("recipient", 5, RECIPIENT),
        ("text", ..., TEXT),
        ("text", ["t"], TEXT),
        ("context", ..., CONTEXT),
        ("context", "context", CONTEXT),
        ("context.message_type", ..., MESSAGE_TYPE),
        ("context.message_type", "telephone", MESSAGE_TYPE),
        ("context.message_type", "SMS", MESSAGE_TYPE),
        ("context.message_type", ["sms"], MESSAGE_TYPE),
        ("context.action", "wrong", ACTION),
        ("context.action", ..., ACTION),
        (
            "context.language",
            {},
            "Body.context.language received by extensibility point is not a string",
        ),
        (
            "context.code",
            12345,
            "Body.context.code received by extensibility point is not a string",
        ),
        ("context.ip", 127, "Body.context.ip received by extensibility point is not a string"),
        (
            "context.user_agent",
            None,
            "Body.context.user_agent received by extensibility point is not a string",
        ),
        ("context.client", "123", CLIENT),
        ("context.client", 1, CLIENT),
        ("context.client.client_id", 123, CLIENT_ID),
        ("context.client.client_id", ..., CLIENT_ID),
        ("context.client.name", {}, CLIENT_NAME),
        ("context.client.client_metadata", "someBadData", CLIENT_METADATA),
        ("context.client.client_metadata", 0, CLIENT_METADATA),
        ("context.user", "someBadUserFormat", USER),
        ("context.user", ..., USER),
    ],
)
def test_each_check_in_the_reference_order(path: str, value: Any, message: str) -> None:
    assert error_data(COMPILER.prepare(hook_request(_with(path, value)))) == {"message": message}


def test_earlier_checks_win() -> None:
    body = _with("context.user", "bad")
    body["context"]["client"] = "bad"
    body["context"]["ip"] = 1
    assert error_data(COMPILER.prepare(hook_request(body))) == {
        "message": "Body.context.ip received by extensibility point is not a string"
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("no good", NOT_OBJECT),
        (12, NOT_OBJECT),
        ([], RECIPIENT),
        ({}, RECIPIENT),
    ],
)
def test_body_shape(body: Any, message: str) -> None:
    assert error_data(COMPILER.prepare(hook_request(body))) == {"message": message}


def test_messages_are_the_reference_text() -> None:
    assert MESSAGE_TYPE == (
        "Body.context.message_type received by extensibility point is not `sms` or `voice`"
    )
    assert ACTION == (
        "Body.context.action received by extensibility point is not `enrollment` or "
        "`second-factor-authentication`"
    )
    assert CLIENT_METADATA == (
        "Body.context.client.client_metadata received by extensibility point is not an object"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "Cannot read properties of null (reading 'recipient')"),
        (None, "Cannot read properties of null (reading 'recipient')"),
        (
            _with("context", None),
            "Cannot read properties of null (reading 'message_type')",
        ),
        (
            _with("context.client", None),
            "Cannot read properties of null (reading 'client_id')",
        ),
    ],
)
def test_nulls_the_reference_dereferences_crash_like_it(body: Any, message: str) -> None:
    reply = COMPILER.prepare(hook_request(body))
    assert isinstance(reply, Reply)
    assert reply.status == 500
    assert reply.body["details"] == f"TypeError: {message}"
    assert reply.body["message"] == message


def test_unauthorized_before_validation() -> None:
    reply = COMPILER.prepare(hook_request(None, auth=None))
    assert error_data(reply) == {"message": "Unauthorized extensibility point", "statusCode": 500}


def test_other_arities_get_the_signature() -> None:
    prepared = invocation(COMPILER.prepare(hook_request(VALID)))
    assert prepared.args_for(3) == RuleError(message=ARITY)
