"""Cron schedules: parsing, time zones, and the two DST changes of a year."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from runtime.cron.schedule import InvalidSchedule, Schedule


def at(text: str, tz: str = "UTC") -> float:
    """Unix seconds of a wall time ``text`` read in ``tz`` (offsets in ``text`` win)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))
    return moment.timestamp()


def utc(instant: float) -> str:
    return datetime.fromtimestamp(instant, UTC).strftime("%Y-%m-%d %H:%M")


def runs(schedule: Schedule, start: float, count: int) -> list[str]:
    found: list[str] = []
    for _ in range(count):
        start = schedule.next_after(start)
        found.append(utc(start))
    return found


def test_every_minute_in_utc_by_default() -> None:
    schedule = Schedule.parse("*/1 * * * *")
    assert schedule.tz == "UTC"
    assert runs(schedule, at("2024-05-01T10:00:30"), 3) == [
        "2024-05-01 10:01",
        "2024-05-01 10:02",
        "2024-05-01 10:03",
    ]


def test_the_next_run_is_strictly_after_the_instant() -> None:
    schedule = Schedule.parse("0 * * * *")
    assert utc(schedule.next_after(at("2024-05-01T10:00:00"))) == "2024-05-01 11:00"


def test_fields_are_read_in_the_time_zone() -> None:
    paris = Schedule.parse("0 9 * * 1-5", "Europe/Paris")
    # 9:00 in Paris is 08:00 UTC in winter (CET) and 07:00 UTC in summer (CEST).
    assert runs(paris, at("2024-01-05T12:00:00Z"), 2) == ["2024-01-08 08:00", "2024-01-09 08:00"]
    assert runs(paris, at("2024-07-05T12:00:00Z"), 2) == ["2024-07-08 07:00", "2024-07-09 07:00"]


def test_whitespace_is_normalised() -> None:
    assert Schedule.parse("  */5   *  * * *  ").expression == "*/5 * * * *"


def test_a_fixed_time_skipped_by_spring_forward_fires_after_the_gap() -> None:
    # Europe/Berlin, 31 March 2024: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
    daily = Schedule.parse("30 2 * * *", "Europe/Berlin")
    assert runs(daily, at("2024-03-30T12:00:00", "Europe/Berlin"), 3) == [
        "2024-03-31 01:30",  # 03:30 CEST: shifted by the one-hour gap, not skipped
        "2024-04-01 00:30",  # 02:30 CEST
        "2024-04-02 00:30",
    ]


def test_a_wildcard_schedule_runs_on_through_spring_forward() -> None:
    every_half_hour = Schedule.parse("*/30 * * * *", "Europe/Berlin")
    assert runs(every_half_hour, at("2024-03-31T01:00:00", "Europe/Berlin"), 4) == [
        "2024-03-31 00:30",  # 01:30 CET
        "2024-03-31 01:00",  # 03:00 CEST, right after the gap: once, not once per gap slot
        "2024-03-31 01:30",  # 03:30 CEST
        "2024-03-31 02:00",
    ]


def test_a_fixed_time_repeated_by_fall_back_fires_once() -> None:
    # Europe/Berlin, 27 October 2024: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
    daily = Schedule.parse("30 2 * * *", "Europe/Berlin")
    assert runs(daily, at("2024-10-26T12:00:00", "Europe/Berlin"), 2) == [
        "2024-10-27 00:30",  # 02:30 CEST, the first 02:30
        "2024-10-28 01:30",  # 02:30 CET the next day: the second 02:30 was not a run
    ]


def test_a_wildcard_schedule_fires_through_both_passes_of_the_repeated_hour() -> None:
    quarterly = Schedule.parse("*/15 * * * *", "Europe/Berlin")
    assert runs(quarterly, at("2024-10-27T01:50:00", "Europe/Berlin"), 9) == [
        "2024-10-27 00:00",  # 02:00 CEST
        "2024-10-27 00:15",
        "2024-10-27 00:30",
        "2024-10-27 00:45",
        "2024-10-27 01:00",  # 02:00 CET: the hour again, every 15 real minutes
        "2024-10-27 01:15",
        "2024-10-27 01:30",
        "2024-10-27 01:45",
        "2024-10-27 02:00",  # 03:00 CET
    ]


def test_fall_back_from_inside_the_second_pass() -> None:
    quarterly = Schedule.parse("*/15 * * * *", "Europe/Berlin")
    # 02:20 CET (fold 1) is 01:20 UTC: the next run is 02:30 CET, not 02:30 CEST (in the past).
    assert utc(quarterly.next_after(at("2024-10-27T01:20:00Z"))) == "2024-10-27 01:30"


def test_new_york_spring_forward() -> None:
    # 10 March 2024: 02:00 EST jumps to 03:00 EDT.
    daily = Schedule.parse("30 2 * * *", "America/New_York")
    assert runs(daily, at("2024-03-09T12:00:00", "America/New_York"), 2) == [
        "2024-03-10 07:30",  # 03:30 EDT
        "2024-03-11 06:30",  # 02:30 EDT
    ]


def test_a_rare_date_is_found() -> None:
    leap = Schedule.parse("0 0 29 2 *")
    assert utc(leap.next_after(at("2025-03-01T00:00:00"))) == "2028-02-29 00:00"


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "The schedule '* * * *' must have 5 fields: MINUTE HOUR DAY MONTH WEEKDAY."),
        (
            "0 * * * * *",
            "The schedule '0 * * * * *' must have 5 fields: MINUTE HOUR DAY MONTH WEEKDAY.",
        ),
        ("@hourly", "The schedule '@hourly' must have 5 fields: MINUTE HOUR DAY MONTH WEEKDAY."),
        ("61 * * * *", "The schedule '61 * * * *' is not a valid cron expression."),
        ("* 24 * * *", "The schedule '* 24 * * *' is not a valid cron expression."),
        ("a b c d e", "The schedule 'a b c d e' is not a valid cron expression."),
        ("0 0 30 2 *", "The schedule '0 0 30 2 *' never fires."),
        (5, "The schedule must be a string of at most 200 characters, not 5."),
        (None, "The schedule must be a string of at most 200 characters, not None."),
    ],
)
def test_invalid_schedules_are_refused(expression: object, message: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        Schedule.parse(expression)
    assert str(caught.value) == message


@pytest.mark.parametrize("tz", ["Mars/Olympus", "Europe", "../../etc/passwd", "/etc/localtime"])
def test_unknown_time_zones_are_refused(tz: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        Schedule.parse("* * * * *", tz)
    assert str(caught.value) == (
        f"The time zone {tz!r} is not an IANA time zone name such as 'Europe/Paris'."
    )


def test_a_time_zone_must_be_a_string() -> None:
    with pytest.raises(InvalidSchedule, match=r"IANA name such as 'Europe/Paris', not 1\.$"):
        Schedule.parse("* * * * *", 1)
