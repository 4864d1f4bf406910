"""``/api/run/...``: run a webtask.

- ``/api/run/{container}/{name}[/...]`` runs a named webtask through its compiler. No token is
  needed: the compiler (e.g. the extension secret check) protects hooks.
- ``/api/run/{container}`` runs code sent with the request (``runtime/unnamed.py``), for a
  caller with a token for the container (``Authorization: Bearer`` or ``?key=``).

A ``(ctx, req, res)`` rule's response is streamed (``runtime/streaming.py``); every other answer
is the compiler's JSON reply. Rules of named webtasks reach their storage through the worker.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable

from starlette.requests import Request
from starlette.responses import Response

from compilers import PLAIN, Outcome, Reply, webtask as plain
from runtime import storage, streaming, unnamed
from runtime.auth import authenticate, presented_token, require_runner
from runtime.errors import PayloadTooLarge
from runtime.execution import call, execute as execute, reply_response, sandbox_failure
from runtime.http import read_body
from runtime.run_request import hook_request, webtask_context as webtask_context
from runtime.services import Services, services
from runtime.webtasks import Runnable
from sandbox.errors import SandboxError
from sandbox.process import OnOutput

logger = logging.getLogger(__name__)


async def run_webtask(request: Request) -> Response:
    svc = services(request)
    container, name = request.path_params["container"], request.path_params["name"]
    runnable = await svc.webtasks.runnable(container, name)
    try:
        body = await read_body(request, svc.settings.max_body_bytes)
    except PayloadTooLarge:
        if runnable.compiler is not PLAIN:
            raise
        return reply_response(plain.too_large(svc.settings.max_body_bytes))
    return await _run(svc, request, runnable, body, token=runnable.record.token)


async def run_unnamed(request: Request) -> Response:
    svc = services(request)
    container = request.path_params["container"]
    claims = await authenticate(request, svc.keys, svc.store)
    try:
        body = await read_body(request, svc.settings.max_body_bytes)
    except PayloadTooLarge:
        return reply_response(plain.too_large(svc.settings.max_body_bytes))
    require_runner(claims, container)
    token = presented_token(request) or ""
    try:
        target = await unnamed.resolve(
            svc,
            container,
            claims,
            token,
            method=request.method,
            query=request.query_params,
            body=body,
        )
    except unnamed.CodeTooLarge as exc:
        return reply_response(plain.too_large(exc.limit))
    return await _run(svc, request, target.runnable, target.body, token=target.token)


async def _run(
    svc: Services, request: Request, runnable: Runnable, body: bytes, *, token: str | None
) -> Response:
    req_id = f"{random.getrandbits(64):016x}"
    hook = hook_request(request, runnable, body, req_id, token=token)
    prepared = runnable.compiler.prepare(hook)
    if isinstance(prepared, Reply):
        return reply_response(prepared)
    record = runnable.record
    rpc = (
        storage.rpc_handler(svc.store, record.container, record.name if runnable.named else None)
        if prepared.storage
        else None
    )
    try:
        if prepared.raw_arities:

            def start(on_output: OnOutput) -> Awaitable[Outcome]:
                return call(svc, runnable, prepared, req_id, on_output=on_output, rpc=rpc)

            answer = await streaming.stream(start, method=request.method)
            if isinstance(answer, Response):
                return answer
            outcome = answer
        else:
            outcome = await call(svc, runnable, prepared, req_id, rpc=rpc)
    except SandboxError as exc:
        return sandbox_failure(runnable, req_id, exc)
    return reply_response(runnable.compiler.respond(outcome))
