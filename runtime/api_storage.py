"""``/api/webtask/{container}/{name}/data``: read (GET) and write (PUT) a webtask's storage.

The wire format is webtask.io's: ``data`` is the document as a JSON *string*; ``etag`` is an
integer (sandboxjs sends it as a string). A PUT without ``etag`` writes unconditionally, with
``etag: null`` only creates, with an etag only replaces that version (else 409 "Conditional PUT
failed with etag mismatch"). An empty storage reads as ``{"data": "{}"}``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from runtime import storage
from runtime.auth import authenticate, require_container
from runtime.errors import BadRequest
from runtime.http import json_response, read_json_object
from runtime.services import services

EMPTY = "{}"


async def get_data(request: Request) -> Response:
    svc = services(request)
    container, name = request.path_params["container"], request.path_params["name"]
    claims = await authenticate(request, svc.keys, svc.store)
    require_container(claims, container, webtask=name)
    await svc.webtasks.get(container, name)  # 404 for an unknown webtask
    document = await svc.store.get_storage(container, name)
    if document is None:
        return json_response({"data": EMPTY})
    data = EMPTY if document.data is None else document.data
    return json_response({"data": data, "etag": document.etag})


async def put_data(request: Request) -> Response:
    svc = services(request)
    container, name = request.path_params["container"], request.path_params["name"]
    claims = await authenticate(request, svc.keys, svc.store)
    body = await read_json_object(request, svc.settings.max_body_bytes)
    require_container(claims, container, webtask=name)
    if "data" not in body:
        raise BadRequest("Send 'data': the storage document as a JSON string.")
    text = _document(body["data"])
    force = "etag" not in body
    etag = None if force else _etag(body["etag"])
    await svc.webtasks.get(container, name)  # 404 for an unknown webtask
    if isinstance(etag, _Never):
        raise storage.StorageMismatch(None)
    written = await storage.write(svc.store, container, name, text, etag=etag, force=force)
    return json_response({"etag": written})


def _document(data: Any) -> str | None:
    """The JSON text to store (None clears): a JSON string as sent, or any other JSON value."""
    if not isinstance(data, str):
        return None if data is None else storage.encode(data)
    try:
        value = json.loads(data, parse_constant=_refuse)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"'data' must be a JSON string, and {_show(data)} is not JSON.") from exc
    if value is None:
        return None
    if len(data.encode()) > storage.MAX_BYTES:
        storage.encode(value)  # raises PayloadTooLarge with the size
    return data


class _Never:
    """An etag no version can have (not a number)."""


_NEVER = _Never()


def _etag(value: Any) -> int | _Never | None:
    """``etag`` as sent: null (create-only), an integer or a numeric string."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, str):
        return _NEVER
    raise BadRequest(f"'etag' must be an integer, a numeric string or null, not {_show(value)}.")


def _refuse(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
