from dataclasses import replace
from datetime import UTC, datetime, timedelta

from fsrs import Card as FsrsCard
from fsrs import Rating, Scheduler, State
from hypothesis import given, settings
from hypothesis import strategies as st

from pmcards import scheduling
from pmcards.cardstate import LEARNING, NEW, RELEARNING, REVIEW, Memory
from pmcards.clock import study_date
from pmcards.scheduling import format_interval, outcomes
from pmcards.settings import Settings

UTC = UTC
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
NO_FUZZ = Settings(fuzz=False)


def new_memory() -> Memory:
    return Memory(NEW, None, None, None, T0, None)


def test_new_card_exact_due_dates() -> None:
    o = outcomes(NO_FUZZ, new_memory(), T0, card_id=1)
    assert o[Rating.Again].memory.due == datetime(2026, 1, 5, 12, 1, tzinfo=UTC)
    assert o[Rating.Hard].memory.due == datetime(2026, 1, 5, 12, 5, 30, tzinfo=UTC)
    assert o[Rating.Good].memory.due == datetime(2026, 1, 5, 12, 10, tzinfo=UTC)
    assert o[Rating.Easy].memory.due == datetime(2026, 1, 13, 12, 0, tzinfo=UTC)
    assert o[Rating.Good].memory.state == LEARNING and o[Rating.Good].memory.step == 1
    assert o[Rating.Easy].memory.state == REVIEW and o[Rating.Easy].memory.step is None
    assert all(x.memory.reps == 1 and x.memory.lapses == 0 for x in o.values())


def test_graduation_then_review_exact_due_dates() -> None:
    first = outcomes(NO_FUZZ, new_memory(), T0, 1)[Rating.Good].memory
    t1 = T0 + timedelta(minutes=10)
    second = outcomes(NO_FUZZ, first, t1, 1)
    assert second[Rating.Good].memory.due == datetime(2026, 1, 7, 12, 10, tzinfo=UTC)
    assert second[Rating.Easy].memory.due == datetime(2026, 1, 9, 12, 10, tzinfo=UTC)
    review = second[Rating.Good].memory
    third = outcomes(NO_FUZZ, review, review.due, 1)
    assert third[Rating.Again].memory.due == datetime(2026, 1, 7, 12, 20, tzinfo=UTC)
    assert third[Rating.Again].memory.state == RELEARNING
    assert third[Rating.Again].memory.lapses == 1
    assert third[Rating.Hard].memory.due == datetime(2026, 1, 15, 12, 10, tzinfo=UTC)
    assert third[Rating.Good].memory.due == datetime(2026, 1, 18, 12, 10, tzinfo=UTC)
    assert third[Rating.Easy].memory.due == datetime(2026, 1, 26, 12, 10, tzinfo=UTC)


def test_matches_plain_py_fsrs_when_no_adjustment_needed() -> None:
    """Our wrapper adds nothing to FSRS's memory model: same stability, difficulty, due."""
    memory = new_memory()
    fcard = FsrsCard(card_id=1, state=State.Learning, step=0, due=T0)
    plain = Scheduler(enable_fuzzing=False)
    now = T0
    for rating in [Rating.Good, Rating.Good, Rating.Good, Rating.Hard, Rating.Again, Rating.Good]:
        ours = outcomes(NO_FUZZ, memory, now, 1)[rating].memory
        fcard, _ = plain.review_card(fcard, rating, now)
        assert ours.stability == fcard.stability
        assert ours.difficulty == fcard.difficulty
        assert ours.state == int(fcard.state)
        memory, now = ours, max(ours.due, now + timedelta(minutes=1))
        if ours.due == fcard.due:
            continue
        # Only our Again < Hard < Good < Easy spreading may move a review due date.
        assert rating in (Rating.Good, Rating.Easy)


