"""``/api/run/{container}/{name}[/...]``: run a named webtask through its compiler.

No token is needed: the compiler (e.g. the extension secret check) protects hooks.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from compilers import HookRequest, Reply
from runtime.bus import log_record
from runtime.errors import error_body
from runtime.http import json_response, read_body
from runtime.services import Services, services
from runtime.webtasks import Runnable
from sandbox.errors import (
    CompileFailed,
    ExecutionTimeout,
    PoolBusy,
    PoolClosed,
    SandboxError,
    WorkerCrashed,
)

logger = logging.getLogger(__name__)


def _query(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items() if not k.startswith("webtask_")}


def webtask_context(
    runnable: Runnable,
    *,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    body: bytes,
    req_id: str,
) -> dict[str, Any]:
    """The rule's ``ctx`` (``context.webtask``) for one call; ``headers`` are lower-cased."""
    record = runnable.record
    ctx: dict[str, Any] = {
        "id": req_id,
        "container": record.container,
        "name": record.name,
        "secrets": dict(runnable.secrets),
        "meta": dict(runnable.meta),
        "params": {},
        "query": dict(query),
        "headers": dict(headers),
    }
    data: dict[str, Any] = {**query, **runnable.secrets}
    if body and headers.get("content-type", "").startswith("application/json"):
        with contextlib.suppress(ValueError):
            ctx["body"] = json.loads(body)
    if isinstance(ctx.get("body"), dict):
        data.update({k: v for k, v in ctx["body"].items() if k not in data})
    ctx["data"] = data
    return ctx


async def run_webtask(request: Request) -> Response:
    svc = services(request)
    container, name = request.path_params["container"], request.path_params["name"]
    runnable = await svc.webtasks.runnable(container, name)
    body = await read_body(request, svc.settings.max_body_bytes)
    req_id = f"{random.getrandbits(64):016x}"
    headers = {k.lower(): v for k, v in request.headers.items()}
    hook = HookRequest(
        method=request.method,
        headers=headers,
        body=body,
        ctx=webtask_context(
            runnable, headers=headers, query=_query(request), body=body, req_id=req_id
        ),
    )
    try:
        reply = await execute(svc, runnable, hook, req_id)
    except SandboxError as exc:
        return _sandbox_failure(svc, container, name, req_id, exc)
    return _reply(reply)


async def execute(svc: Services, runnable: Runnable, hook: HookRequest, req_id: str) -> Reply:
    """The compiler + sandbox path shared by ``/api/run`` and the token server's hooks:
    ``prepare`` → the container's worker → ``respond``. Raises ``SandboxError``."""
    container, name = runnable.record.container, runnable.record.name
    prepared = runnable.compiler.prepare(hook)
    if isinstance(prepared, Reply):
        return prepared
    started = time.perf_counter()
    # Log records cost more than the rest of a warm call: build them only for listeners.
    listening = svc.bus.listening(container)
    if listening:
        svc.bus.publish(container, log_record(container, f"{name}: start", req_id=req_id))
    try:
        outcome = await svc.pool.run(
            container,
            runnable.code_hash,
            runnable.record.code,
            prepared,
            on_log=(
                lambda line: svc.bus.publish(
                    container, log_record(container, line, req_id=req_id, sandbox=True)
                )
            )
            if listening
            else None,
            language=runnable.language,
        )
    except SandboxError as exc:
        svc.bus.publish(container, failure_record(container, name, req_id, exc))
        raise
    if not listening:
        return runnable.compiler.respond(outcome)
    elapsed_ms = (time.perf_counter() - started) * 1000
    if outcome.error is not None:
        svc.bus.publish(
            container,
            log_record(
                container,
                f"{name}: the rule failed: {outcome.error.message}",
                level="warn",
                req_id=req_id,
            ),
        )
    svc.bus.publish(
        container,
        log_record(
            container,
            f"{name}: finished in {elapsed_ms:.1f} ms",
            req_id=req_id,
            duration_ms=round(elapsed_ms, 3),
        ),
    )
    return runnable.compiler.respond(outcome)


def failure_record(container: str, name: str, req_id: str, exc: SandboxError) -> dict[str, Any]:
    """The log line for a call the sandbox could not finish; kills are marked ``killed``."""
    if isinstance(exc, ExecutionTimeout | WorkerCrashed):
        return log_record(
            container, f"{name}: worker killed: {exc}", level="error", req_id=req_id, killed=True
        )
    return log_record(container, f"{name}: {exc}", level="error", req_id=req_id)


def _reply(reply: Reply) -> Response:
    return Response(
        reply.encode(),
        status_code=reply.status,
        headers=dict(reply.headers),
        media_type="application/json",
    )


def _sandbox_failure(
    svc: Services, container: str, name: str, req_id: str, exc: SandboxError
) -> Response:
    headers: dict[str, str] = {}
    if isinstance(exc, ExecutionTimeout):
        status, error = 500, "Request to Webtask exceeded allowed execution time"
    elif isinstance(exc, WorkerCrashed):
        status, error = 500, "Script execution failed"
    elif isinstance(exc, CompileFailed):
        status, error = 400, f"Unable to compile submitted {exc.language} code"
    elif isinstance(exc, PoolBusy):
        status, error = 503, "Service unavailable"
        headers["Retry-After"] = str(exc.retry_after_s)
    elif isinstance(exc, PoolClosed):
        status, error = 503, "Service unavailable"
        headers["Retry-After"] = "1"
    else:
        status, error = 500, "Server error"
    logger.warning("webtask %s/%s request %s failed: %s", container, name, req_id, exc)
    return json_response(error_body(status, error, str(exc), req_id=req_id), status, headers)
