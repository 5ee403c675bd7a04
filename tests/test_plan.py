"""Interview-date mode: the caps on FSRS's outcomes (plan.py), the plan's life cycle in the
collection (interview.py), the session's limits, the plan command."""

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fsrs import Rating
from helpers import FakeClock, card_of, qa, set_card, write_deck

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


def horizon(interview: date, target: float = 0.95) -> plan.Horizon:
    return plan.Horizon.of(plan.Plan(interview=interview, target=target), PLAIN, UTC)


def days(outcomes: dict[Rating, scheduling.Outcome]) -> dict[str, object]:
    return {r.name: o.interval for r, o in outcomes.items()}


def test_cap_only_where_recall_on_the_day_would_fall_short() -> None:
    raw = scheduling.outcomes(PLAIN, MEMORY, NOW, 7)
    capped = plan.capped_outcomes(PLAIN, horizon(date(2026, 3, 16)), MEMORY, NOW, 7)
    # Plain FSRS: Hard 27 d, Good 38 d, Easy 60 d, all after the interview on the 16th.
    assert days(raw) == {
        "Again": timedelta(minutes=10),
        "Hard": timedelta(days=27),
        "Good": timedelta(days=38),
        "Easy": timedelta(days=60),
    }
    # Good's stability (37.6 d) gives 95.6% on the day: left alone. Hard's (27.4 d) gives
    # 94.3%: capped into the window where one more Good answer lifts it over 95%.
    assert capped[Rating.Hard].memory.due == datetime(2026, 3, 12, 12, 0, tzinfo=UTC)
    assert capped[Rating.Good].memory.due == datetime(2026, 4, 9, 12, 0, tzinfo=UTC)
    assert capped[Rating.Easy] == raw[Rating.Easy]
    assert capped[Rating.Again] == raw[Rating.Again]
    # Only the due date moves: the memory is FSRS's.
    assert capped[Rating.Hard].memory.stability == raw[Rating.Hard].memory.stability


def test_capped_due_makes_the_target_on_the_day_and_keeps_the_buttons_in_order() -> None:
    h = horizon(date(2026, 3, 16), target=0.97)
    capped = plan.capped_outcomes(PLAIN, h, MEMORY, NOW, 7)
    assert [capped[r].interval.days for r in scheduling.RATINGS[1:]] == [11, 12, 13]
    good = capped[Rating.Good].memory
    again = scheduling.outcomes(PLAIN, good, good.due, 7)[Rating.Good].memory
    assert scheduling.retrievability(PLAIN, again, h.at) >= 0.97
    # Squeezed by a 99% target: all three need the last day before the interview.
    squeezed = plan.capped_outcomes(PLAIN, horizon(date(2026, 3, 16), 0.99), MEMORY, NOW, 7)
    assert [squeezed[r].interval.days for r in scheduling.RATINGS[1:]] == [13, 13, 13]
    for outcome in squeezed.values():
        assert outcome.memory.due < h.at


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
    # The window's day depends on the card (the spread): 8 days for card 1.
    assert shown[in_plan].interval(Rating.Hard) == timedelta(days=8)
    assert shown[outside].interval(Rating.Hard) == timedelta(days=27)
    assert card_of(store, "n-001").due == NOW + timedelta(days=8)
    assert card_of(store, "x-001").due == NOW + timedelta(days=27)
    assert (in_plan, outside) == (card_of(store, "n-001").id, card_of(store, "x-001").id)


def test_plan_raises_the_new_card_limit_as_the_days_need(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    load(store, tmp_path, [qa(i) for i in range(1, 121)])
    assert ReviewSession(store, clock=clock, tz=UTC).counts().new == 20
    with store.write() as session:
        interview.save(session, plan.Plan(interview=date(2026, 3, 9)))
    # 7 days left, new cards over the first 6 of them: 120 / 6 = 20... with a 1-day lead.
    assert plan.intro_days(7) == 6
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
    code, out = run("plan", "--interview", "2026-03-23", "--deck", "BAD vs GOOD answers")
    assert code == 0 and "Planned for the interview on 2026-03-23" in out
    assert "Days left:        21" in out and "On track" in out
    code, out = run("plan", "--json")
    data = json.loads(out)
    assert data["days_left"] == 21 and len(data["forecast"]) == 21
    assert data["decks"] == ["BAD vs GOOD answers"]
    decks = importer.parse_files(importer.builtin_deck_paths())
    (contrasts,) = [d.notes for d in decks if d.name == "BAD vs GOOD answers"]
    assert {n.kind for n in contrasts} == {"contrast"}  # two cards a note
    assert data["cards"] == data["not_learned"] == 2 * len(contrasts) and data["met"] is True
    assert data["predicted_recall"] >= 0.95
    assert sum(d["new"] for d in data["forecast"]) == data["not_learned"]
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


def test_plan_refuses_bad_input() -> None:
    assert run("plan", "--interview", "2026-03-02")[1].endswith("must be after today\n")
    code, out = run("plan", "--interview", "2026-04-01", "--deck", "Nope")
    assert code == 2 and "no deck named 'Nope'" in out
    assert run("plan", "--target", "0.9")[0] == 2
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


@pytest.mark.parametrize("n,expected", [(1, 1), (2, 1), (8, 6), (30, 23)])
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
