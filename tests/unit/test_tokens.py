from __future__ import annotations

import base64
import json

import pytest

from runtime import tokens
from runtime.keys import Keys

KEYS = Keys(token_kid="1", token_key=b"k" * 32, secrets_key=b"s" * 32)


def _header(token: str) -> bytes:
    head = token.split(".")[0]
    return base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))


def test_header_is_exactly_alg_and_kid() -> None:
    token = tokens.sign({"jti": "a"}, KEYS)
    assert _header(token) == b'{"alg":"HS256","kid":"1"}'
    assert token.startswith("eyJhbGciOiJIUzI1NiIsImtpZCI6IjEifQ.")


def test_round_trip_and_forgery() -> None:
    token = tokens.sign({"jti": "a", "ten": "c"}, KEYS)
    assert tokens.verify(token, KEYS) == {"jti": "a", "ten": "c"}
    other = Keys(token_kid="1", token_key=b"x" * 32, secrets_key=b"s" * 32)
    with pytest.raises(tokens.TokenError):
        tokens.verify(token, other)
    with pytest.raises(tokens.TokenError):
        tokens.verify("garbage", KEYS)


def test_alg_none_is_refused() -> None:
    head = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps({"jti": "a"}).encode()).rstrip(b"=").decode()
    with pytest.raises(tokens.TokenError):
        tokens.verify(f"{head}.{body}.", KEYS)


def test_time_window() -> None:
    token = tokens.sign({"nbf": 100, "exp": 200}, KEYS)
    assert tokens.verify(token, KEYS, now=150)["exp"] == 200
    with pytest.raises(tokens.TokenError, match="not valid yet"):
        tokens.verify(token, KEYS, now=50)
    with pytest.raises(tokens.TokenError, match="expired"):
        tokens.verify(token, KEYS, now=200)


@pytest.mark.parametrize(
    ("ten", "container", "allowed"),
    [
        (None, "any", True),
        ("acme", "acme", True),
        ("acme", "acme2", False),
        ("a, b,c", "b", True),
        ("a,b", "ab", False),
        ("/^wt-[0-1]$/", "wt-1", True),
        ("/^wt-[0-1]$/", "wt-2", False),
        ("/[/", "x", False),
        (5, "5", False),
    ],
)
def test_container_allowed(ten: object, container: str, allowed: bool) -> None:
    assert tokens.container_allowed(ten, container) is allowed
