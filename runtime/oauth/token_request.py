"""Parse a ``POST /oauth/token`` request (RFC 6749 §3.2, §2.3.1): pure, no I/O.

Bodies are ``application/x-www-form-urlencoded`` (the RFC) or ``application/json`` (Auth0's
documented form, as in the seed). Client credentials come from HTTP Basic or the body, never both.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, unquote_plus

from runtime.oauth.errors import InvalidClient, InvalidRequest

AuthMethod = Literal["none", "client_secret_post", "client_secret_basic"]
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="wthost", charset="UTF-8"'}


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRequest:
    """The parameters of a token request, with the client's credentials and how they came."""

    params: Mapping[str, str]
    client_id: str
    client_secret: str | None
    auth_method: AuthMethod

    def __repr__(self) -> str:
        return f"TokenRequest(client_id={self.client_id!r}, auth_method={self.auth_method!r})"

    @property
    def grant_type(self) -> str | None:
        return self.params.get("grant_type")

    def get(self, name: str) -> str | None:
        value = self.params.get(name)
        return value if value else None

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise InvalidRequest(f"Missing required parameter: {name}.")
        return value


def _form(body: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest(
            "The form body is not valid application/x-www-form-urlencoded."
        ) from exc
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise InvalidRequest(f"Parameter {name!r} is repeated; send it once.")
        params[name] = value
    return params


def _json(body: bytes) -> dict[str, str]:
    try:
        value = json.loads(body) if body.strip() else {}
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidRequest("The JSON body could not be parsed.") from exc
    if not isinstance(value, dict):
        raise InvalidRequest("The JSON body must be an object.")
    params: dict[str, str] = {}
    for name, item in value.items():
        if item is None:
            continue
        if not isinstance(item, str):
            raise InvalidRequest(f"Parameter {name!r} must be a string.")
        params[name] = item
    return params


def _basic(authorization: str) -> tuple[str, str]:
    value = authorization.strip().partition(" ")[2]
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise InvalidClient(
            "The Basic credentials are not valid base64.", headers=BASIC_CHALLENGE
        ) from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id:
        raise InvalidClient(
            "The Basic credentials must be client_id:secret.", headers=BASIC_CHALLENGE
        )
    return unquote_plus(client_id), unquote_plus(secret)


def parse_token_request(content_type: str, body: bytes, authorization: str | None) -> TokenRequest:
    """The token request, or ``InvalidRequest`` / ``InvalidClient`` for a malformed one."""
    media = content_type.split(";")[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        params = _form(body)
    elif media == "application/json":
        params = _json(body)
    else:
        raise InvalidRequest(
            f"Unsupported Content-Type {media or '(none)'!r}: send "
            "application/x-www-form-urlencoded or application/json."
        )
    body_id, body_secret = params.get("client_id") or None, params.get("client_secret") or None
    scheme = (authorization or "").strip().partition(" ")[0].lower()
    if scheme == "basic":
        if body_secret is not None:
            raise InvalidRequest(
                "Use one client authentication method: HTTP Basic or client_secret, not both."
            )
        client_id, secret = _basic(authorization or "")
        if body_id is not None and body_id != client_id:
            raise InvalidRequest("client_id in the body differs from the Basic credentials.")
        return TokenRequest(
            params=params,
            client_id=client_id,
            client_secret=secret,
            auth_method="client_secret_basic",
        )
    if body_id is None:
        raise InvalidClient(
            "Client authentication failed: send client_id (and client_secret for a "
            "confidential client) or HTTP Basic credentials.",
            headers=BASIC_CHALLENGE,
        )
    return TokenRequest(
        params=params,
        client_id=body_id,
        client_secret=body_secret,
        auth_method="none" if body_secret is None else "client_secret_post",
    )
