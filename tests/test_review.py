from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fsrs import Rating
from helpers import C, FakeClock, NewDb, all_rows, card_of, count, note_of, qa, set_card, write_deck
from sqlalchemy import event, select

from pmcards import answer as answer_mod
from pmcards import cardstate, importer, scheduling, schema, settings
from pmcards.cardstate import LEARNING, NEW, RELEARNING, REVIEW
from pmcards.errors import PmcardsError
from pmcards.queries import Scope
from pmcards.review import ReviewSession
from pmcards.store import Store

UTC = UTC


def load(store: Store, tmp_path: Path, notes: list[dict[str, object]], name: str = "D") -> None:
    path = write_deck(tmp_path / f"{name}.toml", name, notes)
    with store.write() as session:
        importer.apply(session, importer.parse_files([path]), datetime(2026, 1, 1, tzinfo=UTC))


def configure(store: Store, **values: object) -> None:
    with store.write() as session:
        for key, value in values.items():
            settings.save(session, key, value)


def set_review(store: Store, guid: str, due: datetime, stability: float, last: datetime) -> None:
    set_card(
        store,
        guid,
        state=REVIEW,
        step=None,
        stability=stability,
        difficulty=5.0,
        due=due,
        last_review=last,
        reps=3,
    )


def log_count(store: Store) -> int:
    return count(store, schema.review_log)


