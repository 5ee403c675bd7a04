"""A card's scheduling state, and every conversion of it: the one codec between a card row,
an FSRS memory and a review-log row.

Pure Python, no SQLAlchemy and no py-fsrs: `scheduling` turns a `Memory` into an FSRS card
and back; the storage modules turn rows into a `Memory` and a `Memory` into column values
only through the functions here. A new FSRS field or a new log column is a change here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any, Protocol


class State(IntEnum):
    """A card's state. FSRS has no "new" state (py-fsrs starts a card in Learning, step 0),
    so NEW is ours; LEARNING, REVIEW and RELEARNING are the numbers of `fsrs.State`, and
    Anki's card types use the same four numbers."""

    NEW = 0
    LEARNING = 1
    REVIEW = 2
    RELEARNING = 3

    @property
    def label(self) -> str:
        return self.name.lower()


NEW, LEARNING, REVIEW, RELEARNING = State.NEW, State.LEARNING, State.REVIEW, State.RELEARNING
STATE_NAMES: dict[int, str] = {s.value: s.label for s in State}
STATE_OF_NAME: dict[str, State] = {s.label: s for s in State}
# The card columns that hold its memory, in the order of `Memory`'s fields.
MEMORY_COLUMNS = (
    "state",
    "step",
    "stability",
    "difficulty",
    "due",
    "last_review",
    "reps",
    "lapses",
)
# The Again rating (1), as stored in the review log.
AGAIN = 1


@dataclass(frozen=True)
class Memory:
    """A card's scheduling state, detached from the database."""

    state: int
    step: int | None
    stability: float | None
    difficulty: float | None
    due: datetime
    last_review: datetime | None
    reps: int = 0
    lapses: int = 0


class HasMemory(Protocol):
    """A card row: anything with the memory columns as attributes."""

    @property
    def state(self) -> int: ...
    @property
    def step(self) -> int | None: ...
    @property
    def stability(self) -> float | None: ...
    @property
    def difficulty(self) -> float | None: ...
    @property
    def due(self) -> datetime: ...
    @property
    def last_review(self) -> datetime | None: ...
    @property
    def reps(self) -> int: ...
    @property
    def lapses(self) -> int: ...


def memory_of(card: HasMemory) -> Memory:
    """A card's memory, from a card row (or anything with the same columns)."""
    return Memory(
        state=card.state,
        step=card.step,
        stability=card.stability,
        difficulty=card.difficulty,
        due=card.due,
        last_review=card.last_review,
        reps=card.reps,
        lapses=card.lapses,
    )


def memory_values(memory: Memory) -> dict[str, Any]:
    """The card columns that hold a memory, for an UPDATE or an INSERT."""
    return {name: getattr(memory, name) for name in MEMORY_COLUMNS}


def new_memory(now: datetime) -> Memory:
    """The memory of a card never studied: due `now`, so it waits in deck order."""
    return Memory(state=NEW, step=None, stability=None, difficulty=None, due=now, last_review=None)


def lapsed(state_before: int, rating: int) -> bool:
    """The lapse rule: a review card answered Again has lapsed (as Anki counts lapses)."""
    return state_before == REVIEW and rating == AGAIN


def after_answer(before: Memory, fsrs: Memory, rating: int, when: datetime) -> Memory:
    """The memory after an answer: what FSRS gave (state, step, stability, difficulty, due)
    plus what pmcards counts (the answer's time, answers, lapses)."""
    return Memory(
        state=fsrs.state,
        step=fsrs.step,
        stability=fsrs.stability,
        difficulty=fsrs.difficulty,
        due=fsrs.due,
        last_review=when,
        reps=before.reps + 1,
        lapses=before.lapses + (1 if lapsed(before.state, rating) else 0),
    )


def log_values(
    before: Memory,
    after: Memory,
    *,
    rating: int,
    reviewed_at: datetime,
    duration_ms: int | None,
    source: str,
    leeched: bool = False,
) -> dict[str, Any]:
    """The review-log row of one answer: the card's memory before it, and what it left."""
    return {
        "rating": rating,
        "reviewed_at": reviewed_at,
        "duration_ms": duration_ms,
        "source": source,
        **{f"{name}_before": value for name, value in memory_values(before).items()},
        "state_after": after.state,
        "step_after": after.step,
        "stability_after": after.stability,
        "difficulty_after": after.difficulty,
        "due_after": after.due,
        "leeched": leeched,
    }


class HasLog(Protocol):
    """A review-log row."""

    @property
    def rating(self) -> int: ...
    @property
    def reviewed_at(self) -> datetime: ...
    @property
    def state_before(self) -> int: ...
    @property
    def step_before(self) -> int | None: ...
    @property
    def stability_before(self) -> float | None: ...
    @property
    def difficulty_before(self) -> float | None: ...
    @property
    def due_before(self) -> datetime: ...
    @property
    def last_review_before(self) -> datetime | None: ...
    @property
    def reps_before(self) -> int: ...
    @property
    def lapses_before(self) -> int: ...
    @property
    def state_after(self) -> int: ...
    @property
    def step_after(self) -> int | None: ...
    @property
    def stability_after(self) -> float: ...
    @property
    def difficulty_after(self) -> float: ...
    @property
    def due_after(self) -> datetime: ...


