"""Webtask v1 tokens: HS256 JWTs whose header is exactly ``{"alg":"HS256","kid":…}``.

No ``typ`` header: wt-cli switches to its v2 (OpenID) protocol when it sees one. Pure functions of
the key and the clock; revocation and issuance rules live with the callers.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from typing import Any

import jwt

from runtime.keys import Keys


class TokenError(Exception):
    """A presented token is malformed, forged, expired or not yet valid (the caller's fault)."""


def new_jti() -> str:
    return secrets.token_hex(16)


def sign(claims: Mapping[str, Any], keys: Keys) -> str:
    """Sign ``claims`` as a v1 webtask token."""
    return jwt.encode(
        dict(claims),
        keys.token_key,
        algorithm="HS256",
        headers={"kid": keys.token_kid, "typ": None},
    )


def verify(
    token: str, keys: Keys, *, now: float | None = None, check_window: bool = True
) -> dict[str, Any]:
    """Check signature, ``nbf`` and ``exp`` (unless ``check_window`` is off); return the claims."""
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != "HS256":
            raise TokenError("Token is not an HS256 webtask token.")
        claims: dict[str, Any] = jwt.decode(
            token,
            keys.token_key,
            algorithms=["HS256"],
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
    except jwt.PyJWTError as exc:
        raise TokenError("Token is not a valid webtask token.") from exc
    if not check_window:
        return claims
    moment = time.time() if now is None else now
    nbf, exp = claims.get("nbf"), claims.get("exp")
    if isinstance(nbf, int | float) and moment < nbf:
        raise TokenError("Token is not valid yet (nbf is in the future).")
    if isinstance(exp, int | float) and moment >= exp:
        raise TokenError("Token has expired.")
    return claims


def decode_unverified(token: str) -> dict[str, Any]:
    """Claims of a token without checking it: only for displaying tokens the server issued."""
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise TokenError("Token is not a valid webtask token.") from exc
    return claims


_MAX_TEN_REGEX = 256


def container_allowed(ten: object, container: str) -> bool:
    """Whether a ``ten`` claim covers ``container``: absent (master), literal, list or /regex/."""
    if ten is None:
        return True
    if not isinstance(ten, str):
        return False
    if len(ten) > 2 and ten.startswith("/") and ten.endswith("/"):
        pattern = ten[1:-1]
        if len(pattern) > _MAX_TEN_REGEX:
            return False
        try:
            return re.search(pattern, container) is not None
        except re.error:
            return False
    return container in (part.strip() for part in ten.split(","))
