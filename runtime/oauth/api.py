"""HTTP endpoints of the token server, and its admin API behind an admin (master) token.

``/oauth/token`` and ``/.well-known/*`` serve the default tenant (``WTHOST_TENANT``); every
other tenant is addressed under ``/tenants/{tenant}/`` with the same paths, and its tokens carry
``iss`` = the default issuer plus ``tenants/{tenant}/``.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runtime.auth import authenticate, is_master
from runtime.client_ip import client_ip
from runtime.errors import BadRequest, Forbidden, PayloadTooLarge
from runtime.http import base_url, json_response, read_body, read_json_object
from runtime.oauth.errors import (
    BodyTooLarge,
    InvalidRequest,
    OAuthError,
    ServerError,
    oauth_error_body,
)
from runtime.oauth.hooks import Hooks, LocalHooks, RemoteHooks
from runtime.oauth.records import GRANTS
from runtime.oauth.registry import Registry, describe_api, describe_client, describe_user
from runtime.oauth.signing import node_signing_key
from runtime.oauth.throttle import LoginThrottle
from runtime.oauth.token_request import parse_token_request
from runtime.oauth.token_server import Caller, TokenServer
from runtime.services import Services, services
from runtime.settings import Settings, SettingsError
from runtime.webtasks import NAME_RE

logger = logging.getLogger(__name__)

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def create_token_server(svc: Services) -> TokenServer:
    """Built by the app's lifespan once the store and pool are up; closed before them."""
    settings = svc.settings
    hooks: Hooks
    if settings.hooks_url:
        if not settings.hooks_token:
            message = (
                "WTHOST_HOOKS_URL is set but WTHOST_HOOKS_TOKEN is empty: remote hooks need a "
                "webtask token for the tenant's container on that server."
            )
            logger.error("cannot start: %s", message)
            raise SettingsError(message)
        timeout_s = settings.rule_timeout_ms / 1000 + 5
        hooks = RemoteHooks(settings.hooks_url, settings.hooks_token, timeout_s)
    else:
        hooks = LocalHooks(svc)
    return TokenServer(
        store=svc.store,
        signing_key=node_signing_key(settings),
        hooks=hooks,
        throttle=LoginThrottle(settings.login_max_failures, settings.login_lockout_s),
        lifetime_s=settings.token_lifetime,
    )


def token_server(request: Request) -> TokenServer:
    server: TokenServer = request.app.state.oauth
    return server


def _tenant(request: Request, settings: Settings) -> str:
    tenant = request.path_params.get("tenant", settings.tenant)
    return str(tenant)


def _prefix(tenant: str, settings: Settings) -> str:
    return "" if tenant == settings.tenant else f"/tenants/{tenant}"


def issuer_for(request: Request, settings: Settings, tenant: str) -> str:
    root = settings.issuer or base_url(request, settings.public_url) + "/"
    return root if tenant == settings.tenant else f"{root}tenants/{tenant}/"


def oauth_response(exc: OAuthError) -> Response:
    return json_response(
        oauth_error_body(exc.error, exc.description), exc.status, {**NO_STORE, **exc.headers}
    )


async def token(request: Request) -> Response:
    svc = services(request)
    tenant = _tenant(request, svc.settings)
    try:
        if not NAME_RE.match(tenant):
            raise InvalidRequest(f"Invalid tenant {tenant!r}.")
        try:
            body = await read_body(request, svc.settings.max_body_bytes)
        except PayloadTooLarge as exc:
            raise BodyTooLarge(exc.message) from exc
        parsed = parse_token_request(
            request.headers.get("content-type", ""), body, request.headers.get("authorization")
        )
        caller = Caller(
            tenant=tenant,
            issuer=issuer_for(request, svc.settings, tenant),
            ip=client_ip(
                request.client.host if request.client else "",
                request.headers.get("x-forwarded-for"),
                svc.settings.trusted_proxies,
            ),
            user_agent=request.headers.get("user-agent", ""),
        )
        answer = await token_server(request).issue(parsed, caller)
    except OAuthError as exc:
        return oauth_response(exc)
    except Exception:
        logger.exception("token request for tenant %s failed", tenant)
        return oauth_response(ServerError("The token could not be issued."))
    return json_response(answer, 200, NO_STORE)


