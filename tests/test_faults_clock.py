"""The clock: moving backwards, time zones changing between sessions, DST, the rollover
hour. No negative interval, no card lost from the queue, no crash."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import faults
from fsrs import Rating
from helpers import FakeClock, qa, write_deck
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pmcards import importer, scheduling
from pmcards import settings as settings_mod
from pmcards.clock import study_day
from pmcards.review import ReviewSession
from pmcards.store import Store

ZONES = [
    "UTC",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "America/Santiago",  # DST changes at midnight
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/St_Johns",
]
START = datetime(2026, 1, 1, tzinfo=UTC)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 2 * 366 * 24 * 60),
    st.sampled_from(ZONES),
    st.integers(0, 23),
)
def test_study_days_tile_time_in_every_zone(minutes: int, zone: str, hour: int) -> None:
    """Each instant is in exactly one study day; days follow each other without gap or
    overlap across DST changes (a day is 23, 23.5, 24, 24.5 or 25 hours)."""
    tz = ZoneInfo(zone)
    now = START + timedelta(minutes=minutes)
    day = study_day(now, hour, tz)
    assert day.start <= now < day.end
    assert timedelta(hours=22) <= day.end - day.start <= timedelta(hours=26)
    assert study_day(day.end, hour, tz).start == day.end
    assert study_day(day.start - timedelta(microseconds=1), hour, tz).end == day.start


def _collection(folder: Path) -> Store:
    store = Store(f"sqlite:///{folder / 'c.sqlite3'}")
    deck = write_deck(folder / "d.toml", "D", [qa(i) for i in range(6)])
    with store.write() as session:
        importer.apply(session, importer.parse_files([deck]), START)
        settings_mod.save(session, "fuzz", False)
        settings_mod.save(session, "learning_steps", ["1m", "10m"])
    return store


steps = st.lists(
    st.tuples(
        # Mostly forward, sometimes far backwards (a corrected clock), sometimes days ahead.
        st.one_of(
            st.integers(0, 30 * 60),
            st.integers(-3 * 24 * 3600, 0),
            st.integers(-20 * 60, 0),  # back within the learn-ahead window: shown again
            st.integers(0, 40 * 24 * 3600),
        ),
        st.sampled_from(list(Rating)),
        st.sampled_from(ZONES),
        st.booleans(),  # start a new session (a new day, another zone) before this answer
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_clock_jumps_and_zone_changes_never_break_the_schedule(
    moves: list[tuple[int, Rating, str, bool]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = _collection(folder)
        clock = FakeClock(START + timedelta(hours=12))
        session = ReviewSession(store, clock=clock, tz=ZoneInfo("UTC"))
        try:
            for seconds, rating, zone, restart in moves:
                clock.advance(seconds=seconds)
                if restart:
                    session = ReviewSession(store, clock=clock, tz=ZoneInfo(zone))
                shown = session.next_card()
                if shown is None:
                    continue
                for outcome in shown.outcomes.values():
                    assert outcome.interval > timedelta(0)  # every button: forward in time
                session.answer(shown.card_id, rating, shown_reps=shown.reps)
            # Far in the future, every card that was studied is due again: none is lost.
            clock.advance(days=40000)
            late = ReviewSession(store, clock=clock, tz=ZoneInfo("UTC"))
            due = late.counts()
            assert due.new + due.learning + due.review == 6
        finally:
            store.close()
        state = faults.verify(folder / "c.sqlite3")  # reviewed_at never goes backwards
        assert state.cards == 6


def test_answer_with_the_clock_before_the_last_review(tmp_path: Path) -> None:
    """py-fsrs would see a negative elapsed time; the answer counts at the last review."""
    store = _collection(tmp_path)
    clock = FakeClock(START + timedelta(days=2))
    session = ReviewSession(store, clock=clock)
    shown = session.next_card()
    assert shown is not None
    first = session.answer(shown.card_id, Rating.Easy)
    clock.advance(days=-1)  # the clock is corrected backwards
    again = ReviewSession(store, clock=clock)
    with store.read() as db:
        from pmcards import queries

        card = queries.card(db, shown.card_id)
        assert card is not None
        memory = card.memory
    outcomes = scheduling.outcomes(again.settings, memory, clock.now, shown.card_id)
    assert all(o.memory.due > memory.last_review for o in outcomes.values())  # type: ignore[operator]
    assert all(o.memory.last_review == memory.last_review for o in outcomes.values())
    second = again.answer(shown.card_id, Rating.Good)
    assert second.due > first.due - timedelta(days=1)
    store.close()
    faults.verify(tmp_path / "c.sqlite3")


def test_rollover_hour_change_and_dst_night_session(tmp_path: Path) -> None:
    """A session through the night of a DST change, with the rollover inside the skipped
    hour, then the rollover hour changed: no crash, daily limits per study day."""
    store = _collection(tmp_path)
    with store.write() as conn:
        settings_mod.save(conn, "rollover_hour", 2)
        settings_mod.save(conn, "new_per_day", 2)
    tz = ZoneInfo("America/New_York")
    # 2026-03-08: 02:00 does not exist in New York. Start at 01:30 EST.
    clock = FakeClock(datetime(2026, 3, 8, 1, 30, tzinfo=tz).astimezone(UTC))
    session = ReviewSession(store, clock=clock, tz=tz)
    seen = 0
    for _ in range(12):
        shown = session.next_card()
        if shown is None:
            clock.advance(minutes=20)
            continue
        session.answer(shown.card_id, Rating.Good)
        seen += 1
        clock.advance(minutes=10)
    # 2 new cards on the day before the change, 2 after 03:00 EDT (the new study day).
    assert session.day.date.isoformat() == "2026-03-08"
    with store.write() as db:
        settings_mod.save(db, "rollover_hour", 0)
    later = ReviewSession(store, clock=clock, tz=tz)
    assert later.day.start <= clock.now < later.day.end
    store.close()
    state = faults.verify(tmp_path / "c.sqlite3")
    assert seen >= 4 and state.logs == seen
