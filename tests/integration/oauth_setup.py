"""Helpers for the token server's integration tests: prepare a tenant with the CLI only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from tests.integration.server import SEED_PY, Server

API = "https://someapi.com/api"
EMAIL = "user@example.com"
PASSWORD = "pwd"
CLIENT_CREDENTIALS_EXCHANGE = "auth0-ext-compilers/client-credentials-exchange"
PASSWORD_EXCHANGE = "auth0-ext-compilers/password-exchange"


@dataclass(frozen=True, slots=True)
class Tenant:
    """What the CLI printed while preparing a tenant."""

    name: str
    public_id: str
    confidential_id: str
    confidential_secret: str
    user_id: str


def cli_json(server: Server, *args: str, stdin: str | None = None) -> Any:
    return json.loads(server.cli(*args, stdin=stdin))


def prepare(server: Server, tenant: str = "default") -> Tenant:
    """API + public client + confidential client + user, with ``wthost`` commands only."""
    where = ("--container", tenant)
    cli_json(
        server,
        "api",
        "create",
        "--identifier",
        API,
        "--scope",
        "read:sample",
        "--scope",
        "write:sample",
        *where,
    )
    public = cli_json(server, "client", "create", "--name", "Seed App", "--public", *where)
    confidential = cli_json(
        server,
        "client",
        "create",
        "--name",
        "Backend",
        "--metadata",
        "team=core",
        "--grant",
        "password",
        "--grant",
        "client_credentials",
        *where,
    )
    user = cli_json(
        server,
        "user",
        "create",
        "--email",
        EMAIL,
        "--password-stdin",
        *where,
        stdin=PASSWORD + "\n",
    )
    return Tenant(
        name=tenant,
        public_id=public["client_id"],
        confidential_id=confidential["client_id"],
        confidential_secret=confidential["client_secret"],
        user_id=user["user_id"],
    )


def hook_meta(secret: str, name: str = "password-exchange", **extra: str) -> dict[str, str]:
    compiler = PASSWORD_EXCHANGE if name == "password-exchange" else CLIENT_CREDENTIALS_EXCHANGE
    return {
        "wt-compiler": compiler,
        "auth0-extension": "runtime",
        "auth0-extension-name": name,
        "auth0-extension-secret": secret,
        **extra,
    }


def put_hook(
    server: Server,
    container: str,
    name: str,
    code: str = SEED_PY,
    *,
    extension: str = "password-exchange",
    secret: str = "hook-secret",
    **meta: str,
) -> None:
    response = server.put(
        container,
        name,
        code,
        meta=hook_meta(secret, extension, **meta),
        secrets={"auth0-extension-secret": secret},
    )
    assert response.status_code == 200, response.text


def token_path(tenant: str) -> str:
    return "/oauth/token" if tenant == "default" else f"/tenants/{tenant}/oauth/token"


def password_request(server: Server, tenant: Tenant, **overrides: str | None) -> httpx.Response:
    body: dict[str, Any] = {
        "grant_type": "password",
        "username": EMAIL,
        "password": PASSWORD,
        "audience": API,
        "scope": "read:sample",
        "client_id": tenant.public_id,
    }
    body.update(overrides)
    return server.client.post(
        token_path(tenant.name), json={k: v for k, v in body.items() if v is not None}
    )


def verify(server: Server, token: str, path: str = "") -> dict[str, Any]:
    """The token's claims, checked against the server's published JWKS with PyJWT."""
    jwks = server.client.get(f"{path}/.well-known/jwks.json").json()
    kid = jwt.get_unverified_header(token)["kid"]
    (jwk,) = [key for key in jwks["keys"] if key["kid"] == kid]
    claims: dict[str, Any] = jwt.decode(
        token,
        jwt.PyJWK(jwk).key,
        algorithms=["RS256"],
        audience=API,
        options={"require": ["iss", "sub", "aud", "iat", "exp"]},
    )
    return claims
