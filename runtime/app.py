"""``create_app(settings)``: the Starlette application and the lifespan that owns resources."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runtime import api_logs, api_run, api_storage, api_tokens, api_webtasks, backends
from runtime.bus import Bus
from runtime.cron import api as cron_api
from runtime.cron.scheduler import Scheduler
from runtime.errors import APIError, NotFound, ServiceUnavailable, error_body
from runtime.http import json_response
from runtime.keys import KeyFileError, node_keys
from runtime.oauth import api as oauth_api
from runtime.oauth.signing import node_signing_key
from runtime.oauth.token_server import TokenServer
from runtime.services import Services, services
from runtime.settings import LAYERS, Settings
from runtime.webtasks import Webtasks
from sandbox.errors import SandboxError
from sandbox.pool import PoolConfig, WorkerPool
from sandbox.process import WorkerConfig

logger = logging.getLogger(__name__)

RUN_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def pool_config(settings: Settings) -> PoolConfig:
    return PoolConfig(
        worker=WorkerConfig(
            timeout_ms=settings.rule_timeout_ms,
            cpu_ms=settings.rule_cpu_ms,
            memory_mb=settings.rule_memory_mb,
            log_bytes=settings.rule_log_bytes,
            result_bytes=settings.rule_result_bytes,
            recursion=settings.rule_recursion,
            uid=settings.sandbox_uid,
            layers=LAYERS,
        ),
        max_workers=settings.max_workers,
        max_queue=settings.max_queue,
        max_calls=settings.worker_max_calls,
        idle_s=settings.worker_idle_s,
        spare_workers=settings.spare_workers,
        container_workers=settings.container_workers,
        isolation=settings.isolation,
        required_layers=settings.sandbox_require,
    )


def layer_warnings(layers: dict[str, str]) -> list[str]:
    return [f"{name}: {status}" for name, status in layers.items() if status != "live"]


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    keys = node_keys(settings)
    store = backends.make_store(settings)
    try:
        await store.open()
    except ServiceUnavailable as exc:
        logger.error("cannot start: %s", exc.message)
        raise
    pool = WorkerPool(pool_config(settings))
    bus: Bus | None = None
    oauth: TokenServer | None = None
    scheduler: Scheduler | None = None
    try:
        if settings.database_url:
            try:
                await backends.check_keys(store, keys, node_signing_key(settings).kid)
            except KeyFileError as exc:
                logger.error("cannot start: %s", exc)
                raise
        try:
            layers = await pool.start()
        except SandboxError as exc:
            logger.error("cannot start: %s", exc)
            raise
        missing = layer_warnings(layers)
        if missing:
            logger.warning(
                "SANDBOX DEGRADED: these isolation layers are not live: %s. Rules still run; "
                "set WTHOST_SANDBOX_REQUIRE=all to refuse to start instead.",
                "; ".join(missing),
            )
        bus = await backends.start_bus(settings, store)
        webtasks = Webtasks(store, pool, keys, settings.max_code_bytes)
        # Every write drops the cached copy on every node (this one through the bus too).
        webtasks.changed = bus.invalidate
        bus.on_invalidate(webtasks.forget)
        app.state.services = Services(
            settings=settings,
            keys=keys,
            store=store,
            pool=pool,
            bus=bus,
            webtasks=webtasks,
        )
        oauth = app.state.oauth = oauth_api.create_token_server(app.state.services)
        if settings.cron_scheduler == "on":
            scheduler = cron_api.create_scheduler(app, app.state.services)
            await scheduler.start()
        yield
    finally:
        if scheduler is not None:
            await scheduler.close()
        if oauth is not None:
            await oauth.close()
        if bus is not None:
            await backends.stop_bus(bus)
        await pool.close()
        await store.close()


async def healthz(request: Request) -> Response:
    svc = services(request)
    layers = svc.pool.layers
    return json_response(
        {
            "status": "ok",
            "sandbox": {
                "layers": layers,
                "degraded": bool(layer_warnings(layers)),
                "isolation": svc.settings.isolation,
            },
            "backends": backends.describe(svc.settings),
            "pool": svc.pool.snapshot(),
        }
    )


async def description(request: Request) -> Response:
    # A 404 here makes wt-cli use the v1 (webtask token) protocol.
    raise NotFound("This server speaks the v1 webtask token protocol; there is no description.")


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)  # registered for APIError only
    return json_response(
        error_body(exc.status, exc.error, exc.message, **exc.details), exc.status, exc.headers
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # registered for HTTPException only
    message = exc.detail if isinstance(exc.detail, str) else "Request failed."
    if exc.status_code == 404:
        message = f"No route for {request.method} {request.url.path}."
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}."
    return json_response(error_body(exc.status_code, message, message), exc.status_code)


async def _server_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return json_response(error_body(500, "Server error", "Internal server error."), 500)


def create_app(settings: Settings, **state: Any) -> Starlette:
    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/api/description", description, methods=["GET"]),
        Route("/api/webtask", api_webtasks.list_webtasks, methods=["GET"]),
        Route("/api/webtask/{container}", api_webtasks.list_webtasks, methods=["GET"]),
        Route("/api/webtask/{container}/{name}", api_webtasks.get_webtask, methods=["GET"]),
        Route("/api/webtask/{container}/{name}", api_webtasks.put_webtask, methods=["PUT"]),
        Route("/api/webtask/{container}/{name}", api_webtasks.delete_webtask, methods=["DELETE"]),
        Route("/api/webtask/{container}/{name}/data", api_storage.get_data, methods=["GET"]),
        Route("/api/webtask/{container}/{name}/data", api_storage.put_data, methods=["PUT"]),
        Route("/api/tokens/issue", api_tokens.issue_token, methods=["POST"]),
        Route("/api/tokens/inspect", api_tokens.inspect_token, methods=["GET"]),
        Route("/api/tokens/revoke", api_tokens.revoke_token, methods=["POST"]),
        Route("/api/logs/tenant/{container}", api_logs.stream_logs, methods=["GET"]),
        Route("/api/run/{container}", api_run.run_unnamed, methods=RUN_METHODS),
        Route("/api/run/{container}/{name}", api_run.run_webtask, methods=RUN_METHODS),
        Route("/api/run/{container}/{name}/{rest:path}", api_run.run_webtask, methods=RUN_METHODS),
        *oauth_api.routes(),
        *cron_api.routes(),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            APIError: _api_error,
            HTTPException: _http_error,
            Exception: _server_error,
        },
    )
    app.state.settings = settings
    for key, value in state.items():
        setattr(app.state, key, value)
    return app
