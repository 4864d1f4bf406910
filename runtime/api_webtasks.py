"""``/api/webtask/...``: create (PUT), read, list and delete named webtasks."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from runtime.auth import authenticate, is_master, require_container
from runtime.errors import BadRequest, Forbidden
from runtime.http import base_url, json_response, read_json_object
from runtime.services import services
from runtime.store import WebtaskRecord

TRUTHY = ("1", "true", "yes")


def _describe(request: Request, record: WebtaskRecord) -> dict[str, Any]:
    svc = services(request)
    body: dict[str, Any] = {
        "container": record.container,
        "name": record.name,
        "token": record.token,
        "webtask_url": f"{base_url(request, svc.settings.public_url)}/api/run/"
        f"{record.container}/{record.name}",
    }
    meta = svc.webtasks.meta_of(record)
    if meta:
        body["meta"] = meta
    return body


async def put_webtask(request: Request) -> Response:
    svc = services(request)
    container, name = request.path_params["container"], request.path_params["name"]
    claims = await authenticate(request, svc.keys, svc.store)
    # Read the body before refusing: a 403 sent with the body unread makes the server drop the
    # keep-alive connection, which the client may already be reusing.
    body = await read_json_object(request, svc.settings.max_body_bytes)
    require_container(claims, container)
    record = await svc.webtasks.upsert(container, name, body, claims)
    described = _describe(request, record)
    described.setdefault("meta", {})
    return json_response(described)


async def get_webtask(request: Request) -> Response:
    svc = services(request)
    container, name = request.path_params["container"], request.path_params["name"]
    claims = await authenticate(request, svc.keys, svc.store)
    require_container(claims, container)
    record = await svc.webtasks.get(container, name)
    body = _describe(request, record)
    if request.query_params.get("decrypt", "").lower() in TRUTHY:
        body["secrets"] = svc.webtasks.secrets_of(record)
    if request.query_params.get("fetch_code", "").lower() in TRUTHY:
        body["code"] = record.code
    return json_response(body)


async def delete_webtask(request: Request) -> Response:
    svc = services(request)
    container, name = request.path_params["container"], request.path_params["name"]
    claims = await authenticate(request, svc.keys, svc.store)
    require_container(claims, container)
    await svc.webtasks.delete(container, name)
    return Response(status_code=204)


def _int_param(request: Request, name: str, default: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise BadRequest(f"Query parameter '{name}' must be a non-negative integer, not {raw!r}.")
    return min(int(raw), maximum)


def _meta_filters(request: Request) -> list[str]:
    """Digests of every ``meta=key:value`` filter (repeats are ANDed)."""
    webtasks = services(request).webtasks
    digests: list[str] = []
    for raw in request.query_params.getlist("meta"):
        key, sep, value = raw.partition(":")
        if not sep or not key:
            raise BadRequest(f"Query parameter 'meta' must look like key:value, not {raw!r}.")
        digests.append(webtasks.meta_digest(key, value))
    return digests


async def list_webtasks(request: Request) -> Response:
    svc = services(request)
    container = request.path_params.get("container")
    claims = await authenticate(request, svc.keys, svc.store)
    if container is None:
        if not is_master(claims):
            raise Forbidden("Listing every container needs an admin token.")
    else:
        require_container(claims, container)
    records = await svc.store.list_webtasks(
        container,
        _meta_filters(request),
        _int_param(request, "offset", 0, 2**31),
        _int_param(request, "limit", 100, 1000),
    )
    return json_response([_describe(request, record) for record in records])
