from __future__ import annotations

import base64

import pytest

from runtime.oauth.errors import InvalidClient, InvalidRequest, OAuthError
from runtime.oauth.token_request import parse_token_request

FORM = "application/x-www-form-urlencoded"


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_json_body_with_public_client() -> None:
    parsed = parse_token_request(
        "application/json; charset=utf-8",
        b'{"grant_type":"password","client_id":"c1","username":"u","password":"p"}',
        None,
    )
    assert parsed.client_id == "c1"
    assert parsed.client_secret is None
    assert parsed.auth_method == "none"
    assert parsed.grant_type == "password"
    assert parsed.require("username") == "u"


def test_form_body_with_client_secret_post() -> None:
    parsed = parse_token_request(
        FORM, b"grant_type=client_credentials&client_id=c1&client_secret=s%2B1", None
    )
    assert (parsed.client_id, parsed.client_secret, parsed.auth_method) == (
        "c1",
        "s+1",
        "client_secret_post",
    )


def test_basic_credentials_are_form_decoded() -> None:
    parsed = parse_token_request(
        FORM, b"grant_type=client_credentials", basic("c%3A1", "p%40ss+word")
    )
    assert (parsed.client_id, parsed.client_secret, parsed.auth_method) == (
        "c:1",
        "p@ss word",
        "client_secret_basic",
    )


@pytest.mark.parametrize(
    ("content_type", "body", "authorization", "error", "status", "fragment"),
    [
        ("text/plain", b"grant_type=password", None, "invalid_request", 400, "Content-Type"),
        ("", b"{}", None, "invalid_request", 400, "'(none)'"),
        ("application/json", b"{nope", None, "invalid_request", 400, "could not be parsed"),
        ("application/json", b"[1]", None, "invalid_request", 400, "must be an object"),
        ("application/json", b'{"scope":["a"]}', None, "invalid_request", 400, "'scope'"),
        (FORM, b"client_id=a&client_id=b", None, "invalid_request", 400, "repeated"),
        (FORM, b"grant_type=password", None, "invalid_client", 401, "client_id"),
        (FORM, b"client_secret=x", basic("c", "s"), "invalid_request", 400, "not both"),
        (FORM, b"client_id=other", basic("c", "s"), "invalid_request", 400, "differs"),
        (FORM, b"", "Basic !!!", "invalid_client", 401, "base64"),
        (FORM, b"", "Basic " + base64.b64encode(b"nocolon").decode(), "invalid_client", 401, ""),
    ],
)
def test_malformed_requests(
    content_type: str,
    body: bytes,
    authorization: str | None,
    error: str,
    status: int,
    fragment: str,
) -> None:
    with pytest.raises(OAuthError) as caught:
        parse_token_request(content_type, body, authorization)
    assert caught.value.error == error
    assert caught.value.status == status
    assert fragment in caught.value.description
    if isinstance(caught.value, InvalidClient):
        assert caught.value.headers["WWW-Authenticate"].startswith("Basic ")


def test_missing_parameter_names_it() -> None:
    parsed = parse_token_request(FORM, b"client_id=c&audience=", None)
    with pytest.raises(InvalidRequest, match=r"Missing required parameter: audience\."):
        parsed.require("audience")
