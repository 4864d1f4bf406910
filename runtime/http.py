"""Small request/response helpers shared by the endpoints (body limits, JSON answers)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from runtime.errors import BadRequest, PayloadTooLarge


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status_code=status,
        headers=dict(headers or {}),
        media_type="application/json",
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing more than ``limit`` bytes without buffering past it."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            await _drain(request, size, limit)
            raise PayloadTooLarge(f"Request body is larger than the {limit}-byte limit.")
        chunks.append(chunk)
    return b"".join(chunks)


async def _drain(request: Request, seen: int, limit: int) -> None:
    """Read (and drop) a modest overflow so the client can see our 413 before we hang up."""
    budget = max(4 * limit, 8 * 2**20)
    if seen > budget:
        return
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > budget:
            return


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    raw = await read_body(request, limit)
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"Request body is not valid JSON: {exc}.") from exc
    except RecursionError as exc:
        raise BadRequest("Request body is JSON nested too deeply.") from exc
    if not isinstance(value, dict):
        raise BadRequest(f"Request body must be a JSON object, not {type(value).__name__}.")
    return value


def base_url(request: Request, public_url: str) -> str:
    if public_url:
        return public_url
    return str(request.base_url).rstrip("/")