def test_review_intervals_strictly_increase_where_py_fsrs_ties() -> None:
    # A hard review card: py-fsrs alone gives Hard, Good and Easy all 1 day.
    memory = Memory(REVIEW, None, 0.3, 9.5, T0, T0 - timedelta(days=1), reps=3)
    plain = Scheduler(enable_fuzzing=False)
    fcard = scheduling.to_fsrs(memory, 1)
    hard, _ = plain.review_card(fcard, Rating.Hard, T0)
    good, _ = plain.review_card(fcard, Rating.Good, T0)
    easy, _ = plain.review_card(fcard, Rating.Easy, T0)
    assert [(c.due - T0).days for c in (hard, good, easy)] == [1, 1, 1]  # the ties we break
    o = outcomes(NO_FUZZ, memory, T0, 1)
    days = [o[r].interval for r in scheduling.RATINGS]
    assert days[0] < days[1] < days[2] < days[3]
    assert [d.days for d in days[1:]] == [1, 2, 3]


@settings(max_examples=200, deadline=None)
@given(
    stability=st.floats(0.01, 3000),
    difficulty=st.floats(1, 10),
    elapsed=st.integers(0, 3000),
    card_id=st.integers(1, 10**9),
    fuzz=st.booleans(),
)
def test_review_intervals_always_strictly_increase(
    stability: float, difficulty: float, elapsed: int, card_id: int, fuzz: bool
) -> None:
    memory = Memory(REVIEW, None, stability, difficulty, T0, T0 - timedelta(days=elapsed), reps=5)
    o = outcomes(replace(NO_FUZZ, fuzz=fuzz), memory, T0, card_id)
    ivl = [o[r].interval for r in scheduling.RATINGS]
    assert ivl[0] < ivl[1] < ivl[2] < ivl[3] or ivl[3].days == NO_FUZZ.maximum_interval
    assert all(i > timedelta(0) for i in ivl)


def test_fuzz_is_deterministic_per_card_and_rep() -> None:
    fuzzy = Settings(fuzz=True)
    memory = Memory(REVIEW, None, 40.0, 5.0, T0, T0 - timedelta(days=40), reps=6)
    a = outcomes(fuzzy, memory, T0, 42)
    b = outcomes(fuzzy, memory, T0 + timedelta(seconds=20), 42)
    assert [a[r].interval.days for r in scheduling.RATINGS] == [
        b[r].interval.days for r in scheduling.RATINGS
    ]
    spread = {outcomes(fuzzy, memory, T0, cid)[Rating.Good].interval.days for cid in range(1, 40)}
    assert len(spread) > 1  # fuzz does spread cards


def test_card_is_not_mutated_and_naive_now_refused() -> None:
    memory = new_memory()
    outcomes(NO_FUZZ, memory, T0, 1)
    assert memory == new_memory()
    try:
        outcomes(NO_FUZZ, memory, datetime(2026, 1, 1), 1)
    except ValueError:
        pass
    else:  # pragma: no cover
        raise AssertionError("naive datetime accepted")


def test_retrievability() -> None:
    assert scheduling.retrievability(NO_FUZZ, new_memory(), T0) == 0.0
    memory = Memory(REVIEW, None, 10.0, 5.0, T0, T0 - timedelta(days=10))
    assert abs(scheduling.retrievability(NO_FUZZ, memory, T0) - 0.9) < 1e-9


def test_format_interval() -> None:
    assert [format_interval(timedelta(seconds=s)) for s in (30, 60, 600, 3600 * 5, 86400 * 3)] == [
        "<1m",
        "1m",
        "10m",
        "5h",
        "3d",
    ]
    assert format_interval(timedelta(days=45)) == "1.5mo"
    assert format_interval(timedelta(days=730)) == "2y"


