"""Interview-date mode: the caps on FSRS's outcomes (plan.py), the plan's life cycle in the
collection (interview.py), the session's limits, the plan command."""

import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fsrs import Rating
from helpers import FakeClock, card_of, qa, set_card, write_deck
from hypothesis import given
from hypothesis import settings as settings_h
from hypothesis import strategies as st

from pmcards import cardstate, importer, interview, plan, scheduling, settings
from pmcards.cardstate import REVIEW
from pmcards.cli import cli
from pmcards.review import ReviewSession
from pmcards.settings import Settings
from pmcards.store import Store

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
PLAIN = Settings(fuzz=False)
# A review card: stability 12 days, last seen 12 days ago (recall 0.9 now), 4 answers.
MEMORY = cardstate.Memory(REVIEW, None, 12.0, 5.0, NOW, NOW - timedelta(days=12), reps=4)


# The interview: 10:00 UTC on 16 March, two weeks after NOW.
AT = datetime(2026, 3, 16, 10, 0, tzinfo=UTC)


def horizon(
    interview: date | datetime = AT,
    target: float = 0.95,
    budget: int = 0,
    load: dict[date, int] | None = None,
) -> plan.Horizon:
    if isinstance(interview, datetime):
        p = plan.Plan(interview=interview.date(), target=target, at=interview)
    else:
        p = plan.Plan(interview=interview, target=target)
    return plan.Horizon.of(p, PLAIN, UTC, budget, load)


def days(outcomes: dict[Rating, scheduling.Outcome]) -> dict[str, object]:
    return {r.name: o.interval for r, o in outcomes.items()}


def test_interview_moment_parsed_in_local_time() -> None:
    assert plan.parse_moment("2026-12-14T10:00", UTC) == (
        date(2026, 12, 14),
        datetime(2026, 12, 14, 10, 0, tzinfo=UTC),
    )
    assert plan.parse_moment("2026-12-14 10:30", UTC)[1] == datetime(
        2026, 12, 14, 10, 30, tzinfo=UTC
    )
    # A date alone: 09:00 local. In Paris (UTC+1 in December) that is 08:00 UTC.
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    assert plan.parse_moment("2026-12-14", paris)[1] == datetime(2026, 12, 14, 8, 0, tzinfo=UTC)
    for bad in ("yesterday", "2026-12-14T10:00:30", "2026-12-14T10:00+01:00", "14/12/2026"):
        with pytest.raises(ValueError, match="is not a date and time: give YYYY-MM-DD"):
            plan.parse_moment(bad, UTC)
    # A stored plan of an older version (a date, no time) means 09:00 local as well.
    old = plan.Plan.from_json({"interview": "2026-03-16", "target": 0.95})
    assert old.starts_at(PLAIN, UTC) == datetime(2026, 3, 16, 9, 0, tzinfo=UTC)
    assert plan.Plan.from_json(plan.Plan(date(2026, 3, 16), at=AT, per_day=40).to_json()) == (
        plan.Plan(date(2026, 3, 16), at=AT, per_day=40)
    )


def test_recall_is_predicted_for_the_interview_moment() -> None:
    """A card answered at 19:00 the evening before a 10:00 interview: one study day later
    (not the 0.6 day FSRS would floor to 0, recall exactly 1.0)."""
    evening = datetime(2026, 3, 15, 19, 0, tzinfo=UTC)
    assert plan.recall_at(PLAIN, 5.0, evening, AT) == pytest.approx(0.9728, abs=1e-4)
    assert plan.recall_at(PLAIN, 5.0, evening, AT) == plan.recall_at(
        PLAIN, 5.0, evening, evening + timedelta(days=1)
    )


def test_next_review_only_where_recall_at_the_interview_would_fall_short() -> None:
    raw = scheduling.outcomes(PLAIN, MEMORY, NOW, 7)
    capped = plan.capped_outcomes(PLAIN, horizon(), MEMORY, NOW, 7)
    # Plain FSRS: Hard 27 d, Good 38 d, Easy 60 d, all after the interview on the 16th.
    assert days(raw) == {
        "Again": timedelta(minutes=10),
        "Hard": timedelta(days=27),
        "Good": timedelta(days=38),
        "Easy": timedelta(days=60),
    }
    # Easy's stability (60.0 d) gives 96.9% at the interview, 96.2% with its stability one
    # spread (0.5 / sqrt(5 answers)) lower: left alone. Hard's (27.4 d) gives 92.8%
    # pessimistically: a Good answer from day 4 on lifts it over 95%; the card goes to a day
    # of the window, which ends three evenings before the interview's day, leaving the last
    # two for the cards still weak (4 to 11 days; no budget, so its own draw: 8), Good the
    # next one.
    assert plan.robust_recall(PLAIN, horizon(), raw[Rating.Easy].memory) == pytest.approx(
        0.9620, abs=1e-4
    )
    assert plan.robust_recall(PLAIN, horizon(), raw[Rating.Hard].memory) == pytest.approx(
        0.9278, abs=1e-4
    )
    assert capped[Rating.Hard].memory.due == datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert capped[Rating.Good].memory.due == datetime(2026, 3, 11, 12, 0, tzinfo=UTC)
    assert capped[Rating.Easy] == raw[Rating.Easy]
    assert capped[Rating.Again] == raw[Rating.Again]
    # Only the due date moves: the memory is FSRS's.
    assert capped[Rating.Hard].memory.stability == raw[Rating.Hard].memory.stability
    # A lower target leaves FSRS's intervals alone.
    assert plan.capped_outcomes(PLAIN, horizon(target=0.9), MEMORY, NOW, 7) == raw


