from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from pmcards.clock import now_utc, study_day

UTC = UTC
NY = ZoneInfo("America/New_York")


def test_rollover_at_4am_local() -> None:
    # 03:59 local belongs to the previous study day; 04:00 starts a new one.
    before = datetime(2026, 6, 10, 3, 59, tzinfo=NY)
    after = datetime(2026, 6, 10, 4, 0, tzinfo=NY)
    assert study_day(before, 4, NY).date == date(2026, 6, 9)
    day = study_day(after, 4, NY)
    assert day.date == date(2026, 6, 10)
    assert day.start == datetime(2026, 6, 10, 8, 0, tzinfo=UTC)  # 04:00 EDT
    assert day.end == datetime(2026, 6, 11, 8, 0, tzinfo=UTC)


def test_rollover_hour_zero_is_midnight() -> None:
    day = study_day(datetime(2026, 6, 10, 0, 30, tzinfo=UTC), 0, UTC)
    assert (day.date, day.start) == (date(2026, 6, 10), datetime(2026, 6, 10, tzinfo=UTC))


def test_day_across_spring_forward_is_23_hours() -> None:
    # US DST starts 2026-03-08 at 02:00 local, inside the study day of the 7th.
    day = study_day(datetime(2026, 3, 8, 1, 30, tzinfo=NY), 4, NY)
    assert day.date == date(2026, 3, 7)
    assert day.start == datetime(2026, 3, 7, 9, 0, tzinfo=UTC)  # 04:00 EST on the 7th
    assert day.end == datetime(2026, 3, 8, 8, 0, tzinfo=UTC)  # 04:00 EDT on the 8th
    assert (day.end - day.start).total_seconds() == 23 * 3600


def test_day_across_fall_back_is_25_hours() -> None:
    # US DST ends 2026-11-01 at 02:00 local.
    day = study_day(datetime(2026, 11, 1, 3, 30, tzinfo=NY), 4, NY)
    assert day.date == date(2026, 10, 31)
    assert day.start == datetime(2026, 10, 31, 8, 0, tzinfo=UTC)  # 04:00 EDT
    assert day.end == datetime(2026, 11, 1, 9, 0, tzinfo=UTC)  # 04:00 EST
    assert (day.end - day.start).total_seconds() == 25 * 3600
    # The next day is back to 24 hours.
    after = study_day(datetime(2026, 11, 1, 12, 0, tzinfo=NY), 4, NY)
    assert (after.end - after.start).total_seconds() == 24 * 3600


def test_system_zone_follows_tz(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    day = study_day(datetime(2026, 3, 8, 6, 30, tzinfo=UTC), 4)  # 01:30 EST on the 8th
    assert day.start == datetime(2026, 3, 7, 9, 0, tzinfo=UTC)
    assert day.end == datetime(2026, 3, 8, 8, 0, tzinfo=UTC)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        study_day(datetime(2026, 1, 1), 4)


def test_pinned_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMCARDS_NOW", "2026-01-02T03:04:05+02:00")
    assert now_utc() == datetime(2026, 1, 2, 1, 4, 5, tzinfo=UTC)