def test_new_cards_in_deck_order_then_learning_when_due(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    load(store, tmp_path, [qa(i) for i in range(1, 4)])
    session = ReviewSession(store, clock=clock)
    first = session.next_card()
    assert first is not None and first.guid == "n-001"
    session.answer(first.card_id, Rating.Good)  # learning, due in 10 minutes
    second = session.next_card()
    assert second is not None and second.guid == "n-002"
    clock.advance(minutes=10)
    third = session.next_card()
    assert third is not None and third.guid == "n-001" and third.state == LEARNING


def test_learning_before_reviews_before_new_and_reviews_by_risk(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    load(store, tmp_path, [qa(i) for i in range(1, 6)])
    now = clock.now
    # Both due today; n-002 is further past its stability, so more at risk of being forgotten.
    set_review(store, "n-001", now - timedelta(hours=1), 10.0, now - timedelta(days=10))
    set_review(store, "n-002", now - timedelta(hours=1), 10.0, now - timedelta(days=30))
    # Due later today, before the 04:00 rollover: still today's review.
    set_review(store, "n-003", now + timedelta(hours=10), 50.0, now - timedelta(days=40))
    set_card(
        store,
        "n-004",
        state=LEARNING,
        step=1,
        stability=2.0,
        difficulty=5.0,
        due=now - timedelta(minutes=1),
        last_review=now,
        reps=1,
    )
    session = ReviewSession(store, clock=clock)
    order = []
    for _ in range(5):
        shown = session.next_card()
        assert shown is not None
        order.append(shown.guid)
        session.answer(shown.card_id, Rating.Easy)
    assert order == ["n-004", "n-002", "n-001", "n-003", "n-005"]
    assert session.next_card() is None


def test_daily_new_limit_counts_across_sessions(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    load(store, tmp_path, [qa(i) for i in range(1, 11)])
    configure(store, new_per_day=3)
    first = ReviewSession(store, clock=clock)
    for _ in range(2):
        shown = first.next_card()
        assert shown is not None
        first.answer(shown.card_id, Rating.Easy)
    second = ReviewSession(store, clock=clock)
    assert second.counts().new == 1
    shown = second.next_card()
    assert shown is not None
    second.answer(shown.card_id, Rating.Easy)
    assert second.next_card() is None
    # --new 2 on top of the exhausted limit.
    third = ReviewSession(store, clock=clock, extra_new=2)
    assert third.counts().new == 2
    # The next study day the limit is fresh: 04:00 local (UTC here) rollover.
    clock.now = datetime(2026, 3, 3, 4, 0, tzinfo=UTC)
    fourth = ReviewSession(store, clock=clock)
    assert fourth.counts().new == 3


def test_review_limit(store: Store, tmp_path: Path, clock: FakeClock) -> None:
    load(store, tmp_path, [qa(i) for i in range(1, 6)])
    configure(store, reviews_per_day=2, new_per_day=0)
    for i in range(1, 6):
        set_review(
            store, f"n-{i:03d}", clock.now - timedelta(hours=1), 5.0, clock.now - timedelta(days=5)
        )
    session = ReviewSession(store, clock=clock)
    assert session.counts().review == 2
    answered = 0
    while (shown := session.next_card()) is not None:
        session.answer(shown.card_id, Rating.Good)
        answered += 1
    assert answered == 2


def test_siblings_buried_until_next_day(store: Store, tmp_path: Path, clock: FakeClock) -> None:
    load(
        store,
        tmp_path,
        [
            {
                "id": "c1",
                "kind": "contrast",
                "tags": ["x"],
                "situation": "S",
                "bad": "B",
                "good": "G",
            },
            qa(1),
        ],
    )
    session = ReviewSession(store, clock=clock)
    shown = session.next_card()
    assert shown is not None and (shown.guid, shown.ord) == ("c1", 0)
    session.answer(shown.card_id, Rating.Easy)
    nxt = session.next_card()
    assert nxt is not None and nxt.guid == "n-001"  # c1's judge card is buried
    session.answer(nxt.card_id, Rating.Easy)
    assert session.next_card() is None
    sibling = card_of(store, "c1", 1)
    assert sibling.buried_until == datetime(2026, 3, 3, 4, 0, tzinfo=UTC)
    clock.now = datetime(2026, 3, 3, 4, 0, tzinfo=UTC)
    later = ReviewSession(store, clock=clock).next_card()
    assert later is not None and (later.guid, later.ord) == ("c1", 1)


def test_undo_restores_card_and_removes_log(store: Store, tmp_path: Path, clock: FakeClock) -> None:
    load(
        store,
        tmp_path,
        [
            {
                "id": "c1",
                "kind": "contrast",
                "tags": ["x"],
                "situation": "S",
                "bad": "B",
                "good": "G",
            },
        ],
    )
    before = card_of(store, "c1")
    session = ReviewSession(store, clock=clock)
    shown = session.next_card()
    assert shown is not None
    session.answer(shown.card_id, Rating.Good)
    assert log_count(store) == 1
    assert card_of(store, "c1", 1).buried_until is not None
    assert session.undo().card_ids == (shown.card_id,)
    assert log_count(store) == 0
    after = card_of(store, "c1")
    assert (after.state, after.due, after.reps, after.stability, after.last_review) == (
        NEW,
        before.due,
        0,
        None,
        None,
    )
    assert card_of(store, "c1", 1).buried_until is None  # sibling unburied
    assert session.answered == 0
    again = session.next_card()
    assert again is not None and again.card_id == shown.card_id  # shown again
    with pytest.raises(PmcardsError, match="nothing to undo"):
        session.undo()


def test_leech_is_tagged_and_suspended(store: Store, tmp_path: Path, clock: FakeClock) -> None:
    load(store, tmp_path, [qa(1)])
    configure(store, leech_threshold=2, relearning_steps=[])
    set_review(store, "n-001", clock.now - timedelta(hours=1), 5.0, clock.now - timedelta(days=5))
    session = ReviewSession(store, clock=clock)
    results = []
    for _ in range(3):
        shown = session.next_card()
        if shown is None:
            clock.advance(days=1)
            session = ReviewSession(store, clock=clock)
            shown = session.next_card()
        assert shown is not None
        results.append(session.answer(shown.card_id, Rating.Again))
        if results[-1].leeched:
            break
    assert [r.leeched for r in results] == [False, True]
    assert results[-1].lapses == 2
    card = card_of(store, "n-001")
    assert card.suspended
    assert "leech" in note_of(store, "n-001").tags
    # Undo reverses the leech too.
    session.undo()
    card = card_of(store, "n-001")
    assert not card.suspended and card.lapses == 1
    assert "leech" not in note_of(store, "n-001").tags


def test_undoing_a_leech_keeps_a_leech_tag_the_note_had(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    """A note tagged `leech` already (an Anki package brings the tag) keeps it when the
    answer that leeched its card here is undone: that answer did not add it."""
    load(store, tmp_path, [qa(1, tags=["leech", "t"])])
    configure(store, leech_threshold=1, relearning_steps=[])
    set_review(store, "n-001", clock.now - timedelta(hours=1), 5.0, clock.now - timedelta(days=5))
    session = ReviewSession(store, clock=clock)
    shown = session.next_card()
    assert shown is not None
    done = session.answer(shown.card_id, Rating.Again)
    assert done.leeched and not done.tagged_leech and card_of(store, "n-001").suspended
    session.undo()
    assert not card_of(store, "n-001").suspended
    assert note_of(store, "n-001").tags == ("leech", "t")


def test_suspend_and_bury(store: Store, tmp_path: Path, clock: FakeClock) -> None:
    load(store, tmp_path, [qa(1), qa(2), qa(3)])
    session = ReviewSession(store, clock=clock)
    a = session.next_card()
    assert a is not None
    session.suspend(a.card_id)
    b = session.next_card()
    assert b is not None and b.guid == "n-002"
    session.bury(b.card_id)
    c = session.next_card()
    assert c is not None and c.guid == "n-003"
    assert card_of(store, "n-001").suspended
    assert card_of(store, "n-002").buried_until == datetime(2026, 3, 3, 4, 0, tzinfo=UTC)


def test_relearning_card_comes_back_after_its_step(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    load(store, tmp_path, [qa(1)])
    set_review(store, "n-001", clock.now - timedelta(hours=1), 5.0, clock.now - timedelta(days=5))
    session = ReviewSession(store, clock=clock)
    shown = session.next_card()
    assert shown is not None
    result = session.answer(shown.card_id, Rating.Again)
    assert result.due == clock.now + timedelta(minutes=10)
    assert card_of(store, "n-001").state == RELEARNING
    # Within the 20-minute learn-ahead window it is shown early when nothing else is left.
    again = session.next_card()
    assert again is not None and again.card_id == shown.card_id


def test_limit_and_minutes_stop_the_session(store: Store, tmp_path: Path, clock: FakeClock) -> None:
    load(store, tmp_path, [qa(i) for i in range(1, 6)])
    session = ReviewSession(store, clock=clock, limit=2)
    for _ in range(2):
        shown = session.next_card()
        assert shown is not None
        session.answer(shown.card_id, Rating.Easy)
    assert session.next_card() is None
    assert session.stop_reason() == "reached the limit of 2 answers"
    timed = ReviewSession(store, clock=clock, minutes=1)
    assert timed.next_card() is not None
    clock.advance(minutes=1)
    assert timed.next_card() is None


def test_scope_by_deck_and_tag(store: Store, tmp_path: Path, clock: FakeClock) -> None:
    load(store, tmp_path, [qa(1, tags=["alpha"]), qa(2, tags=["beta"])], name="A")
    load(store, tmp_path, [qa(1, prefix="m")], name="B")
    shown = ReviewSession(store, Scope(deck="B"), clock=clock).next_card()
    assert shown is not None and shown.guid == "m-001"
    shown = ReviewSession(store, Scope(tag="beta"), clock=clock).next_card()
    assert shown is not None and shown.guid == "n-002"
    with pytest.raises(PmcardsError, match=r"no deck named 'C' \(decks: A, B\)"):
        ReviewSession(store, Scope(deck="C"), clock=clock)
    with pytest.raises(PmcardsError, match="no note is tagged 'gamma'"):
        ReviewSession(store, Scope(tag="gamma"), clock=clock)


def test_answer_recorded_with_before_and_after(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    load(store, tmp_path, [qa(1)])
    session = ReviewSession(store, clock=clock)
    shown = session.next_card()
    assert shown is not None
    session.answer(shown.card_id, Rating.Good, duration_ms=4200)
    (log,) = all_rows(store, schema.review_log)
    assert (log.rating, log.duration_ms, log.state_before, log.state_after, log.step_after) == (
        3,
        4200,
        NEW,
        LEARNING,
        1,
    )
    assert log.reviewed_at == clock.now
    assert log.due_after == clock.now + timedelta(minutes=10)


def test_two_sessions_share_a_due_card(store: Store, tmp_path: Path, clock: FakeClock) -> None:
    """A card answered in one session is skipped by another that listed it earlier."""
    load(store, tmp_path, [qa(1), qa(2)])
    configure(store, new_per_day=0)
    for guid in ("n-001", "n-002"):
        set_review(store, guid, clock.now - timedelta(hours=1), 5.0, clock.now - timedelta(days=5))
    one = ReviewSession(store, clock=clock)
    two = ReviewSession(store, clock=clock)
    a = one.next_card()
    assert a is not None
    one.answer(a.card_id, Rating.Good)
    b = two.next_card()
    assert b is not None and b.card_id != a.card_id
    two.answer(b.card_id, Rating.Good)
    assert two.next_card() is None and log_count(store) == 2


def _walk(session: ReviewSession, keys: str) -> list[str]:
    """Drive a session as keys would: `g` answers Good, `u` undoes, `s` suspends, `b`
    buries; returns the guid of each card shown."""
    seen = []
    for key in keys:
        shown = session.next_card()
        assert shown is not None
        seen.append(f"{shown.guid}#{shown.ord}")
        if key == "g":
            session.answer(shown.card_id, Rating.Good)
        elif key == "u":
            session.undo()
        elif key == "s":
            session.suspend(shown.card_id)
        elif key == "b":
            session.bury(shown.card_id)
    return seen


def test_undo_shows_what_the_session_would_have_shown(
    store: Store, tmp_path: Path, clock: FakeClock, new_db: NewDb
) -> None:
    """Undoing an answer, a suspend or a bury puts the session back where it was: the card
    the action was about comes again, then the same cards after it, none skipped, and the
    collection is as if the action had not happened (Anki's undo, several levels deep)."""
    load(store, tmp_path, [qa(i) for i in range(1, 8)])
    s = _walk(ReviewSession(store, clock=clock), "ggggg")
    other = Store(new_db("other"))
    try:
        with other.write() as conn:
            settings.save(conn, "fuzz", False)
        load(other, tmp_path, [qa(i) for i in range(1, 8)])
        session = ReviewSession(other, clock=clock)
        # On each card shown: answer, or undo the previous action, or suspend, or bury.
        walked = _walk(session, "gugsubugggg")
        assert walked == [s[0], s[1], s[0], s[1], s[2], s[1], s[2], s[1], s[2], s[3], s[4]]
        assert count(other, schema.cards, C.suspended.is_(True)) == 0
        assert count(other, schema.cards, C.buried_until.is_not(None)) == 0
        assert count(other, schema.review_log) == 5
        # Several levels: undo the last three answers, newest first.
        for expected in (s[4], s[3], s[2]):
            assert session.undo().card_ids == (card_of(other, expected[:5]).id,)
        assert count(other, schema.review_log) == 2
    finally:
        other.close()


def test_judge_cards_show_the_side_drawn_for_each_presentation(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    import random

    from pmcards.kinds import SideDraw

    notes: list[dict[str, object]] = [
        {
            "id": f"c{i}",
            "kind": "contrast",
            "tags": ["x"],
            "situation": f"S{i}",
            "bad": f"B{i}",
            "good": f"G{i}",
        }
        for i in range(1, 9)
    ]
    load(store, tmp_path, notes)
    # Judge cards only: the recall cards are suspended so every presentation is a judge card.
    with store.write() as conn:
        conn.execute(schema.cards.update().where(schema.cards.c.ord == 0).values(suspended=True))
    draw = SideDraw(random.Random(21))
    session = ReviewSession(store, clock=clock, seed=21)
    seen = []
    for _ in range(8):
        shown = session.next_card()
        assert shown is not None and shown.ord == 1
        side = draw()
        answer = dict(shown.front.blocks)["Answer"]
        assert shown.side == side and answer == f"{side[0].upper()}{shown.guid[1:]}"
        assert shown.back.blocks[0] == ("Verdict", side.upper())
        seen.append(side)
        session.answer(shown.card_id, Rating.Easy)
    # Unrelated to the review count: every card here was new, and both sides were shown.
    assert set(seen) == {"bad", "good"}
    # Shown again after an undo, the card is a new presentation: the next draw.
    session.undo()
    again = session.next_card()
    assert again is not None and again.side == draw()


def prompt(i: int) -> dict[str, object]:
    return {
        "id": f"p-{i}",
        "kind": "prompt",
        "tags": ["mock"],
        "prompt": f"Design thing {i}.",
        "rubric": "- [metrics] A metric.\n- [errors] The errors.",
    }


def test_prompt_cards_leave_daily_review_unless_the_setting_brings_them_back(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    from pmcards import listings

    load(store, tmp_path, [prompt(1), qa(1), prompt(2), qa(2)])
    # A prompt studied and due today, as a mock leaves it.
    set_review(store, "p-2", clock.now - timedelta(hours=1), 3.0, clock.now - timedelta(days=4))

    def studied(session: ReviewSession) -> list[str]:
        out = []
        while (shown := session.next_card()) is not None:
            out.append(shown.guid)
            session.answer(shown.card_id, Rating.Easy)
        return out

    def status_total() -> dict[str, int]:
        with store.read() as conn:
            total = listings.status(conn, clock.now)["total"]
        return {k: total[k] for k in ("new", "learning", "review")}

    # Status counts what review will show: no prompt.
    assert status_total() == {"new": 2, "learning": 0, "review": 0}
    session = ReviewSession(store, clock=clock)
    counts = session.counts()
    assert (counts.new, counts.learning, counts.review) == (2, 0, 0)
    assert studied(session) == ["n-001", "n-002"]
    configure(store, prompts_in_review=True)
    assert status_total() == {"new": 1, "learning": 0, "review": 1}
    session = ReviewSession(store, clock=clock)
    counts = session.counts()
    assert (counts.new, counts.learning, counts.review) == (1, 0, 1)
    assert studied(session) == ["p-2", "p-1"]


def test_new_cards_interleave_across_decks_or_follow_deck_order(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    contrasts: list[dict[str, object]] = [
        {
            "id": f"b-{i}",
            "kind": "contrast",
            "tags": ["x"],
            "situation": f"S{i}",
            "bad": "B",
            "good": "G",
        }
        for i in range(1, 4)
    ]
    load(store, tmp_path, [qa(i, "a") for i in range(1, 5)], "A")
    load(store, tmp_path, contrasts, "B")
    load(store, tmp_path, [qa(i, "z") for i in range(1, 3)], "C")
    set_card(store, "a-001", suspended=True)

    def first_day() -> list[str]:
        session = ReviewSession(store, clock=clock)
        out: list[str] = []
        undone = False
        while (shown := session.next_card()) is not None:
            out.append(shown.guid)
            assert shown.ord == 0  # a contrast's judge card waits: its sibling buried it
            session.answer(shown.card_id, Rating.Easy)  # Easy: out of today's queue
            if len(out) == 2 and not undone:
                session.undo()  # the same card again, then the order goes on
                undone = True
                out.pop()
        with store.write() as conn:  # new again, for the next order
            conn.execute(schema.cards.update().values(state=NEW, buried_until=None))
        return out

    # One note of each deck in turn, the decks in the order they were imported.
    assert first_day() == ["a-002", "b-1", "z-001", "a-003", "b-2", "z-002", "a-004", "b-3"]
    configure(store, new_order="deck")
    assert first_day() == ["a-002", "a-003", "a-004", "b-1", "b-2", "b-3", "z-001", "z-002"]


def test_review_shows_each_notes_section_above_the_front(tmp_path: Path) -> None:
    """Every kind's front is headed by its note's section, sanitised ("Not: feature flags /
    But: …?" means little without knowing it is about launches)."""
    from click.testing import CliRunner

    from pmcards.cli import cli

    # (Control characters in a section are refused at import: test_hostile covers that.)
    section = "Launch plans"
    notes: list[dict[str, object]] = [
        qa(1, section=section),
        {**qa(2, section=section), "kind": "qa_reversed"},
        {"id": "r-1", "kind": "reframe", "not": "feature flags", "but": "staged rollout"},
        {"id": "c-1", "kind": "contrast", "situation": "S", "bad": "B", "good": "G"},
        {"id": "z-1", "kind": "cloze", "text": "Ship {{c1::behind a flag}}."},
        {"id": "p-1", "kind": "prompt", "prompt": "Design X.", "rubric": "- a\n- b"},
    ]
    for note in notes:
        note["section"] = section
    deck = write_deck(tmp_path / "d.toml", "D", notes)
    env = {"PMCARDS_NOW": "2026-03-02T12:00:00+00:00", "PMCARDS_SEED": "1"}
    runner = CliRunner()
    assert runner.invoke(cli, ["import", str(deck)], env=env).exit_code == 0
    assert runner.invoke(cli, ["config", "prompts_in_review", "on"], env=env).exit_code == 0
    result = runner.invoke(cli, ["review", "--deck", "D"], input=" 4" * 12, env=env)
    assert result.exit_code == 0, result.output
    headings = [line for line in result.output.splitlines() if line.endswith(" · Launch plans")]
    assert {h.split(" · ")[0] for h in headings} == {
        "QUESTION",
        "REFRAME",
        "CONTRAST",
        "CLOZE",
        "DESIGN PROMPT",
    }
    assert len(headings) == 6  # the judge and reverse cards wait: their siblings buried them
    env["PMCARDS_NOW"] = "2026-03-03T12:00:00+00:00"
    result = runner.invoke(cli, ["review", "--deck", "D"], input=" 4" * 4, env=env)
    assert [line for line in result.output.splitlines() if line.endswith(" · Launch plans")] == [
        "QUESTION · Launch plans",
        "BAD OR GOOD? · Launch plans",
    ]


@pytest.mark.parametrize("state", [NEW, LEARNING, REVIEW])
def test_answer_moves_the_previewed_outcomes_and_stores_a_fresh_computations_result(
    store: Store, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, state: int
) -> None:
    load(store, tmp_path, [qa(1)])
    configure(store, fuzz=True)  # fuzz too must come out the same
    now = clock.now
    if state == REVIEW:
        set_review(store, "n-001", now - timedelta(hours=2), 9.0, now - timedelta(days=11))
    elif state == LEARNING:
        set_card(
            store,
            "n-001",
            state=LEARNING,
            step=1,
            stability=2.0,
            difficulty=5.0,
            due=now - timedelta(minutes=1),
            last_review=now - timedelta(minutes=11),
            reps=1,
        )
    computed: list[object] = []
    fresh_outcomes = answer_mod.outcomes

    def counted(*args: Any) -> dict[Rating, scheduling.Outcome]:
        computed.append(args)
        return fresh_outcomes(*args)

    monkeypatch.setattr(answer_mod, "outcomes", counted)
    session = ReviewSession(store, clock=clock)
    shown = session.next_card()
    assert shown is not None and len(computed) == 1
    before = cardstate.memory_of(card_of(store, "n-001"))
    clock.advance(seconds=41, microseconds=7)  # the user reads the card
    session.answer(shown.card_id, Rating.Hard, 41_000)
    assert len(computed) == 1  # not computed again
    expected = scheduling.outcomes(session.settings, before, clock.now, shown.card_id)
    assert cardstate.memory_of(card_of(store, "n-001")) == expected[Rating.Hard].memory


def test_answer_computes_afresh_when_the_day_rolled_over_while_shown(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    load(store, tmp_path, [qa(1)])
    now = clock.now
    set_review(store, "n-001", now - timedelta(hours=2), 9.0, now - timedelta(days=11))
    session = ReviewSession(store, clock=clock)
    shown = session.next_card()
    assert shown is not None
    before = cardstate.memory_of(card_of(store, "n-001"))
    clock.advance(hours=20)  # past the 04:00 rollover: one more day since the last review
    session.answer(shown.card_id, Rating.Good)
    expected = scheduling.outcomes(session.settings, before, clock.now, shown.card_id)
    assert expected[Rating.Good].interval != shown.outcomes[Rating.Good].interval
    assert cardstate.memory_of(card_of(store, "n-001")) == expected[Rating.Good].memory


def bury_statements(store: Store, answer: Callable[[], object]) -> list[str]:
    """The sibling-bury statements an answer issues (counted at the driver)."""
    seen: list[str] = []

    def listen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith("UPDATE cards SET buried_until"):
            seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", listen)
    try:
        answer()
    finally:
        event.remove(store.engine, "before_cursor_execute", listen)
    return seen


def test_a_single_card_notes_answer_issues_no_bury_statement(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    contrast: dict[str, object] = {
        "id": "c1",
        "kind": "contrast",
        "situation": "S",
        "bad": "B",
        "good": "G",
    }
    load(store, tmp_path, [qa(1), contrast])
    session = ReviewSession(store, clock=clock)
    single = session.next_card()
    assert single is not None and single.guid == "n-001"
    assert bury_statements(store, lambda: session.answer(single.card_id, Rating.Easy)) == []
    two = session.next_card()
    assert two is not None and two.guid == "c1"
    buried = bury_statements(store, lambda: session.answer(two.card_id, Rating.Easy))
    assert len(buried) == 1
    assert card_of(store, "c1", 1 - two.ord).buried_until == datetime(2026, 3, 3, 4, 0, tzinfo=UTC)


def test_counts_up_to_the_limits_are_the_full_counts_capped(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    """The review screen counts before every card, up to the session's limits only (an
    index range that stops early); what it shows must be `limits.cap` of the full counts,
    learning uncounted by any limit, buried and suspended cards and prompts left out."""
    from pmcards import queries
    from pmcards.clock import study_day
    from pmcards.queries import Limits

    load(store, tmp_path, [qa(i) for i in range(1, 13)])
    for i in range(1, 6):  # five reviews due today
        set_review(store, f"n-{i:03d}", clock.now - timedelta(hours=i), 3.0, clock.now)
    set_review(store, "n-006", clock.now + timedelta(days=3), 9.0, clock.now)  # not due
    set_card(store, "n-007", state=LEARNING, step=0, due=clock.now - timedelta(minutes=1))
    set_card(store, "n-008", state=RELEARNING, step=0, due=clock.now + timedelta(minutes=5))
    set_card(store, "n-009", suspended=True)
    set_card(store, "n-010", buried_until=clock.now + timedelta(hours=2))
    day = study_day(clock.now, 4)
    with store.read() as conn:
        full = queries.due_counts(conn, day, clock.now)
        assert (full.new, full.learning, full.review) == (2, 2, 5)
        for new, review in [(0, 0), (1, 3), (2, 5), (3, 9), (200, 0), (0, 200)]:
            limits = Limits(new=new, review=review)
            capped = queries.due_counts(conn, day, clock.now, Scope(), limits)
            assert capped == limits.cap(full), (new, review)
    session = ReviewSession(store, clock=clock)
    assert session.counts() == Limits(new=20, review=200).cap(full)


def test_counts_by_deck_up_to_the_limits_are_each_decks_counts_capped(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    """`status` counts each deck up to the limits in one statement (a few index ranges per
    deck); each deck's counts must be `limits.cap` of its full ones, prompts left out."""
    from pmcards import queries
    from pmcards.clock import study_day
    from pmcards.queries import Due, Limits

    load(store, tmp_path, [qa(i, "a") for i in range(1, 8)], name="A")
    load(store, tmp_path, [qa(i, "b") for i in range(1, 4)] + [prompt(1)], name="B")
    load(store, tmp_path, [qa(1, "c")], name="C")
    for i in range(1, 5):  # deck A: four reviews due
        set_review(store, f"a-{i:03d}", clock.now - timedelta(hours=i), 3.0, clock.now)
    set_review(store, "b-001", clock.now - timedelta(hours=1), 3.0, clock.now)
    set_review(store, "p-1", clock.now - timedelta(hours=1), 3.0, clock.now)  # a prompt
    set_card(store, "b-002", state=LEARNING, step=0, due=clock.now)
    set_card(store, "c-001", suspended=True)
    day = study_day(clock.now, 4)
    scope = queries.review_scope(settings.Settings())
    with store.read() as conn:
        full = queries.due_counts_by_deck(conn, day, clock.now, scope)
        decks = schema.decks.c
        ids = {name: deck_id for deck_id, name in conn.execute(select(decks.id, decks.name))}
        by_name = {name: full.get(deck_id, Due()) for name, deck_id in ids.items()}
        assert by_name == {"A": Due(3, 0, 4), "B": Due(1, 1, 1), "C": Due(0, 0, 0)}
        for new, review in [(0, 0), (1, 2), (2, 4), (5, 9)]:
            limits = Limits(new=new, review=review)
            capped = queries.due_counts_by_deck(conn, day, clock.now, scope, limits)
            for deck_id in ids.values():
                assert capped.get(deck_id, Due()) == limits.cap(full.get(deck_id, Due()))
