from __future__ import annotations

import pytest

from runtime.oauth.claims import HookAnswerError, access_token_claims, from_hook, is_custom_claim


@pytest.mark.parametrize(
    ("name", "custom"),
    [
        ("https://foo.com/claim", True),
        ("http://foo.com/claim", True),
        ("https://foo.com", True),
        ("HTTPS://Example.org/x", True),
        ("https://notauth0.com/x", True),
        ("https://auth0.com/claim", False),
        ("https://AUTH0.COM/claim", False),
        ("https://tenant.auth0.com/claim", False),
        ("https://webtask.io/claim", False),
        ("https://x.webtask.run/claim", False),
        ("https://webtask.run./claim", False),
        ("ftp://foo.com/claim", False),
        ("claim", False),
        ("iss", False),
        ("https:///nohost", False),
        ("https://[::1/bad", False),
    ],
)
def test_custom_claims_are_http_urls_outside_reserved_hosts(name: str, custom: bool) -> None:
    assert is_custom_claim(name) is custom


def test_hook_answer_keeps_scope_and_namespaced_claims_only() -> None:
    claims = from_hook(
        {
            "scope": ["a", "b", "a", ""],
            "https://foo.com/claim": "bar",
            "https://auth0.com/x": 1,
            "iss": "evil",
            "sub": "root",
            "plain": True,
        }
    )
    assert claims.scopes == ("a", "b")
    assert claims.custom == {"https://foo.com/claim": "bar"}
    assert claims.ignored == ("https://auth0.com/x", "iss", "plain", "sub")


@pytest.mark.parametrize("answer", [None, {}])
def test_empty_answers_give_no_scopes(answer: object) -> None:
    assert from_hook(answer).scopes == ()


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("token", "answered with str"),
        (["a"], "answered with list"),
        ({"scope": "read"}, "'scope' must be an array of strings"),
        ({"scope": ["read", 5]}, "'scope' must be an array of strings"),
    ],
)
def test_unusable_answers_are_errors(answer: object, message: str) -> None:
    with pytest.raises(HookAnswerError, match=message):
        from_hook(answer)


def test_registered_claims_win_over_custom_ones() -> None:
    claims = access_token_claims(
        custom={"iss": "evil", "exp": 1, "scope": "admin", "https://x.org/c": 1},
        issuer="https://issuer.example/",
        subject="auth0|1",
        audience="https://api",
        client_id="cid",
        grant="password",
        scopes=(),
        issued_at=1000,
        lifetime=60,
        jti="j",
    )
    assert claims == {
        "https://x.org/c": 1,
        "iss": "https://issuer.example/",
        "sub": "auth0|1",
        "aud": "https://api",
        "iat": 1000,
        "exp": 1060,
        "azp": "cid",
        "gty": "password",
        "jti": "j",
    }
