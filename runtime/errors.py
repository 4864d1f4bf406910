"""HTTP errors of the management and run APIs: status on the class, one body builder.

Clients (sandboxjs, wt) read ``body.message`` and fall back to the text; webtask-runtime adds
``code`` and ``error``. ``error_body`` is the only place that shapes that JSON.
"""

from __future__ import annotations

from typing import Any


class APIError(Exception):
    """Base class: a request that gets an error answer. ``status`` is the HTTP status."""

    status = 500
    error = "Server error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers: dict[str, str] = {}


class BadRequest(APIError):
    """The request is malformed or breaks a rule of the API (the caller's fault)."""

    status = 400
    error = "Bad request"


class Unauthorized(APIError):
    """No usable token was presented (the caller's fault)."""

    status = 401
    error = "Unauthorized"


class Forbidden(APIError):
    """The token is valid but does not cover this container or operation (the caller's fault)."""

    status = 403
    error = "Forbidden"


class NotFound(APIError):
    """The named webtask (or route) does not exist (the caller's fault)."""

    status = 404
    error = "Not found"


class Conflict(APIError):
    """The write clashes with another record, e.g. a second enabled hook of one type (the
    caller's fault; nothing was written)."""

    status = 409
    error = "Conflict"


class PayloadTooLarge(APIError):
    """The body is larger than WTHOST_MAX_BODY_BYTES (the caller's fault)."""

    status = 413
    error = "Payload too large"


class ScriptFailed(APIError):
    """The rule's sandbox process was killed (a limit) or died while it ran (the rule's fault)."""

    status = 500
    error = "Script execution failed"


class ScriptTimedOut(APIError):
    """The rule did not finish within the wall-clock limit; its worker was killed (the rule's
    fault)."""

    status = 500
    error = "Request to Webtask exceeded allowed execution time"


class ServiceUnavailable(APIError):
    """The sandbox cannot take the call right now (load or shutdown; retry)."""

    status = 503
    error = "Service unavailable"


def error_body(status: int, error: str, message: str, **details: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": status, "error": error, "message": message}
    body.update({key: value for key, value in details.items() if value is not None})
    return body
