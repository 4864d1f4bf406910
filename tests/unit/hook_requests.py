"""Building ``HookRequest``s for compiler unit tests."""

from __future__ import annotations

import json
from typing import Any

from compilers import HookRequest, Invocation, Reply

SECRET = "s"


def hook_request(
    body: Any,
    *,
    secret: str | None = SECRET,
    auth: str | None = f"Bearer {SECRET}",
    method: str = "POST",
    content_type: str = "application/json",
    ctx: dict[str, Any] | None = None,
) -> HookRequest:
    """A request carrying ``body`` (JSON-encoded unless it is bytes) to a hook."""
    headers = {"content-type": content_type}
    if auth is not None:
        headers["authorization"] = auth
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    secrets = {} if secret is None else {"auth0-extension-secret": secret}
    return HookRequest(
        method=method, headers=headers, body=raw, ctx={"secrets": secrets, **(ctx or {})}
    )


def error_data(reply: Invocation | Reply) -> Any:
    """The ``data`` of an error envelope (fails the test for anything else)."""
    assert isinstance(reply, Reply)
    assert reply.status == 200
    assert reply.body["status"] == "error"
    return reply.body["data"]


def invocation(reply: Invocation | Reply) -> Invocation:
    assert isinstance(reply, Invocation), reply
    return reply