def memory_before(log: HasLog) -> Memory:
    """The card's memory before the answer a log row records (what undo restores)."""
    return Memory(
        state=log.state_before,
        step=log.step_before,
        stability=log.stability_before,
        difficulty=log.difficulty_before,
        due=log.due_before,
        last_review=log.last_review_before,
        reps=log.reps_before,
        lapses=log.lapses_before,
    )


def memory_after(log: HasLog) -> Memory:
    """The card's memory as the answer a log row records left it (what `check` expects)."""
    return Memory(
        state=log.state_after,
        step=log.step_after,
        stability=log.stability_after,
        difficulty=log.difficulty_after,
        due=log.due_after,
        last_review=log.reviewed_at,
        reps=log.reps_before + 1,
        lapses=log.lapses_before + (1 if lapsed(log.state_before, log.rating) else 0),
    )


def change_values(before: Memory, after: Memory) -> dict[str, Any]:
    """A `card_changes` row's memory columns: the card's memory before and after a change
    that no answer made (a plan, a mock, a fit, the user)."""
    return {
        **{f"{name}_before": value for name, value in memory_values(before).items()},
        **{f"{name}_after": value for name, value in memory_values(after).items()},
    }


def memory_after_change(row: Any) -> Memory:
    """The memory a `card_changes` row left the card with."""
    return Memory(*(getattr(row, f"{name}_after") for name in MEMORY_COLUMNS))


# -- Anki's scheduling ------------------------------------------------------------------------
# Anki keeps a learning card's place as the steps it has left (`left`, with today's count in
# the thousands on old schedulers); pmcards as the index of its step. Each is read against
# the count of steps of the side that reads it, as Anki itself does when a deck's steps
# change: a card with 2 steps left of Anki's 3 is at pmcards' step 1 of 3, or 0 of 2.


def step_from_remaining(remaining: int, steps: int) -> int:
    """Anki's steps left (`left`) as the index of a step among `steps` (Anki's rule)."""
    if steps <= 0:
        return 0
    return max(0, min(steps - remaining % 1000, steps - 1))


def remaining_from_step(step: int | None, steps: int) -> int:
    """A step index as Anki's steps left (`left`) among `steps` steps."""
    if step is None or steps <= 0:
        return 0
    return max(1, steps - step)


def carried_memory(
    *,
    state: int,
    due: datetime | None,
    stability: float | None,
    difficulty: float | None,
    interval_days: float | None,
    reps: int,
    lapses: int,
    last_review: datetime | None,
    step: int | None,
    replayed: Memory | None,
    now: datetime,
) -> Memory:
    """The memory of a card studied in another program (Anki): its own scheduling where it
    has it (FSRS memory, due date, last review, step), else what replaying its answers
    through FSRS gave (`replayed`), else a guess from its interval. Never due before its
    last review."""
    from datetime import timedelta

    last = replayed
    stability = stability or (last.stability if last else None) or interval_days or 1.0
    difficulty = difficulty or (last.difficulty if last else None) or 5.0
    due = due or (last.due if last else now)
    if last_review is None and last is not None:
        last_review = last.last_review
    if last_review is None:
        last_review = due - timedelta(days=interval_days or max(1.0, stability))
    if state not in (LEARNING, REVIEW, RELEARNING):
        state = REVIEW
    if state == REVIEW:
        step = None
    elif step is None:
        step = (last.step if last is not None and last.state == state else None) or 0
    return Memory(
        state=state,
        step=step,
        stability=stability,
        difficulty=difficulty,
        due=max(due, last_review),
        last_review=last_review,
        reps=max(reps, last.reps if last else 0),
        lapses=lapses,
    )


def anki_equivalent(
    mine: Memory, theirs: Memory, same_day: Callable[[datetime, datetime], bool]
) -> bool:
    """Whether two memories are the same as far as Anki's card can hold: the same state,
    step, answers and lapses; stability and difficulty equal to Anki's rounding (4 and 3
    places, as 32-bit floats); due on the same study day; the same last review to the
    second."""

    def close(a: float | None, b: float | None, places: int) -> bool:
        if a is None or b is None:
            return a is b
        tolerance: float = 0.5 / 10.0**places + abs(a) * 2.4e-7
        return abs(a - b) <= tolerance

    def same_second(a: datetime | None, b: datetime | None) -> bool:
        if a is None or b is None:
            return a is b
        return abs((a - b).total_seconds()) < 1

    if (mine.state, mine.step, mine.reps, mine.lapses) != (
        theirs.state,
        theirs.step,
        theirs.reps,
        theirs.lapses,
    ):
        return False
    if mine.state == NEW:
        return True  # a new card's place is its note's, not its memory's
    if not (
        close(mine.stability, theirs.stability, 4) and close(mine.difficulty, theirs.difficulty, 3)
    ):
        return False
    if not same_second(mine.last_review, theirs.last_review):
        return False
    # A due date Anki keeps as a day number (reviews, steps of a day or more) comes back as
    # the start of that day; one kept in seconds comes back to the second.
    return same_second(mine.due, theirs.due) or same_day(mine.due, theirs.due)
