"""What a hook may put in an access token, and the token's claims.

A hook's answer contributes its ``scope`` array and every property named by an ``http(s)://``
URL whose host is not ``auth0.com``, ``webtask.io``, ``webtask.run`` or a subdomain of them
(Auth0's credentials-exchange rules). Everything else is ignored, so registered JWT claims
(``iss``, ``sub``, ``aud``, ``exp``, ...) can never be overridden by a rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

RESERVED_HOSTS = ("auth0.com", "webtask.io", "webtask.run")


class HookAnswerError(ValueError):
    """The hook answered with something that cannot become a token (the rule's fault)."""


def is_custom_claim(name: str) -> bool:
    """A namespaced claim: an http(s) URL with a host outside the reserved domains."""
    try:
        parts = urlsplit(name)
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError:
        return False
    if parts.scheme.lower() not in ("http", "https") or not host:
        return False
    return not any(host == reserved or host.endswith("." + reserved) for reserved in RESERVED_HOSTS)


@dataclass(frozen=True, slots=True)
class HookClaims:
    """The usable part of a hook's answer: scopes and custom claims, plus what was dropped."""

    scopes: tuple[str, ...]
    custom: Mapping[str, Any] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()


def from_hook(answer: object) -> HookClaims:
    """Sort a hook's answer into scopes, custom claims and ignored names."""
    if answer is None:
        answer = {}
    if not isinstance(answer, dict):
        raise HookAnswerError(
            f"The hook answered with {type(answer).__name__}; expected an object of claims."
        )
    scope = answer.get("scope")
    if scope is None:
        scopes: list[str] = []
    elif isinstance(scope, list) and all(isinstance(item, str) for item in scope):
        scopes = list(dict.fromkeys(item for item in scope if item))
    else:
        raise HookAnswerError("The hook's 'scope' must be an array of strings.")
    custom = {k: v for k, v in answer.items() if k != "scope" and is_custom_claim(k)}
    ignored = tuple(sorted(k for k in answer if k != "scope" and k not in custom))
    return HookClaims(scopes=tuple(scopes), custom=custom, ignored=ignored)


def access_token_claims(
    *,
    custom: Mapping[str, Any],
    issuer: str,
    subject: str,
    audience: str,
    client_id: str,
    grant: str,
    scopes: tuple[str, ...],
    issued_at: int,
    lifetime: int,
    jti: str,
) -> dict[str, Any]:
    """The payload: custom claims first, then the registered ones, which always win."""
    claims: dict[str, Any] = dict(custom)
    claims.update(
        {
            "iss": issuer,
            "sub": subject,
            "aud": audience,
            "iat": issued_at,
            "exp": issued_at + lifetime,
            "azp": client_id,
            "gty": "password" if grant == "password" else "client-credentials",
            "jti": jti,
        }
    )
    if scopes:
        claims["scope"] = " ".join(scopes)
    else:
        claims.pop("scope", None)
    return claims
