"""Time: UTC-aware inside, the user's local day (with its rollover hour) only at the edge."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

ENV_NOW = "PMCARDS_NOW"


def now_utc() -> datetime:
    """The current time, UTC-aware.

    `PMCARDS_NOW` (an ISO 8601 time with an offset) pins it: tests use it, and it lets a user
    reproduce what a session would show on another day.
    """
    pinned = os.environ.get(ENV_NOW)
    if pinned:
        return parse_now(pinned)
    return datetime.now(UTC)


# The years `PMCARDS_NOW` may pin: every study day, forecast and interval around it must
# stay representable (datetime stops at year 9999).
NOW_YEARS = (1970, 2999)


def parse_now(text: str) -> datetime:
    """`PMCARDS_NOW` as a UTC time, or a clear error (`PmcardsError`) saying what it takes."""
    from pmcards.errors import PmcardsError

    example = "e.g. 2026-12-14T10:00:00+01:00"
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise PmcardsError(
            f"{ENV_NOW}={text[:40]!r} is not a time: give an ISO 8601 time with a UTC "
            f"offset, {example}"
        ) from None
    if value.tzinfo is None:
        raise PmcardsError(f"{ENV_NOW}={text[:40]!r} has no UTC offset: add one, {example}")
    low, high = NOW_YEARS
    if not low <= value.year <= high:
        raise PmcardsError(f"{ENV_NOW}: the year must be from {low} to {high}, got {value.year}")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Day:
    """One study day: the local date and its UTC bounds [start, end)."""

    date: date
    start: datetime
    end: datetime


def study_day(now: datetime, rollover_hour: int, tz: tzinfo | None = None) -> Day:
    """The study day that `now` falls in.

    A study day runs from `rollover_hour` local time to the same hour the next calendar day,
    as in Anki: a review at 01:30 with the default rollover of 4 belongs to the day before.
    Days are built from local wall-clock times, so a day across a DST change is 23 or 25 hours.
    `tz` defaults to the system's zone (TZ), resolved per instant so DST is honoured.
    """
    day = study_date(now, rollover_hour, tz)
    return Day(
        date=day,
        start=_local_at(day, rollover_hour, tz),
        end=_local_at(day + timedelta(days=1), rollover_hour, tz),
    )


def study_date(now: datetime, rollover_hour: int, tz: tzinfo | None = None) -> date:
    """The local date of the study day that `now` falls in (`study_day` without its bounds,
    which cost most of its time)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(tz) if tz is not None else now.astimezone()
    return (local.replace(tzinfo=None) - timedelta(hours=rollover_hour)).date()


def day_ends(day: Day, count: int, rollover_hour: int, tz: tzinfo | None = None) -> list[datetime]:
    """The ends of the `count` study days after `day`: each computed from local time, so a
    day across a DST change keeps its real length (23 or 25 hours)."""
    return [
        study_day(day.end + timedelta(days=i, hours=12), rollover_hour, tz).end
        for i in range(count)
    ]


def day_start(day: date, rollover_hour: int, tz: tzinfo | None = None) -> datetime:
    """The UTC instant at which the study day of local date `day` starts."""
    return _local_at(day, rollover_hour, tz)


def _local_at(day: date, hour: int, tz: tzinfo | None) -> datetime:
    naive = datetime(day.year, day.month, day.day, hour)
    # A naive datetime's astimezone() reads it as system local time, with that moment's offset.
    local = naive.replace(tzinfo=tz) if tz is not None else naive.astimezone()
    return local.astimezone(UTC)