async def jwks(request: Request) -> Response:
    return json_response(token_server(request).signing_key.jwks())


async def openid_configuration(request: Request) -> Response:
    svc = services(request)
    tenant = _tenant(request, svc.settings)
    if not NAME_RE.match(tenant):
        raise BadRequest(f"Invalid tenant {tenant!r}.")
    base = base_url(request, svc.settings.public_url) + _prefix(tenant, svc.settings)
    return json_response(
        {
            "issuer": issuer_for(request, svc.settings, tenant),
            "token_endpoint": f"{base}/oauth/token",
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "grant_types_supported": list(GRANTS),
            "token_endpoint_auth_methods_supported": [
                "none",
                "client_secret_post",
                "client_secret_basic",
            ],
            "id_token_signing_alg_values_supported": ["RS256"],
            "subject_types_supported": ["public"],
        }
    )


# --- admin API ----------------------------------------------------------------------------


async def _admin(request: Request) -> tuple[Registry, str]:
    svc = services(request)
    claims = await authenticate(request, svc.keys, svc.store)
    if not is_master(claims):
        raise Forbidden("Managing APIs, clients and users needs an admin token.")
    return Registry(svc.store), str(request.path_params["container"])


async def _body(request: Request) -> dict[str, Any]:
    return await read_json_object(request, services(request).settings.max_body_bytes)


def _list(body: dict[str, Any], name: str) -> list[Any]:
    value = body.get(name, [])
    if not isinstance(value, list):
        raise BadRequest(f"'{name}' must be a list.")
    return value


async def apis(request: Request) -> Response:
    registry, container = await _admin(request)
    if request.method == "POST":
        body = await _body(request)
        api = await registry.create_api(
            container, body.get("identifier"), _list(body, "scopes"), body.get("name")
        )
        return json_response(describe_api(api), 201)
    if request.method == "DELETE":
        identifier = request.query_params.get("identifier")
        if not identifier:
            raise BadRequest("Name the API to delete with ?identifier=<identifier>.")
        await registry.delete_api(container, identifier)
        return Response(status_code=204)
    return json_response([describe_api(api) for api in await registry.list_apis(container)])


async def clients(request: Request) -> Response:
    registry, container = await _admin(request)
    if request.method == "POST":
        body = await _body(request)
        public = body.get("public", False)
        if not isinstance(public, bool):
            raise BadRequest("'public' must be true or false.")
        client, secret = await registry.create_client(
            container,
            body.get("name"),
            public=public,
            grants=body.get("grants"),
            metadata=body.get("metadata"),
        )
        return json_response(describe_client(client, secret), 201)
    return json_response([describe_client(c) for c in await registry.list_clients(container)])


async def delete_client(request: Request) -> Response:
    registry, container = await _admin(request)
    await registry.delete_client(container, request.path_params["client_id"])
    return Response(status_code=204)


async def users(request: Request) -> Response:
    registry, container = await _admin(request)
    if request.method == "POST":
        body = await _body(request)
        user = await registry.create_user(container, body.get("email"), body.get("password"))
        return json_response(describe_user(user), 201)
    return json_response([describe_user(u) for u in await registry.list_users(container)])


async def delete_user(request: Request) -> Response:
    registry, container = await _admin(request)
    await registry.delete_user(container, request.path_params["email"])
    return Response(status_code=204)


def routes() -> list[Route]:
    tenant = "/tenants/{tenant}"
    admin = "/api/oauth/{container}"
    return [
        Route("/oauth/token", token, methods=["POST"]),
        Route(f"{tenant}/oauth/token", token, methods=["POST"]),
        Route("/.well-known/jwks.json", jwks, methods=["GET"]),
        Route(f"{tenant}/.well-known/jwks.json", jwks, methods=["GET"]),
        Route("/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
        Route(f"{tenant}/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
        Route(f"{admin}/apis", apis, methods=["GET", "POST", "DELETE"]),
        Route(f"{admin}/clients", clients, methods=["GET", "POST"]),
        Route(f"{admin}/clients/{{client_id}}", delete_client, methods=["DELETE"]),
        Route(f"{admin}/users", users, methods=["GET", "POST"]),
        Route(f"{admin}/users/{{email}}", delete_user, methods=["DELETE"]),
    ]
