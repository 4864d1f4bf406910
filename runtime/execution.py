"""Running a webtask: the compiler around the container's sandbox worker, with log records.

``execute`` is the whole path for callers that want a JSON ``Reply`` (the token server's hooks):
``prepare`` → the container's worker → ``respond``. ``call`` is the middle step alone, for the
run endpoints, which also stream raw-model responses and answer storage requests.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.responses import Response

from compilers import PLAIN, HookRequest, Invocation, Outcome, Reply, webtask as plain
from runtime.bus import log_record
from runtime.errors import error_body
from runtime.http import json_response
from runtime.services import Services
from runtime.webtasks import Runnable
from sandbox.errors import (
    CompileFailed,
    ExecutionTimeout,
    PoolBusy,
    PoolClosed,
    SandboxError,
    WorkerCrashed,
)
from sandbox.process import OnOutput, RPCHandler

logger = logging.getLogger(__name__)


async def execute(svc: Services, runnable: Runnable, hook: HookRequest, req_id: str) -> Reply:
    """The compiler + sandbox path shared by ``/api/run`` and the token server's hooks:
    ``prepare`` → the container's worker → ``respond``. Raises ``SandboxError``."""
    prepared = runnable.compiler.prepare(hook)
    if isinstance(prepared, Reply):
        return prepared
    return runnable.compiler.respond(await call(svc, runnable, prepared, req_id))


async def call(
    svc: Services,
    runnable: Runnable,
    prepared: Invocation,
    req_id: str,
    *,
    on_output: OnOutput | None = None,
    rpc: RPCHandler | None = None,
) -> Outcome:
    """One call of the rule in a worker of its container. Raises ``SandboxError``."""
    container, name = runnable.record.container, runnable.display_name
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
            on_output=on_output,
            rpc=rpc,
            module_api=runnable.module_api,
        )
    except SandboxError as exc:
        svc.bus.publish(container, failure_record(container, name, req_id, exc))
        raise
    if not listening:
        return outcome
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
    return outcome


def failure_record(container: str, name: str, req_id: str, exc: SandboxError) -> dict[str, Any]:
    """The log line for a call the sandbox could not finish; kills are marked ``killed``."""
    if isinstance(exc, ExecutionTimeout | WorkerCrashed):
        return log_record(
            container, f"{name}: worker killed: {exc}", level="error", req_id=req_id, killed=True
        )
    return log_record(container, f"{name}: {exc}", level="error", req_id=req_id)


def reply_response(reply: Reply) -> Response:
    return Response(
        reply.encode(),
        status_code=reply.status,
        headers=dict(reply.headers),
        media_type="application/json",
    )


def sandbox_failure(runnable: Runnable, req_id: str, exc: SandboxError) -> Response:
    """The answer when the sandbox could not run the rule to an outcome."""
    container, name = runnable.record.container, runnable.display_name
    headers: dict[str, str] = {}
    if isinstance(exc, CompileFailed) and runnable.compiler is PLAIN:
        # Code sent with an unnamed run is compiled here, not at upload.
        return reply_response(plain.compile_failure(exc.language, exc.diagnostics))
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