def test_next_review_keeps_the_buttons_in_order_and_before_the_interview() -> None:
    capped = plan.capped_outcomes(PLAIN, horizon(target=0.97), MEMORY, NOW, 7)
    assert [capped[r].interval.days for r in scheduling.RATINGS[1:]] == [9, 10, 11]
    # Squeezed by a 99% target: still within the window, which ends three evenings before
    # the interview's day (the 13th, day 11): the last two evenings stay for the cards
    # still weak, and a missed last evening loses none of these.
    squeezed = plan.capped_outcomes(PLAIN, horizon(target=0.99), MEMORY, NOW, 7)
    assert [squeezed[r].interval.days for r in scheduling.RATINGS[1:]] == [9, 10, 11]
    # Keeping the buttons in order never pushes one onto a full day: with the 12th (day 10)
    # at the budget, Good and Easy share Hard's day instead of taking it.
    full = horizon(target=0.97, budget=10, load={date(2026, 3, 12): 10})
    pushed = plan.capped_outcomes(PLAIN, full, MEMORY, NOW, 7)
    assert [pushed[r].interval.days for r in scheduling.RATINGS[1:]] == [9, 9, 9]
    for outcome in squeezed.values():
        assert outcome.memory.due < AT


def test_next_review_goes_to_a_day_under_the_budget() -> None:
    """Hard's window is days 4 to 11 (the 6th to the 13th, three evenings before the
    interview's day). With every day at the budget of 10 but the 9th, the card goes to the
    9th; with none under it, the day with the fewest answers booked, never one of the last
    two evenings; days before the window reach the aim but for 2 points (AIM_SLACK) from
    day 1 on, and come after the window."""
    hard = scheduling.outcomes(PLAIN, MEMORY, NOW, 7)[Rating.Hard].memory
    full = {date(2026, 3, 2) + timedelta(days=d): 10 for d in range(14)}
    assert plan.next_review(PLAIN, horizon(budget=10, load=dict(full)), hard, NOW, 27, 7) == 8
    one_free = {**full, date(2026, 3, 9): 3}
    assert plan.next_review(PLAIN, horizon(budget=10, load=one_free), hard, NOW, 27, 7) == 7
    quiet = {**full, date(2026, 3, 12): 4}
    assert plan.next_review(PLAIN, horizon(budget=3, load=quiet), hard, NOW, 27, 7) == 10
    # Room on one of the last two evenings only: still neither, kept free for the cards
    # still weak or forgotten the evening before (and a missed last evening costs little).
    for free in (date(2026, 3, 15), date(2026, 3, 14)):
        last_free = {**full, free: 0}
        assert plan.next_review(PLAIN, horizon(budget=10, load=last_free), hard, NOW, 27, 7) == 8
    # Only a day before the aim's window has room: the 3rd (day 1) reaches 93.6% (>= 93%).
    early = {**full, date(2026, 3, 3): 0}
    assert plan.next_review(PLAIN, horizon(budget=10, load=early), hard, NOW, 27, 7) == 1
    # Booking counts an answer on its study day, before the interview only.
    h = horizon(budget=10, load={})
    h.book(datetime(2026, 3, 9, 3, 0, tzinfo=UTC))  # before the 04:00 rollover: the 8th
    h.book(AT + timedelta(hours=1))
    assert h.load == {date(2026, 3, 8): 1}


def test_fsrs_due_dates_before_the_interview_stand_unless_over_the_budget() -> None:
    """A card FSRS brings back on day 8 keeps that day; if that day is full, the latest day
    before it with room (never later)."""
    good = scheduling.outcomes(PLAIN, MEMORY, NOW, 7)[Rating.Good].memory
    full = {date(2026, 3, 10): 10, date(2026, 3, 9): 10}
    assert plan.next_review(PLAIN, horizon(budget=10, load={}), good, NOW, 8, 7) == 8
    assert plan.next_review(PLAIN, horizon(budget=10, load=full), good, NOW, 8, 7) == 6
    # Due on the last evening (the 15th) or the one before (the 14th): the third evening
    # before the interview's day instead (the 13th, day 11), whose lapse still has two
    # evenings to recover, so missing the last evening costs the card nothing.
    assert plan.next_review(PLAIN, horizon(budget=10, load={}), good, NOW, 13, 7) == 11
    assert plan.next_review(PLAIN, horizon(budget=10, load={}), good, NOW, 12, 7) == 11
    # Unless the window of a short interval (3/4 of it to all of it) does not reach that
    # far back: due on the 15th from the 11th, days 3 to 4, only the last evening is avoided.
    assert plan.next_review(PLAIN, horizon(load={}), good, NOW + timedelta(days=9), 4, 7) == 3