def test_elapsed_time_is_counted_in_study_days() -> None:
    """Graduated at 19:10 (UTC, the tests' zone; rollover 04:00). Next evening 23.8 hours
    later is a study day later, exactly as 24.2 hours is: FSRS's next-day path, S 7.32 and 7
    days (raw hours floor 23.8 to 0 days: the same-day path, S 2.31 kept, 3 days). 8.5 hours
    later, at 03:40, is still the same study day."""
    first = outcomes(NO_FUZZ, new_memory(), T0.replace(hour=19), 1)[Rating.Good].memory
    t1 = T0.replace(hour=19, minute=10)
    review = outcomes(NO_FUZZ, first, t1, 1)[Rating.Good].memory
    assert review.stability == 2.3065
    for hours, stability, days in ((8.5, 2.3065, 3), (23.8, 7.3192, 7), (24.2, 7.3192, 7)):
        good = outcomes(NO_FUZZ, review, t1 + timedelta(hours=hours), 1)[Rating.Good]
        assert round(good.memory.stability or 0.0, 4) == stability, hours
        assert good.interval == timedelta(days=days), hours
    assert scheduling.elapsed_days(NO_FUZZ, t1, t1 + timedelta(hours=8.5)) == 0
    assert scheduling.elapsed_days(NO_FUZZ, t1, t1 + timedelta(hours=23.8)) == 1
    # Recall predicted the morning after an evening answer is a day's recall, not 1.0.
    morning = t1 + timedelta(hours=15)
    assert round(scheduling.retrievability(NO_FUZZ, review, morning), 4) == 0.9468
    assert scheduling.retrievability(NO_FUZZ, review, t1 + timedelta(hours=8)) == 1.0


# -- an answer moving the outcomes previewed on its buttons (scheduling.moved) -----------

MEMORIES = st.one_of(
    st.just(new_memory()),
    st.builds(
        lambda state, step, stability, difficulty, ago, reps, lapses: Memory(
            state,
            None if state == REVIEW else step,
            stability,
            difficulty,
            T0,
            T0 - ago,
            reps,
            lapses,
        ),
        st.sampled_from([LEARNING, REVIEW, RELEARNING]),
        st.integers(0, 1),
        st.floats(0.1, 400.0),
        st.floats(1.0, 10.0),
        st.timedeltas(timedelta(0), timedelta(days=900)),
        st.integers(1, 60),
        st.integers(0, 9),
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    MEMORIES,
    st.timedeltas(timedelta(0), timedelta(days=2)),
    st.timedeltas(timedelta(0), timedelta(hours=30)),
    st.booleans(),
    st.integers(1, 10**9),
)
def test_moved_outcomes_are_exactly_the_fresh_ones(
    memory: Memory, after: timedelta, waited: timedelta, fuzz: bool, card_id: int
) -> None:
    s = Settings(fuzz=fuzz)
    shown_at = T0 + after
    now = shown_at + waited
    moved = scheduling.moved(
        s, outcomes(s, memory, shown_at, card_id), memory, shown_at, memory, now
    )
    same_day = study_date(now, 4) == study_date(shown_at, 4)
    if moved is None:
        # Refused only across a rollover (a new card has no days to count).
        assert memory.state != NEW and not same_day
    else:
        assert moved == outcomes(s, memory, now, card_id)


def test_moved_refuses_a_changed_card_a_new_day_and_a_clock_before_the_last_review() -> None:
    review = Memory(REVIEW, None, 20.0, 5.0, T0, T0 - timedelta(days=12), 4, 0)
    shown = outcomes(NO_FUZZ, review, T0, 7)
    later = T0 + timedelta(seconds=5)
    assert scheduling.moved(NO_FUZZ, shown, review, T0, review, later) == outcomes(
        NO_FUZZ, review, later, 7
    )
    answered_elsewhere = replace(review, reps=5)
    assert scheduling.moved(NO_FUZZ, shown, review, T0, answered_elsewhere, later) is None
    # 12:00 UTC shown, 04:00 the next day (the default rollover) answered: one day more.
    next_day = T0 + timedelta(hours=16)
    assert study_date(next_day, 4) != study_date(T0, 4)
    assert scheduling.moved(NO_FUZZ, shown, review, T0, review, next_day) is None
    # The clock went back past the card's last review: review_time would move it.
    early = T0 - timedelta(days=13)
    assert scheduling.moved(NO_FUZZ, shown, review, T0, review, early) is None
