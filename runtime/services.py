"""The resources the lifespan owns, reachable from a request."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from runtime.bus import Bus
from runtime.keys import Keys
from runtime.settings import Settings
from runtime.store import Store
from runtime.webtasks import Webtasks
from sandbox.pool import WorkerPool


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    keys: Keys
    store: Store
    pool: WorkerPool
    bus: Bus
    webtasks: Webtasks


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc
