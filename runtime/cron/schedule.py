"""Cron schedules: a 5-field expression read in an IANA time zone, correct across DST changes.

Pure: no clock and no I/O; instants are Unix seconds. croniter walks wall-clock times; this
module maps each wall time to real instants with zoneinfo, following Vixie cron's rules:

- a wall time skipped by a spring-forward change fires once, shifted forward by the gap (a
  daily ``30 2 * * *`` in Europe/Berlin fires at 03:30 CEST on that day);
- a wall time repeated by a fall-back change fires once (its first occurrence) for a fixed-time
  schedule, and at both occurrences for a wildcard one (``*`` in the minute or hour field), so
  ``*/5 * * * *`` keeps firing every five real minutes through the repeated hour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

DEFAULT_TZ = "UTC"
MAX_EXPRESSION = 200
# Longer than any DST shift (2 h at most): wall times this far either side of an instant may
# map to real instants on its other side.
MARGIN = timedelta(hours=3)


class InvalidSchedule(ValueError):
    """A schedule or time zone that cannot be used (the caller's fault); the message quotes it."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """A parsed schedule. Build it with ``Schedule.parse``."""

    expression: str
    tz: str
    zone: ZoneInfo = field(repr=False, compare=False)

    @classmethod
    def parse(cls, expression: object, tz: object = None) -> Schedule:
        """Check a ``MIN HOUR DOM MON DOW`` expression and a time zone name (default UTC)."""
        if not isinstance(expression, str) or len(expression) > MAX_EXPRESSION:
            raise InvalidSchedule(
                f"The schedule must be a string of at most {MAX_EXPRESSION} characters, "
                f"not {expression!r}."
            )
        fields = expression.split()
        if len(fields) != 5:
            raise InvalidSchedule(
                f"The schedule {expression!r} must have 5 fields: MINUTE HOUR DAY MONTH WEEKDAY."
            )
        normal = " ".join(fields)
        if not croniter.is_valid(normal):
            raise InvalidSchedule(f"The schedule {expression!r} is not a valid cron expression.")
        schedule = cls(normal, _tz_name(tz), _zone(tz))
        try:
            croniter(normal, datetime(2000, 1, 1)).get_next(datetime)
        except (CroniterBadDateError, CroniterBadCronError) as exc:
            raise InvalidSchedule(f"The schedule {expression!r} never fires.") from exc
        return schedule

    @property
    def wildcard(self) -> bool:
        """Vixie cron's "wildcard job": ``*`` in the minute or hour field."""
        minute, hour = self.expression.split()[:2]
        return "*" in minute or "*" in hour

    def next_after(self, instant: float) -> float:
        """The first instant strictly after ``instant`` at which the schedule fires."""
        after = datetime.fromtimestamp(instant, UTC)
        start = _wall(after, self.zone)
        if not _steady(after, self.zone):
            start -= MARGIN
        walls = croniter(self.expression, start)
        best: datetime | None = None
        horizon: datetime | None = None
        while True:
            try:
                wall = walls.get_next(datetime)
            except CroniterBadDateError as exc:
                if best is not None:
                    break
                raise InvalidSchedule(
                    f"The schedule {self.expression!r} never fires again."
                ) from exc
            if horizon is not None and wall > horizon:
                break
            for moment in self._moments(wall):
                if moment > after and (best is None or moment < best):
                    best = moment
            if best is not None and horizon is None:
                if _steady(best, self.zone):
                    break
                horizon = _wall(best, self.zone) + MARGIN
        if best is None:  # the loop only ends once it holds a candidate
            raise InvalidSchedule(f"The schedule {self.expression!r} never fires again.")
        return best.timestamp()

    def _moments(self, wall: datetime) -> tuple[datetime, ...]:
        """The real instants (UTC) at which a wall-clock time fires."""
        early = wall.replace(tzinfo=self.zone, fold=0)
        late = wall.replace(tzinfo=self.zone, fold=1)
        if early.utcoffset() == late.utcoffset() or _wall(early, self.zone) != wall:
            # An ordinary time, or one in a gap: fold 0 reads it with the offset from before
            # the change, which lands after the gap.
            return (early.astimezone(UTC),)
        if self.wildcard:
            return (early.astimezone(UTC), late.astimezone(UTC))
        return (early.astimezone(UTC),)


def _tz_name(tz: object) -> str:
    if tz is None or tz == "":
        return DEFAULT_TZ
    if not isinstance(tz, str):
        raise InvalidSchedule(
            f"The time zone must be an IANA name such as 'Europe/Paris', not {tz!r}."
        )
    return tz


def _zone(tz: object) -> ZoneInfo:
    name = _tz_name(tz)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise InvalidSchedule(
            f"The time zone {name!r} is not an IANA time zone name such as 'Europe/Paris'."
        ) from exc


def _wall(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None, fold=0)


def _steady(moment: datetime, zone: ZoneInfo) -> bool:
    """No UTC offset change within ``MARGIN`` of ``moment``."""
    return (moment - MARGIN).astimezone(zone).utcoffset() == (moment + MARGIN).astimezone(
        zone
    ).utcoffset()
