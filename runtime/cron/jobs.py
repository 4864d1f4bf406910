"""Cron jobs as the API sees them: check PUT bodies, keep next runs, shape jobs and runs as the
JSON of the webtask cron API (sandboxjs ``CronJob``, wt-cli ``printCronJob``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from runtime import tokens
from runtime.cron.records import SETTABLE_STATES, CronJob, CronRun, CronState
from runtime.cron.schedule import InvalidSchedule, Schedule
from runtime.errors import BadRequest, NotFound
from runtime.keys import Keys
from runtime.store import Store


def iso(instant: float) -> str:
    """``2024-05-01T10:00:00.000Z``, the form JavaScript's ``toISOString`` gives."""
    moment = datetime.fromtimestamp(instant, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def next_run(job: CronJob, now: float) -> float | None:
    """When ``job`` fires next after ``now``; None when its schedule never fires again."""
    try:
        return Schedule.parse(job.schedule, job.tz).next_after(now)
    except InvalidSchedule:
        return None


def describe_run(run: CronRun) -> dict[str, Any]:
    return {
        "scheduled_at": iso(run.scheduled_at),
        "started_at": iso(run.started_at),
        "completed_at": iso(run.completed_at),
        "type": run.type,
        "statusCode": run.status_code,
        "body": run.body,
        "headers": dict(run.headers),
    }


def describe(job: CronJob, now: float) -> dict[str, Any]:
    """The job record: what the API answers and what a run POSTs to the webtask."""
    upcoming = job.next_run_at
    if job.state == "inactive":
        # When it would fire if it were made active now.
        upcoming = next_run(job, now) or upcoming
    body: dict[str, Any] = {
        "container": job.container,
        "name": job.name,
        "state": job.state,
        "schedule": job.schedule,
        "tz": job.tz,
        "token": job.token,
        "meta": dict(job.meta),
        "created_at": iso(job.created_at),
        "next_available_at": iso(upcoming),
        "run_count": job.run_count,
        "error_count": job.error_count,
        "results": [] if job.last_run is None else [describe_run(job.last_run)],
    }
    if job.expires_at is not None:
        body["expires_at"] = iso(job.expires_at)
    return body


def _state(body: Mapping[str, Any], default: CronState | None) -> CronState:
    state = body.get("state", default)
    for allowed in SETTABLE_STATES:
        if state == allowed:
            return allowed
    raise BadRequest(f"The state must be 'active' or 'inactive', not {state!r}.")


def _meta(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise BadRequest(f"Cron job meta must be an object of strings, not {value!r}.")
    return dict(value)


class CronJobs:
    """The cron API's operations on the store. ``clock`` gives Unix seconds."""

    def __init__(self, store: Store, keys: Keys, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.keys = keys
        self.clock = clock

    async def put(self, container: str, name: str, body: Mapping[str, Any]) -> CronJob:
        """Create or replace the job of webtask ``container/name`` (§1.9 PUT)."""
        try:
            schedule = Schedule.parse(body.get("schedule"), body.get("tz"))
        except InvalidSchedule as exc:
            raise BadRequest(str(exc)) from exc
        state = _state(body, "active")
        meta = _meta(body.get("meta"))
        now = self.clock()
        token = await self._token(container, name, body.get("token"), now)
        exp = tokens.decode_unverified(token).get("exp")
        job = CronJob(
            container=container,
            name=name,
            schedule=schedule.expression,
            tz=schedule.tz,
            state=state,
            token=token,
            meta=meta,
            created_at=now,
            updated_at=now,
            next_run_at=schedule.next_after(now),
            expires_at=float(exp) if isinstance(exp, int | float) else None,
        )
        stored = await self.store.put_cron_job(job)
        if stored is None:
            raise _no_webtask(container, name)
        return stored

    async def _token(self, container: str, name: str, token: object, now: float) -> str:
        """The token runs are sent with: the one given, checked, or else the webtask's own."""
        if token is None:
            record = await self.store.get_webtask(container, name)
            if record is None:
                raise _no_webtask(container, name)
            return record.token
        if not isinstance(token, str):
            raise BadRequest(f"The job token must be a string, not {type(token).__name__}.")
        try:
            claims = tokens.verify(token, self.keys, check_window=False)
        except tokens.TokenError as exc:
            raise BadRequest(f"The job token is not a token of this server: {exc}") from exc
        ten, jtn = claims.get("ten"), claims.get("jtn")
        if (ten, jtn) != (container, name):
            raise BadRequest(
                f"The job token is for webtask {ten}/{jtn}, not {container}/{name}: a cron job "
                "runs the webtask of its own name."
            )
        exp = claims.get("exp")
        if isinstance(exp, int | float) and exp <= now:
            raise BadRequest("The job token has expired.")
        if await self.store.revoked(token_chain(claims)):
            raise BadRequest("The job token has been revoked.")
        return token

    async def get(self, container: str, name: str) -> CronJob:
        job = await self.store.get_cron_job(container, name)
        if job is None:
            raise _no_job(container, name)
        return job

    async def set_state(self, container: str, name: str, body: Mapping[str, Any]) -> CronJob:
        """``PUT …/state``. Activating starts from now: runs missed while inactive never fire."""
        state = _state(body, None)
        job = await self.get(container, name)
        now = self.clock()
        upcoming = job.next_run_at
        if state == "active" and job.state != "active":
            upcoming = next_run(job, now) or upcoming
        updated = await self.store.set_cron_state(container, name, state, upcoming, now)
        if updated is None:
            raise _no_job(container, name)
        return updated

    async def delete(self, container: str, name: str) -> None:
        if not await self.store.delete_cron_job(container, name):
            raise _no_job(container, name)

    async def history(self, container: str, name: str, offset: int, limit: int) -> list[CronRun]:
        runs = await self.store.cron_history(container, name, offset, limit)
        if runs is None:
            raise _no_job(container, name)
        return runs


def token_chain(claims: Mapping[str, Any]) -> list[str]:
    chain = [str(j) for j in claims.get("ca", []) if isinstance(j, str)]
    if isinstance(claims.get("jti"), str):
        chain.append(claims["jti"])
    return chain


def _no_job(container: str, name: str) -> NotFound:
    return NotFound(f"No such cron job: {container}/{name}.")


def _no_webtask(container: str, name: str) -> NotFound:
    return NotFound(
        f"No such webtask: {container}/{name}. A cron job runs the webtask of its own name: "
        "create the webtask first."
    )
