"""``TokenServer``: authenticate the client, check the grant, run the hook, sign the token."""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from runtime.oauth import credentials
from runtime.oauth.claims import HookAnswerError, access_token_claims, from_hook
from runtime.oauth.errors import (
    AccessDenied,
    InvalidClient,
    InvalidGrant,
    InvalidScope,
    ServerError,
    TooManyAttempts,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from runtime.oauth.hooks import FAILED, HookCall, Hooks
from runtime.oauth.records import GRANTS, ApiRecord, ClientRecord, Grant, UserRecord
from runtime.oauth.registry import SCOPE_TOKEN
from runtime.oauth.signing import SigningKey
from runtime.oauth.throttle import LoginThrottle
from runtime.oauth.token_request import BASIC_CHALLENGE, TokenRequest
from runtime.store import Store

logger = logging.getLogger(__name__)

WRONG_CREDENTIALS = "Wrong email or password."


@dataclass(frozen=True, slots=True, kw_only=True)
class Caller:
    """Where a token request came from, as the hook's ``context`` sees it."""

    tenant: str
    issuer: str
    ip: str
    user_agent: str


def requested_scopes(raw: str | None, api: ApiRecord) -> list[str]:
    """Requested scopes the API defines, in request order; none requested → all of the API's."""
    if raw is None or not raw.strip():
        return list(api.scopes)
    requested = raw.split(" ")
    if any(not SCOPE_TOKEN.match(scope) for scope in requested if scope):
        raise InvalidScope(
            f"The scope {raw!r} is malformed: scopes are separated by single spaces and use "
            "printable ASCII without '\"' or '\\'."
        )
    return [scope for scope in dict.fromkeys(requested) if scope in api.scopes]


class TokenServer:
    """Issues access tokens for every tenant of this server."""

    def __init__(
        self,
        *,
        store: Store,
        signing_key: SigningKey,
        hooks: Hooks,
        throttle: LoginThrottle,
        lifetime_s: int,
    ) -> None:
        self.store = store
        self.signing_key = signing_key
        self.hooks = hooks
        self.throttle = throttle
        self.lifetime_s = lifetime_s

    async def close(self) -> None:
        await self.hooks.close()

    async def _client(self, tenant: str, request: TokenRequest) -> ClientRecord:
        client = await self.store.get_client(tenant, request.client_id)
        if client is None:
            raise InvalidClient(f"Unknown client {request.client_id!r}.", headers=BASIC_CHALLENGE)
        if client.public:
            return client
        if request.client_secret is None:
            raise InvalidClient(
                "This client is confidential: authenticate with client_secret or HTTP Basic.",
                headers=BASIC_CHALLENGE,
            )
        if not credentials.check_client_secret(client.secret_hash, request.client_secret):
            raise InvalidClient("Client authentication failed.", headers=BASIC_CHALLENGE)
        return client

    async def _user(self, tenant: str, request: TokenRequest, ip: str) -> UserRecord:
        username = request.require("username")
        password = request.require("password")
        key = (tenant, username.lower(), ip)
        wait = self.throttle.retry_after(key)
        if wait is not None:
            raise TooManyAttempts(
                "Too many failed logins for this user from this address; try again later.",
                headers={"Retry-After": str(wait)},
            )
        user = await self.store.get_user(tenant, username.lower())
        stored = user.password_hash if user is not None else None
        if user is None or not await credentials.check_password(stored, password):
            if user is None:
                await credentials.check_password(None, password)  # same cost as a real check
            self.throttle.failed(key)
            raise InvalidGrant(WRONG_CREDENTIALS)
        self.throttle.succeeded(key)
        return user

    async def issue(self, request: TokenRequest, caller: Caller) -> dict[str, Any]:
        """The RFC 6749 §5.1 success body, or an ``OAuthError``."""
        grant_type = request.require("grant_type")
        grant: Grant | None = next((g for g in GRANTS if g == grant_type), None)
        if grant is None:
            raise UnsupportedGrantType(
                f"Unsupported grant_type {grant_type!r}: use password or client_credentials."
            )
        tenant = caller.tenant
        client = await self._client(tenant, request)
        if grant not in client.grants:
            raise UnauthorizedClient(f"Client {client.client_id!r} may not use the {grant} grant.")
        audience = request.require("audience")
        api = await self.store.get_api(tenant, audience)
        if api is None:
            raise AccessDenied(f"Service not found: {audience}")
        scopes = requested_scopes(request.get("scope"), api)
        user = await self._user(tenant, request, caller.ip) if grant == "password" else None
        body: dict[str, Any] = {
            "client": {
                "tenant": tenant,
                "id": client.client_id,
                "name": client.name,
                "metadata": dict(client.metadata),
            },
            "scope": scopes,
            "audience": audience,
            "context": {"ip": caller.ip, "userAgent": caller.user_agent},
        }
        if user is not None:
            body["user"] = {"id": user.user_id, "email": user.email, "tenant": tenant}
        ran, answer = await self.hooks.run(
            HookCall(container=tenant, grant=grant, body=body, user_agent=caller.user_agent)
        )
        try:
            hook = from_hook(answer if ran else {"scope": scopes})
        except HookAnswerError as exc:
            logger.error("token hook of %s answered unusably: %s", tenant, exc)
            raise ServerError(FAILED) from exc
        if hook.ignored:
            logger.info(
                "token hook of %s: ignored claims %s (custom claims must be http(s) URLs "
                "outside auth0.com, webtask.io and webtask.run)",
                tenant,
                ", ".join(hook.ignored),
            )
        subject = user.user_id if user is not None else f"{client.client_id}@clients"
        now = int(time.time())
        claims = access_token_claims(
            custom=hook.custom,
            issuer=caller.issuer,
            subject=subject,
            audience=audience,
            client_id=client.client_id,
            grant=grant,
            scopes=hook.scopes,
            issued_at=now,
            lifetime=self.lifetime_s,
            jti=secrets.token_hex(16),
        )
        logger.info(
            "issued %s token in %s for client %s, subject %s, audience %s",
            grant,
            tenant,
            client.client_id,
            subject,
            audience,
        )
        answer_body: dict[str, Any] = {
            "access_token": self.signing_key.sign(claims),
            "token_type": "Bearer",
            "expires_in": self.lifetime_s,
        }
        if hook.scopes:
            answer_body["scope"] = " ".join(hook.scopes)
        return answer_body
