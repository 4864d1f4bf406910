"""Who is calling: the webtask token from ``Authorization: Bearer`` or ``?key=``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from runtime import tokens
from runtime.errors import Forbidden, Unauthorized
from runtime.keys import Keys
from runtime.store import Store


def presented_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "").strip()
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    key = request.query_params.get("key")
    return key.strip() if key else None


async def authenticate(request: Request, keys: Keys, store: Store) -> dict[str, Any]:
    """The verified, unrevoked claims of the caller's token, or 401."""
    token = presented_token(request)
    if token is None:
        raise Unauthorized(
            "Missing token: send 'Authorization: Bearer <token>' or '?key=<token>'. "
            "Create one with `wthost token create --admin`."
        )
    try:
        claims = tokens.verify(token, keys)
    except tokens.TokenError as exc:
        raise Unauthorized(str(exc)) from exc
    chain = [str(j) for j in claims.get("ca", []) if isinstance(j, str)]
    if isinstance(claims.get("jti"), str):
        chain.append(claims["jti"])
    if await store.revoked(chain):
        raise Unauthorized("Token has been revoked.")
    return claims


def require_container(
    claims: dict[str, Any], container: str, *, webtask: str | None = None
) -> None:
    """The token covers ``container`` and may manage it, or 403.

    Webtask tokens (those that fix code with a ``code`` or ``url`` claim) only run their
    webtask: a rule can see its own token (``ctx.token``), so such a token must never read
    other webtasks' code or secrets. Where ``webtask`` names the resource (its storage), a
    webtask token for exactly that webtask is accepted.
    """
    require_runner(claims, container)
    if is_webtask_token(claims) and not (
        webtask is not None and claims.get("ten") == container and claims.get("jtn") == webtask
    ):
        raise Forbidden(
            "This is a webtask token: it runs its webtask but cannot manage the container. "
            "Use a profile or admin token (`wthost token create`)."
        )


def require_runner(claims: dict[str, Any], container: str) -> None:
    """The token may run code in ``container`` (unnamed runs): any token that covers it,
    webtask tokens included — which code runs is decided by what the token fixes."""
    if not tokens.container_allowed(claims.get("ten"), container):
        raise Forbidden(f"This token does not grant access to container {container!r}.")


def is_webtask_token(claims: dict[str, Any]) -> bool:
    return "url" in claims or "code" in claims


def is_master(claims: dict[str, Any]) -> bool:
    return "ten" not in claims
