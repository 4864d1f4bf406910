"""``AppDelivery``: a cron run reaches the run route of the app in process."""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from runtime.cron.delivery import AppDelivery, Delivery, NoResponse


async def echo(request: Request) -> Response:
    return Response(
        json.dumps(
            {
                "path": request.url.path,
                "params": request.path_params,
                "method": request.method,
                "host": request.headers["host"],
                "authorization": request.headers["authorization"],
                "body": json.loads(await request.body()),
            }
        ),
        status_code=201,
        headers={"X-Auth0-Thing": '{"a":1}'},
        media_type="application/json",
    )


async def stream(request: Request) -> Response:
    async def chunks() -> object:
        for _ in range(100):
            yield b"0123456789"

    return StreamingResponse(chunks(), media_type="text/plain")  # type: ignore[arg-type]


async def broken(request: Request) -> Response:
    raise RuntimeError("boom")


APP = Starlette(
    routes=[
        Route("/api/run/big/{name}", stream, methods=["POST"]),
        Route("/api/run/{container}/{name}", echo, methods=["POST"]),
    ]
)


def deliver(app: Starlette, container: str, name: str, limit: int = 4096) -> Delivery:
    target = AppDelivery(app, "https://wt.example.com", limit)
    return asyncio.run(
        target(container, name, {"authorization": "Bearer t"}, json.dumps({"job": 1}).encode())
    )


def test_a_run_posts_to_the_run_route_and_keeps_the_answer() -> None:
    answer = deliver(APP, "c", "a:b@c")
    assert answer.status == 201
    assert answer.headers["x-auth0-thing"] == '{"a":1}'
    assert answer.headers["content-type"] == "application/json"
    assert json.loads(answer.body) == {
        "path": "/api/run/c/a:b@c",
        "params": {"container": "c", "name": "a:b@c"},
        "method": "POST",
        "host": "wt.example.com",
        "authorization": "Bearer t",
        "body": {"job": 1},
    }


def test_only_the_first_bytes_of_a_long_answer_are_kept() -> None:
    answer = deliver(APP, "big", "x", limit=25)
    assert answer.status == 200
    assert answer.body == b"0123456789012345678901234"


def test_an_app_error_after_its_500_keeps_the_500() -> None:
    app = Starlette(routes=[Route("/api/run/{container}/{name}", broken, methods=["POST"])])
    answer = deliver(app, "c", "n")
    assert answer.status == 500
    assert answer.body == b"Internal Server Error"


def test_an_app_that_never_answers_is_an_error() -> None:
    async def silent(scope: object, receive: object, send: object) -> None:
        return None

    with pytest.raises(NoResponse, match="ended without answering"):
        asyncio.run(AppDelivery(silent, "", 10)("c", "n", {}, b"{}"))