def test_the_budget_is_a_cap() -> None:
    """With every day of the window (days 6 to 8) at the budget, the card goes to the latest
    earlier day with room, the 7th (day 5), not over the budget on its FSRS day."""
    good = scheduling.outcomes(PLAIN, MEMORY, NOW, 7)[Rating.Good].memory
    full = {date(2026, 3, 8): 10, date(2026, 3, 9): 10, date(2026, 3, 10): 10}
    assert plan.next_review(PLAIN, horizon(budget=10, load=full), good, NOW, 8, 7) == 5
    # Without a budget, FSRS's own day stands.
    assert plan.next_review(PLAIN, horizon(load=full), good, NOW, 8, 7) == 8


def test_no_cap_once_the_interview_day_has_come() -> None:
    h = horizon(date(2026, 3, 2))
    assert plan.capped_outcomes(PLAIN, h, MEMORY, NOW, 7) == scheduling.outcomes(
        PLAIN, MEMORY, NOW, 7
    )


def load(store: Store, tmp_path: Path, notes: list[dict[str, object]], name: str = "D") -> None:
    path = write_deck(tmp_path / f"{name}.toml", name, notes)
    with store.write() as session:
        importer.apply(session, importer.parse_files([path]), datetime(2026, 1, 1, tzinfo=UTC))


def make_review(store: Store, guid: str, due: datetime, memory: cardstate.Memory) -> int:
    values = cardstate.memory_values(memory)
    return set_card(store, guid, **{**values, "due": due})


