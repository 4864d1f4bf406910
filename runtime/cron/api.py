"""``/api/cron/{container}[/{name}[/state|/history]]`` (Bearer), and the scheduler the app's
lifespan owns.

Lists and history take ``offset``/``limit``; lists filter on ``meta=key:value`` (repeats are
ANDed; sandboxjs sends only the last). Missing jobs are 404, bad bodies 400.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from runtime.auth import authenticate, require_container
from runtime.cron.delivery import AppDelivery
from runtime.cron.jobs import CronJobs, describe, describe_run
from runtime.cron.records import HISTORY_KEPT
from runtime.cron.scheduler import Scheduler, node_id
from runtime.errors import BadRequest
from runtime.http import json_response, read_json_object
from runtime.names import check_name
from runtime.services import Services, services

# A run may wait for a sandbox worker before its rule's own time limit starts.
QUEUE_MARGIN_S = 30.0
HISTORY_BODY_BYTES = 4096


def create_scheduler(app: Starlette, svc: Services) -> Scheduler:
    """Built by the lifespan once the store and pool are up; closed before them."""
    settings = svc.settings
    run_timeout_s = settings.rule_timeout_ms / 1000 + QUEUE_MARGIN_S
    return Scheduler(
        svc.store,
        AppDelivery(app, settings.public_url, HISTORY_BODY_BYTES),
        node=node_id(),
        run_timeout_s=run_timeout_s,
        lease_s=run_timeout_s + QUEUE_MARGIN_S,
        poll_s=settings.cron_poll_ms / 1000,
        concurrency=settings.cron_concurrency,
        body_bytes=HISTORY_BODY_BYTES,
    )


def _jobs(request: Request) -> CronJobs:
    svc = services(request)
    return CronJobs(svc.store, svc.keys)


async def _container(request: Request) -> str:
    """The container of the path, once the caller's token covers it."""
    svc = services(request)
    container: str = request.path_params["container"]
    claims = await authenticate(request, svc.keys, svc.store)
    require_container(claims, container)
    return container


def _name(request: Request) -> str:
    name: str = request.path_params["name"]
    return name


def _int_param(request: Request, name: str, default: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise BadRequest(f"Query parameter '{name}' must be a non-negative integer, not {raw!r}.")
    return min(int(raw), maximum)


def _meta_filter(request: Request) -> dict[str, str] | None:
    """``meta=key:value`` filters as a map; None when two of them can never both match."""
    wanted: dict[str, str] = {}
    for raw in request.query_params.getlist("meta"):
        key, sep, value = raw.partition(":")
        if not sep or not key:
            raise BadRequest(f"Query parameter 'meta' must look like key:value, not {raw!r}.")
        if wanted.setdefault(key, value) != value:
            return None
    return wanted


async def list_jobs(request: Request) -> Response:
    container = await _container(request)
    wanted = _meta_filter(request)
    offset = _int_param(request, "offset", 0, 2**31)
    limit = _int_param(request, "limit", 100, 1000)
    jobs = _jobs(request)
    found = (
        [] if wanted is None else await jobs.store.list_cron_jobs(container, wanted, offset, limit)
    )
    now = jobs.clock()
    return json_response([describe(job, now) for job in found])


async def put_job(request: Request) -> Response:
    svc = services(request)
    # Read the body before refusing, so a 403 does not cut a keep-alive connection short.
    body = await read_json_object(request, svc.settings.max_body_bytes)
    container, name = await _container(request), _name(request)
    check_name("container", container)
    check_name("webtask", name)
    jobs = _jobs(request)
    job = await jobs.put(container, name, body)
    return json_response(describe(job, jobs.clock()))


async def get_job(request: Request) -> Response:
    container, name = await _container(request), _name(request)
    jobs = _jobs(request)
    return json_response(describe(await jobs.get(container, name), jobs.clock()))


async def delete_job(request: Request) -> Response:
    container, name = await _container(request), _name(request)
    await _jobs(request).delete(container, name)
    return Response(status_code=204)


async def put_state(request: Request) -> Response:
    svc = services(request)
    body = await read_json_object(request, svc.settings.max_body_bytes)
    container, name = await _container(request), _name(request)
    jobs = _jobs(request)
    job = await jobs.set_state(container, name, body)
    return json_response(describe(job, jobs.clock()))


async def history(request: Request) -> Response:
    container, name = await _container(request), _name(request)
    offset = _int_param(request, "offset", 0, 2**31)
    limit = _int_param(request, "limit", HISTORY_KEPT, HISTORY_KEPT)
    runs = await _jobs(request).history(container, name, offset, limit)
    return json_response([describe_run(run) for run in runs])


def routes() -> list[BaseRoute]:
    return [
        Route("/api/cron/{container}", list_jobs, methods=["GET"]),
        Route("/api/cron/{container}/{name}", get_job, methods=["GET"]),
        Route("/api/cron/{container}/{name}", put_job, methods=["PUT"]),
        Route("/api/cron/{container}/{name}", delete_job, methods=["DELETE"]),
        Route("/api/cron/{container}/{name}/state", put_state, methods=["PUT"]),
        Route("/api/cron/{container}/{name}/history", history, methods=["GET"]),
    ]
