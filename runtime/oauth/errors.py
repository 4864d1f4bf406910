"""Errors of ``/oauth/token``: RFC 6749 §5.2 codes, the HTTP status on the class, one body builder.

Only ``oauth_error_body`` shapes the wire format ``{"error", "error_description"}``.
"""

from __future__ import annotations

from typing import Any


class OAuthError(Exception):
    """Base class: a token request that gets an RFC 6749 error answer."""

    status = 400
    error = "invalid_request"

    def __init__(self, description: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.headers = dict(headers or {})


class InvalidRequest(OAuthError):
    """A parameter is missing, repeated, malformed or unknown (the caller's fault)."""


class BodyTooLarge(InvalidRequest):
    """The body is larger than WTHOST_MAX_BODY_BYTES (the caller's fault)."""

    status = 413


class InvalidClient(OAuthError):
    """The client is unknown or its authentication failed (the caller's fault)."""

    status = 401
    error = "invalid_client"


class InvalidGrant(OAuthError):
    """The resource owner's credentials are wrong (the caller's fault)."""

    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    """The client may not use this grant type (the caller's, or the operator's, choice)."""

    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    """``grant_type`` names a grant this server does not implement (the caller's fault)."""

    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    """The requested scope is malformed (the caller's fault)."""

    error = "invalid_scope"


class AccessDenied(OAuthError):
    """The tenant's hook refused the token: ``description`` is the rule's own message."""

    status = 403
    error = "access_denied"


class TooManyAttempts(OAuthError):
    """Too many failed logins for this user from this IP: the caller must wait."""

    status = 429
    error = "too_many_attempts"


class ServerError(OAuthError):
    """The hook timed out, crashed or answered nonsense: no token is issued (fail closed)."""

    status = 500
    error = "server_error"


class TemporarilyUnavailable(OAuthError):
    """Every sandbox worker is busy: retry later."""

    status = 503
    error = "temporarily_unavailable"


def oauth_error_body(error: str, description: str) -> dict[str, Any]:
    """The RFC 6749 §5.2 error object."""
    return {"error": error, "error_description": description}