def test_session_previews_and_answers_follow_the_plan(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    load(store, tmp_path, [qa(1)], "Prep")
    load(store, tmp_path, [qa(1, prefix="x")], "Other")
    in_plan = make_review(store, "n-001", NOW - timedelta(hours=1), MEMORY)
    outside = make_review(store, "x-001", NOW - timedelta(hours=1), MEMORY)
    with store.write() as session:
        interview.save(session, plan.Plan(interview=date(2026, 3, 16), decks=("Prep",)))
    review = ReviewSession(store, clock=clock, tz=UTC)
    shown = {}
    for _ in range(2):
        card = review.next_card()
        assert card is not None
        shown[card.card_id] = card
        review.answer(card.card_id, Rating.Hard)
    # The window's day depends on the card (the spread, no day booked yet): 6 days for
    # card 1. The interview (no time given) is at 09:00 on the 16th.
    assert review.plan is not None and review.plan.horizon.at == datetime(
        2026, 3, 16, 9, 0, tzinfo=UTC
    )
    assert shown[in_plan].interval(Rating.Hard) == timedelta(days=6)
    assert shown[outside].interval(Rating.Hard) == timedelta(days=27)
    assert card_of(store, "n-001").due == NOW + timedelta(days=6)
    assert card_of(store, "x-001").due == NOW + timedelta(days=27)
    assert (in_plan, outside) == (card_of(store, "n-001").id, card_of(store, "x-001").id)
    # Booked: the card due today, then its answer on its new day (the other deck is not
    # the plan's).
    assert review.plan.horizon.load == {date(2026, 3, 2): 1, date(2026, 3, 8): 1}


def test_plan_raises_the_new_card_limit_as_the_days_need(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    load(store, tmp_path, [qa(i) for i in range(1, 121)])
    assert ReviewSession(store, clock=clock, tz=UTC).counts().new == 20
    with store.write() as session:
        interview.save(session, plan.Plan(interview=date(2026, 3, 9)))
    # 7 days left, new cards over the first 4 of them (the other 3 to make them strong):
    # 120 / 4 = 30 a day.
    assert plan.intro_days(7) == 4
    assert ReviewSession(store, clock=clock, tz=UTC).counts().new == 30
    with store.write() as session:
        interview.save(session, plan.Plan(interview=date(2026, 3, 5)))
    # 3 days left, 2 to introduce in: 60 a day, held to max_new 50.
    assert ReviewSession(store, clock=clock, tz=UTC).counts().new == 50


def test_release_gives_back_fsrs_due_dates_after_the_day(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    load(store, tmp_path, [qa(1)])
    # Capped to 10 days before an interview on the 16th; FSRS alone would say 27.
    hard = scheduling.outcomes(PLAIN, MEMORY, NOW, 1)[Rating.Hard].memory
    card_id = make_review(store, "n-001", NOW + timedelta(days=10), hard)
    with store.write() as session:
        interview.save(session, plan.Plan(interview=date(2026, 3, 11)))
    clock.now = datetime(2026, 3, 11, 9, 0, tzinfo=UTC)  # the interview day
    with store.write() as conn:
        assert interview.release_if_passed(conn, clock.now, UTC) == 1
        assert interview.release_if_passed(conn, clock.now, UTC) is None  # once
    assert card_of(store, "n-001").due == NOW + timedelta(days=27)
    assert card_of(store, "n-001").id == card_id
    with store.read() as conn:
        stored = interview.load(conn)
        assert stored is not None and stored.released


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, list(args), env={"PMCARDS_NOW": NOW.isoformat()}, catch_exceptions=False
    )
    return result.exit_code, result.output


def test_plan_command_end_to_end(tmp_path: Path) -> None:
    code, out = run("plan")
    assert code == 1 and "no interview plan" in out
    code, out = run(
        "plan",
        "--interview",
        "2026-03-23 10:00",
        "--per-day",
        "80",
        "--deck",
        "BAD vs GOOD answers",
    )
    assert code == 0 and "Planned for the interview at 2026-03-23 10:00." in out
    assert "Days left:        21" in out and "Budget:           80 answers a day\n" in out
    assert "(5 simulated runs, a default rating mix (no review log yet))" in out
    assert "On track" in out
    code, out = run("plan", "--json")
    data = json.loads(out)
    assert data["at"] == "2026-03-23T10:00:00+00:00" and data["per_day"] == 80
    assert data["per_day_given"] is True and data["runs"] == 5
    assert data["days_left"] == 21 and len(data["forecast"]) == 21
    assert data["decks"] == ["BAD vs GOOD answers"]
    decks = importer.parse_files(importer.builtin_deck_paths())
    (contrasts,) = [d.notes for d in decks if d.name == "BAD vs GOOD answers"]
    assert {n.kind for n in contrasts} == {"contrast"}  # two cards a note
    assert data["cards"] == data["not_learned"] == 2 * len(contrasts) and data["met"] is True
    assert data["predicted_recall"] >= 0.95
    assert sum(d["new"] for d in data["forecast"]) == data["not_learned"]
    # Each day a range over the runs, its median between.
    for day in data["forecast"]:
        assert day["low"] <= day["answers"] <= day["high"] <= 80
    assert data["answers_before"] == {"low": 407, "high": 488}
    assert (data["suspended"], data["leeches"], data["warnings"]) == (0, 0, [])
    # The HTML report draws the forecast.
    code, _ = run("export", "report", "-o", str(tmp_path / "r.html"))
    html = (tmp_path / "r.html").read_text()
    assert 'id="plan"' in html and "answers</title>" in html
    code, out = run("plan", "--clear")
    assert code == 0 and "Cleared the plan" in out
    assert run("plan", "--json")[1].strip() == "null"


def test_plan_warns_when_the_target_cannot_be_met() -> None:
    code, out = run("plan", "--interview", "2026-03-04", "--max-new", "30")
    assert code == 0
    assert "Warning:" in out and "cannot be introduced before the interview" in out
    assert "--max-new" in out and "fewer decks" in out
    data = json.loads(run("plan", "--json")[1])
    assert data["met"] is False and data["unlearned_on_the_day"] > 0


def test_plan_warns_when_the_budget_is_too_small() -> None:
    code, out = run("plan", "--interview", "2026-03-23T10:00", "--per-day", "20")
    assert code == 0
    data = json.loads(run("plan", "--json")[1])
    assert data["met"] is False
    (warning,) = [w for w in data["warnings"] if w.startswith("The budget")]
    found = re.fullmatch(
        r"The budget of 20 answers a day is too small: the busiest day needs up to (\d+) and "
        r"the plan (\d+)-(\d+) answers in all\. What would fit: a budget of (\d+) "
        r"\(--per-day (\d+)\), an interview on \d{4}-\d\d-\d\d or later \(more days\), "
        r"or fewer decks \(--deck; 377 cards now\)\.",
        warning,
    )
    assert found is not None, warning
    assert found[1] == found[4] == found[5] and int(found[2]) <= int(found[3])
    if os.environ.get("PMCARDS_TEST_DB"):
        return  # the simulated figures follow card ids, which PostgreSQL numbers otherwise
    assert warning == (
        "The budget of 20 answers a day is too small: the busiest day needs up to 166 and "
        "the plan 2075-2208 answers in all. What would fit: a budget of 166 (--per-day 166), "
        "an interview on 2026-06-21 or later (more days), or fewer decks (--deck; 377 cards "
        "now)."
    )


def test_plan_warns_of_suspended_and_leech_cards(store: Store, tmp_path: Path) -> None:
    import sqlalchemy as sa

    from pmcards import schema

    load(store, tmp_path, [qa(i) for i in range(1, 5)])
    set_card(store, "n-001", suspended=True)
    with store.write() as conn:
        conn.execute(
            sa.update(schema.notes).where(schema.notes.c.guid == "n-002").values(tags=" leech t ")
        )
        interview.set_plan(conn, date(2026, 3, 16), NOW, tz=UTC)
    with store.read() as conn:
        stored = interview.load(conn)
        assert stored is not None
        st = interview.status(conn, stored, NOW, UTC)
    assert (st.cards, st.suspended, st.leeches) == (3, 1, 1)
    assert st.warnings()[0] == (
        "1 cards of the plan are suspended and 1 are leeches (tagged leech): suspended cards "
        "are not studied and are left out of the forecast, leeches fall short of the target "
        "most often. Rewrite or unsuspend them (pmcards unsuspend ID...), or leave them out "
        "of the plan."
    )


def log_answer(conn: Any, card_id: int, rating: int, source: str = "review", **before: Any) -> None:
    """A row of the review log at NOW: the card's memory before it (`before`, over a new
    card's), after it a review card of stability 1."""
    import sqlalchemy as sa

    from pmcards import schema

    values = {"state_before": 0, "due_before": NOW, "reps_before": 0, "lapses_before": 0}
    conn.execute(
        sa.insert(schema.review_log).values(
            card_id=card_id,
            rating=rating,
            reviewed_at=NOW,
            source=source,
            state_after=2,
            stability_after=1.0,
            difficulty_after=5.0,
            due_after=NOW,
            **{**values, **before},
        )
    )


def test_forecast_uses_the_rating_mix_of_the_review_log(store: Store, tmp_path: Path) -> None:
    """Before 50 answers, the default mix; then the learner's own: here every new card
    Again on its first answer, every recalled one Easy."""
    load(store, tmp_path, [qa(1)])
    with store.read() as conn:
        assert interview.rating_mix(conn) == plan.DEFAULT_MIX
    card_id = card_of(store, "n-001").id
    rows = [(1, 0)] * 30 + [(4, 2)] * 20 + [(1, 2)] * 5  # (rating, state before)
    with store.write() as conn:
        for rating, state in rows:
            log_answer(conn, card_id, rating, state_before=state)
        mix = interview.rating_mix(conn)
    assert mix == plan.Mix(first=(1.0, 0.0, 0.0, 0.0), recalled=(0.0, 0.0, 1.0), answers=50)
    # Every first answer Again: the same deck needs more answers than with the default mix.
    cards = [(i, cardstate.new_memory(NOW)) for i in range(1, 21)]
    p = plan.Plan(interview=date(2026, 3, 16), at=AT)
    default = plan.forecast(PLAIN, p, cards, NOW, UTC)
    harsh = plan.forecast(PLAIN, p, cards, NOW, UTC, mix=plan.Mix((1.0, 0, 0, 0), (0, 1.0, 0)))
    assert default.total() == (95, 134) and harsh.total() == (150, 187)


def test_plan_refuses_bad_input() -> None:
    code, out = run("plan", "--interview", "2026-03-02")
    assert code == 1 and out.splitlines()[-1] == (
        "Error: the interview (2026-03-02 09:00) must be on a later study day than today "
        "(2026-03-02)"
    )
    code, out = run("plan", "--interview", "yesterday")
    assert code == 1 and out.splitlines()[-1] == (
        "Error: --interview 'yesterday' is not a date and time: give YYYY-MM-DD, "
        "YYYY-MM-DDTHH:MM or 'YYYY-MM-DD HH:MM' (local time)"
    )
    code, out = run("plan", "--interview", "2026-04-01", "--per-day", "0")
    assert code == 1 and out.splitlines()[-1] == (
        "Error: --per-day must be at least 1 answer a day, got 0"
    )
    # Nothing was changed: still no plan.
    assert run("plan", "--json")[1].strip() == "null"
    code, out = run("plan", "--interview", "2026-04-01", "--deck", "Nope")
    assert code == 2 and "no deck named 'Nope'" in out
    assert run("plan", "--target", "0.9")[0] == 2
    assert run("plan", "--per-day", "9")[0] == 2
    assert run("plan", "--interview", "2026-04-01", "--target", "1.5")[0] == 2


def test_setting_a_plan_pulls_forward_cards_due_after_the_day(store: Store, tmp_path: Path) -> None:
    load(store, tmp_path, [qa(1)])
    hard = scheduling.outcomes(PLAIN, MEMORY, NOW, 1)[Rating.Hard].memory  # due in 27 days
    card_id = make_review(store, "n-001", hard.due, hard)
    with store.write() as conn:
        moved = interview.apply(conn, PLAIN, plan.Plan(interview=date(2026, 3, 16)), NOW, UTC)
    assert moved == 1
    due = card_of(store, "n-001").due
    assert card_of(store, "n-001").id == card_id
    assert NOW < due < datetime(2026, 3, 16, 4, 0, tzinfo=UTC)


def test_a_plan_moves_its_cards_a_chunk_at_a_time_as_all_at_once(
    new_db: Callable[[str], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seven cards due after the interview, moved 2 at a time and 500 at a time: the same due
    dates and the same change records, card by card."""
    import sqlalchemy as sa

    from pmcards import queries, schema

    def moved(chunk: int, name: str) -> list[tuple[Any, ...]]:
        monkeypatch.setattr(queries, "CHUNK", chunk)
        store = Store(new_db(name))
        load(store, tmp_path, [qa(i) for i in range(1, 8)], name)
        for i in range(1, 8):
            last = NOW - timedelta(days=12 + i)
            memory = replace(MEMORY, stability=10.0 + 3 * i, last_review=last)
            make_review(store, f"n-{i:03d}", NOW + timedelta(days=20 + i), memory)
        with store.write() as conn:
            p = plan.Plan(interview=date(2026, 3, 16))
            assert interview.apply(conn, PLAIN, p, NOW, UTC) == 7
        K, N = schema.card_changes.c, schema.notes.c
        with store.read() as conn:
            rows = conn.execute(
                sa.select(N.guid, schema.cards.c.due, K.source, K.due_before, K.due_after)
                .join(schema.cards, schema.cards.c.note_id == N.id)
                .join(schema.card_changes, K.card_id == schema.cards.c.id)
                .order_by(N.guid)
            ).all()
        store.close()
        return [tuple(row) for row in rows]

    in_chunks, at_once = moved(2, "chunks"), moved(500, "once")
    assert in_chunks == at_once
    assert [row[0] for row in at_once] == [f"n-{i:03d}" for i in range(1, 8)]
    assert all(row[2] == "plan" and row[1] == row[4] < row[3] for row in at_once)


@pytest.mark.parametrize(
    "n,expected", [(1, 1), (2, 1), (8, 4), (14, 7), (15, 8), (20, 13), (30, 23)]
)
def test_intro_days(n: int, expected: int) -> None:
    assert plan.intro_days(n) == expected


def test_settings_unchanged_by_plan(store: Store) -> None:
    with store.write() as session:
        interview.save(session, plan.Plan(interview=date(2026, 3, 16)))
        assert settings.load(session) == Settings(fuzz=False)


def test_plan_due_dates_are_explained_to_check(store: Store, tmp_path: Path) -> None:
    """A plan moves due dates without an answer: the move is recorded, so `check` finds the
    collection sound, and repairing a card damaged afterwards gives it the plan's due date
    back (not FSRS's, which would undo the plan)."""
    import sqlalchemy as sa

    from pmcards import check, schema

    load(store, tmp_path, [qa(1), qa(2)])
    hard = scheduling.outcomes(PLAIN, MEMORY, NOW, 1)[Rating.Hard].memory  # due in 27 days
    make_review(store, "n-001", hard.due, hard)
    with store.write() as conn:
        change = interview.set_plan(conn, date(2026, 3, 16), NOW, tz=UTC)
    assert change.moved == 1
    planned = card_of(store, "n-001").due
    assert planned < hard.due
    with store.read() as conn:
        (row,) = conn.execute(sa.select(schema.card_changes)).all()
        assert (row.source, row.due_before, row.due_after) == ("plan", hard.due, planned)
        assert check.run(conn, store.location, NOW).problems == []
    set_card(store, "n-001", due=NOW + timedelta(days=300))
    with store.read() as conn:
        report = check.run(conn, store.location, NOW)
    (problem,) = report.problems
    assert "but its last change (plan) left" in problem.message
    assert problem.repair == f"set it to what its last change left (plan, change {row.id})"
    with store.write() as conn:
        check.repair(conn, report.repairable)
    assert card_of(store, "n-001").due == planned
    with store.write() as conn:
        assert interview.clear_plan(conn, NOW).moved == 1  # released: recorded as well
    with store.read() as conn:
        assert check.run(conn, store.location, NOW).problems == []
        sources = conn.scalars(
            sa.select(schema.card_changes.c.source).order_by(schema.card_changes.c.id)
        )
        assert list(sources) == ["plan", "plan-release"]


def test_status_counts_as_the_review_session_does_under_a_plan(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    """A plan raises the new-card limit: `status` and `review` both count with it."""
    from pmcards import listings

    load(store, tmp_path, [qa(i) for i in range(1, 121)])
    with store.write() as conn:
        interview.save(conn, plan.Plan(interview=date(2026, 3, 5)))
    session_new = ReviewSession(store, clock=clock, tz=UTC).counts().new
    with store.read() as conn:
        status_new = listings.status(conn, clock.now)["total"]["new"]
    assert session_new == status_new == 50


@settings_h(max_examples=60, deadline=None)
@given(
    stability=st.floats(0.5, 200.0),
    difficulty=st.floats(1.0, 10.0),
    elapsed=st.integers(0, 60),
    days_left=st.integers(1, 40),
    target=st.sampled_from([0.9, 0.95, 0.97]),
    booked=st.lists(st.integers(0, 30), min_size=40, max_size=40),
)
def test_a_due_date_only_ever_moves_earlier_than_fsrs(
    stability: float,
    difficulty: float,
    elapsed: int,
    days_left: int,
    target: float,
    booked: list[int],
) -> None:
    memory = cardstate.Memory(
        REVIEW, None, stability, difficulty, NOW, NOW - timedelta(days=elapsed), reps=3
    )
    at = datetime(2026, 3, 2, 10, 0, tzinfo=UTC) + timedelta(days=days_left)
    load = {date(2026, 3, 2) + timedelta(days=i): n for i, n in enumerate(booked)}
    h = horizon(at, target, budget=12, load=load)
    raw = scheduling.outcomes(PLAIN, memory, NOW, 3)
    capped = plan.capped_outcomes(PLAIN, h, memory, NOW, 3)
    for rating in scheduling.RATINGS:
        assert capped[rating].memory.due <= raw[rating].memory.due
        assert capped[rating].memory.due > NOW
        # Only the due date moves: the memory is FSRS's.
        assert replace(capped[rating].memory, due=NOW) == replace(raw[rating].memory, due=NOW)
        if capped[rating].memory.due < raw[rating].memory.due:
            # Moved only to land before the interview, or on its morning (due that day).
            assert capped[rating].memory.due.date() <= at.date()
    days_of = [capped[r].interval for r in scheduling.RATINGS[1:]]
    assert days_of == sorted(days_of)


def test_new_cards_to_come_are_booked_ahead_and_the_default_budget() -> None:
    """30 new cards left after today's, 10 a day: 2.5 answers each on the next 3 days."""
    h = horizon(budget=50, load={date(2026, 3, 3): 4})
    h.expect_new(date(2026, 3, 2), 30, 14, 10)
    assert h.load == {date(2026, 3, 3): 29, date(2026, 3, 4): 25, date(2026, 3, 5): 25}
    # Four answers per new card of a day's introductions, two per studied card over the
    # days left, at least 10.
    assert plan.default_budget(14, 0, 14) == 56
    assert plan.default_budget(0, 150, 30) == 10
    assert plan.default_budget(5, 70, 14) == 30


@settings_h(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=20 * 24 * 60), max_size=200))
def test_booking_many_dues_counts_each_on_its_study_day(minutes: list[int]) -> None:
    # `book_many` works a study day out once per day, not per card (`status` under a plan
    # books every plan card): the same counts as `book`, across a daylight-saving change.
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("America/New_York")  # clocks go forward on 2026-03-08
    start = datetime(2026, 3, 1, 5, tzinfo=UTC)
    at = datetime(2026, 3, 15, 14, tzinfo=UTC)
    one = plan.Horizon(at=at, aim=0.95, day=date(2026, 3, 15), rollover=4, tz=tz)
    many = replace(one, load={})
    dues = [start + timedelta(minutes=m) for m in minutes]
    for due in dues:
        one.book(due)
    many.book_many(dues)
    assert many.load == one.load


def test_a_plan_over_many_cards_is_forecast_from_a_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    # Over FORECAST_CARDS the forecast simulates a fixed sample and scales its answers up
    # (a plan over a lifetime's collection took over 10 minutes to forecast whole). New
    # cards still come at the whole plan's pace: the days' new counts are exact.
    cards = [(i, cardstate.new_memory(NOW)) for i in range(1, 401)]
    p = plan.Plan(interview=date(2026, 3, 16), at=AT)
    whole = plan.forecast(PLAIN, p, cards, NOW, UTC)
    monkeypatch.setattr(plan, "FORECAST_CARDS", 100)
    sampled = plan.forecast(PLAIN, p, cards, NOW, UTC)
    assert (whole.sampled, sampled.sampled, sampled.scale) == (None, 100, 4.0)
    assert len(sampled.recall) == 100 and len(whole.recall) == 400
    assert [d[:2] for d in sampled.days] == [d[:2] for d in whole.days]
    assert sampled.unlearned == whole.unlearned
    assert sampled.total() == plan.forecast(PLAIN, p, cards, NOW, UTC).total()  # repeatable
    low, high = whole.total()
    assert 0.8 * low <= sampled.total()[0] and sampled.total()[1] <= 1.2 * high


def test_a_forecast_read_as_a_stream_is_the_forecast_of_the_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Given the cards' count, the forecast reads them once as they come and keeps only its
    sample (the plan's status streams a lifetime's collection through it): the same
    forecast as from the list, sampled or whole."""
    review = replace(MEMORY, due=NOW + timedelta(days=3))
    cards = [
        (i, cardstate.new_memory(NOW) if i % 3 else replace(review, stability=2.0 + i % 7))
        for i in range(1, 151)
    ]
    p = plan.Plan(interview=date(2026, 3, 16), at=AT)
    for sample in (plan.FORECAST_CARDS, 40):
        monkeypatch.setattr(plan, "FORECAST_CARDS", sample)
        whole = plan.forecast(PLAIN, p, cards, NOW, UTC, budget=40)
        streamed = plan.forecast(PLAIN, p, iter(cards), NOW, UTC, budget=40, count=len(cards))
        assert streamed == whole
        assert streamed.sampled == (40 if sample == 40 else None)


def _synthetic_collection(path: Path, notes: int, now: datetime, *, planned: bool = False) -> str:
    """bench's synthetic collection of `notes` notes (about 1.9 cards each, 80% of them
    studied), made in SQL, with a plan over every deck stored when `planned` (for the
    interview at AT, 500 answers a day); returns its path."""
    from helpers import bench_synth

    bench_synth().build_sql(path, notes, now)
    if planned:
        store = Store(f"sqlite:///{path}")
        with store.write() as conn:
            interview.save(conn, plan.Plan(interview=AT.date(), at=AT, per_day=500))
        store.close()
    return str(path)


def test_setting_a_plan_over_38000_cards_stays_under_85_mb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole `pmcards plan --interview` over every deck of 20,000 notes (38,000 cards),
    in a process of its own: the plan's cards are counted in SQL, read as a stream to cap
    their due dates, the moves kept in arrays and written 500 at a time, and the forecast
    keeps only its sample (every card's memory was held, twice: 101 MB here, 260 MB at
    190,000 cards)."""
    from helpers import cli_peak_mb

    monkeypatch.setenv("PMCARDS_NOW", NOW.isoformat())
    db = _synthetic_collection(tmp_path / "c.sqlite3", 20_000, NOW)
    args = ["--db", db, "plan", "--interview", "2026-03-16 10:00"]
    expect = ["Planned for the interview", "a sample of 2,000 of the 38,"]
    peak_mb = cli_peak_mb(args, tmp_path / "home", expect)
    assert peak_mb < 85, f"peak memory {peak_mb} MB setting a plan over 38,000 cards"


def test_showing_a_plan_over_114000_cards_stays_under_80_mb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pmcards plan` over every deck of 60,000 notes (114,000 cards), in a process of its
    own: the cards are counted in SQL and stream through the forecast, which keeps its
    sample (the status held every card's memory: 105 MB here, 142 MB at 190,000 cards)."""
    from helpers import cli_peak_mb

    monkeypatch.setenv("PMCARDS_NOW", NOW.isoformat())
    db = _synthetic_collection(tmp_path / "c.sqlite3", 60_000, NOW, planned=True)
    expect = ["Cards in plan:    114", "a sample of 2,000 of the 114,"]
    peak_mb = cli_peak_mb(["--db", db, "plan"], tmp_path / "home", expect)
    assert peak_mb < 80, f"peak memory {peak_mb} MB showing a plan over 114,000 cards"


def test_clearing_a_plan_over_57000_cards_stays_under_80_mb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pmcards plan --clear` over every deck of 30,000 notes (57,000 cards), in a process
    of its own: the release reads the cards as a stream and keeps only the moves, in arrays
    (it held every review card's memory and every move: 240 MB at 114,000 cards, 530 MB at
    189,867)."""
    from helpers import cli_peak_mb

    monkeypatch.setenv("PMCARDS_NOW", NOW.isoformat())
    db = _synthetic_collection(tmp_path / "c.sqlite3", 30_000, NOW, planned=True)
    expect = ["cards got their FSRS due dates back"]
    peak_mb = cli_peak_mb(["--db", db, "plan", "--clear"], tmp_path / "home", expect)
    assert peak_mb < 80, f"peak memory {peak_mb} MB clearing a plan over 57,000 cards"


def test_learner_scale_fits_the_learners_own_forgetting() -> None:
    """The factor on FSRS's stabilities most likely given the answers (10 days after the
    last review, stability 10: FSRS predicts 90% recall), pulled toward 1 by its prior when
    the answers are few, and held within e^(±3 SCALE_PRIOR)."""

    def fit(recalled: int, forgotten: int) -> float:
        answers = [(10, 10.0, True)] * recalled + [(10, 10.0, False)] * forgotten
        return round(plan.learner_scale(PLAIN, answers), 2)

    assert plan.learner_scale(PLAIN, []) == 1.0
    assert fit(90, 10) == 1.0  # FSRS's own prediction
    assert fit(7, 3) == 0.81  # 70%, but only 10 answers: near the prior
    assert fit(70, 30) == 0.34
    assert fit(99, 1) == 1.98
    assert fit(700, 300) == round(math.exp(-3 * plan.SCALE_PRIOR), 2) == 0.30


def test_the_learner_scale_is_read_from_review_answers_only(store: Store, tmp_path: Path) -> None:
    """Answers to review cards in review sessions and the drill count; a new card's first
    answer and a mock interview's marks do not."""

    load(store, tmp_path, [qa(1)])
    card_id = card_of(store, "n-001").id
    rows = [(3, REVIEW, "review")] * 6 + [(3, REVIEW, "drill")] + [(1, REVIEW, "review")] * 3
    rows += [(1, cardstate.NEW, "review")] * 20 + [(1, REVIEW, "mock")] * 20
    with store.write() as conn:
        assert interview.learner_factor(conn, PLAIN) == 1.0
        for rating, state, source in rows:
            log_answer(
                conn,
                card_id,
                rating,
                source=source,
                state_before=state,
                stability_before=10.0,
                difficulty_before=5.0,
                last_review_before=NOW - timedelta(days=10),
                reps_before=3,
            )
        assert round(interview.learner_factor(conn, PLAIN), 2) == 0.81  # 7 of 10 recalled
        # `pmcards plan` says so, as the factor is 10% or more from 1, and forecasts with it.
        p = plan.Plan(interview=date(2026, 3, 16), at=AT)
        st = interview.status(conn, p, NOW, UTC)
    assert st.learner == pytest.approx(0.81, abs=0.005)
    assert st.to_json()["learner_scale"] == round(st.learner, 3)
    assert (
        "Your memory:      your answers so far say you keep cards about 0.81 times as long as "
        "FSRS's model; the plan and this forecast allow for it\n"
    ) in plan.format_status(st)
    # Near 1, nothing is said.
    assert "Your memory" not in plan.format_status(replace(st, learner=1.05))


def test_the_plan_allows_for_a_learner_who_forgets_faster() -> None:
    """The learner's factor scales the stabilities of the plan's cautious recall (never
    FSRS's own intervals): a card FSRS brings back after the interview (in 30 days) is
    enough already for a learner twice as strong (FSRS's 30 days stand); for the average
    learner one more review on day 8 lifts it to the target; for one who forgets twice as
    fast that review must come later, on day 9, closer to the interview. A due date before
    the interview (day 8) stands whatever the factor."""
    good = scheduling.outcomes(PLAIN, MEMORY, NOW, 7)[Rating.Good].memory
    for scale, days in ((1, [8, 8]), (0.5, [8, 9]), (2, [8, 30])):
        h = replace(horizon(), learner=scale)
        assert [plan.next_review(PLAIN, h, good, NOW, n, 7) for n in (8, 30)] == days
    recall = [plan.robust_recall(PLAIN, replace(horizon(), learner=s), good) for s in (1, 0.5, 2)]
    assert [round(r, 4) for r in recall] == [0.9437, 0.9049, 0.9688]
    # The forecast of 20 new cards: more answers and a lower recall for that learner.
    cards = [(i, cardstate.new_memory(NOW)) for i in range(1, 21)]
    p = plan.Plan(interview=date(2026, 3, 16), at=AT)
    average = plan.forecast(PLAIN, p, cards, NOW, UTC)
    weaker = plan.forecast(PLAIN, p, cards, NOW, UTC, learner=0.5)
    assert (average.total(), round(average.predicted(), 4)) == ((95, 134), 0.9777)
    assert (weaker.total(), round(weaker.predicted(), 4)) == ((122, 180), 0.9527)
