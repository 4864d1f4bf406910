"""What the store keeps for cron: jobs, the lease of a run in flight, and finished runs.

Times are Unix seconds (floats); the API turns them into ISO strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

CronState = Literal["active", "inactive", "invalid", "expired"]
RunType = Literal["success", "error"]
SETTABLE_STATES: tuple[CronState, ...] = ("active", "inactive")
HISTORY_KEPT = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class CronRun:
    """One finished run: when it was due, when it ran, and what the webtask answered."""

    scheduled_at: float
    started_at: float
    completed_at: float
    type: RunType
    status_code: int | None
    body: str
    headers: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The run as stored in a job's ``last_run`` column (both backends)."""
        return {
            "scheduled_at": self.scheduled_at,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "type": self.type,
            "status_code": self.status_code,
            "body": self.body,
            "headers": dict(self.headers),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> CronRun:
        return cls(
            scheduled_at=value["scheduled_at"],
            started_at=value["started_at"],
            completed_at=value["completed_at"],
            type=value["type"],
            status_code=value["status_code"],
            body=value["body"],
            headers=value["headers"],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Lease:
    """A node's claim on one run: it fires the run due at ``scheduled_at``. Another node may
    take the run over (and fire it again) once ``until`` has passed."""

    node: str
    until: float
    scheduled_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CronJob:
    """A schedule attached to the named webtask ``container/name``.

    ``next_run_at`` is when the next run is due; ``expires_at`` is the job token's ``exp``.
    ``last_run`` is the newest entry of the history, ``lease`` a run in flight.
    """

    container: str
    name: str
    schedule: str
    tz: str
    state: CronState
    token: str
    meta: Mapping[str, str]
    created_at: float
    updated_at: float
    next_run_at: float
    expires_at: float | None = None
    run_count: int = 0
    error_count: int = 0
    last_run: CronRun | None = None
    lease: Lease | None = None

    def __repr__(self) -> str:
        # The token is a credential: keep it out of logs and tracebacks.
        return f"CronJob(container={self.container!r}, name={self.name!r}, state={self.state!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class CronClaim:
    """A run one node took from the store: the job as it was then and the lease it holds.
    ``retry`` marks a run taken over from a node whose lease ran out."""

    job: CronJob
    lease: Lease
    retry: bool = False
