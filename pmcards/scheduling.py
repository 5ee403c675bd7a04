"""FSRS scheduling, as a pure function of (card memory, rating, now).

py-fsrs does the memory model; this module adds what it leaves to the application:
our "new" state, deterministic fuzz (so a previewed interval is the one you get), and Anki's
rule that a review card's four intervals strictly increase. A card's state and its
conversions live in `cardstate`; this module only turns a `Memory` into an FSRS card and
back. It imports neither SQLAlchemy nor the store.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from copy import copy
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from fsrs import Card as FsrsCard
from fsrs import Rating, Scheduler, State

from pmcards import clock
from pmcards.cardstate import NEW, REVIEW, Memory, after_answer, new_memory
from pmcards.settings import Settings

RATINGS = (Rating.Again, Rating.Hard, Rating.Good, Rating.Easy)
RATING_NAMES = {
    Rating.Again: "Again",
    Rating.Hard: "Hard",
    Rating.Good: "Good",
    Rating.Easy: "Easy",
}


@dataclass(frozen=True)
class Outcome:
    rating: Rating
    memory: Memory
    interval: timedelta


def to_fsrs(memory: Memory, card_id: int = 0) -> FsrsCard:
    if memory.state == NEW:
        return FsrsCard(card_id=card_id, state=State.Learning, step=0, due=memory.due)
    return FsrsCard(
        card_id=card_id,
        state=State(memory.state),
        step=memory.step,
        stability=memory.stability,
        difficulty=memory.difficulty,
        due=memory.due,
        last_review=memory.last_review,
    )


@lru_cache(maxsize=8)
def scheduler_for(settings: Settings) -> Scheduler:
    """One FSRS scheduler per distinct settings, built once per process."""
    return Scheduler(
        parameters=settings.fsrs_parameters(),
        desired_retention=settings.desired_retention,
        learning_steps=settings.learning_step_deltas(),
        relearning_steps=settings.relearning_step_deltas(),
        maximum_interval=settings.maximum_interval,
        enable_fuzzing=settings.fuzz,
    )


def elapsed_days(settings: Settings, last_review: datetime, now: datetime) -> int:
    """Whole study days from the day of `last_review` to the day of `now`: the elapsed time
    FSRS is given, as Anki gives it. Days run from the rollover hour in the user's zone, so
    an answer at 18:50 after one at 19:00 the evening before is one day later (not the 0
    days that 23.8 hours floor to), and one at 03:30 after one at 19:00 is the same day."""
    r = settings.rollover_hour
    return max(0, (clock.study_date(now, r) - clock.study_date(last_review, r)).days)


def on_grid(settings: Settings, fcard: FsrsCard, now: datetime) -> FsrsCard:
    """`fcard` as py-fsrs must see it at `now`: py-fsrs floors the raw time since the last
    review to whole days, so its last review is put exactly `elapsed_days` days before
    `now`. The time of day is kept, so due dates of learning steps are unchanged."""
    if fcard.last_review is None:
        return fcard
    new = copy(fcard)
    new.last_review = now - timedelta(days=elapsed_days(settings, fcard.last_review, now))
    return new


def retrievability(settings: Settings, memory: Memory, now: datetime) -> float:
    """FSRS's predicted probability of recall at `now` (0 for a card never reviewed), with
    the elapsed time counted in study days (`elapsed_days`)."""
    if memory.state == NEW:
        return 0.0
    fcard = on_grid(settings, to_fsrs(memory), now)
    return float(scheduler_for(settings).get_card_retrievability(fcard, now))


def recall_curve(settings: Settings) -> Callable[[int, float], float]:
    """FSRS's forgetting curve as a function of (whole days elapsed, stability): py-fsrs's
    own `get_card_retrievability` on one card reused, for the many calls of a fit."""
    scheduler = scheduler_for(settings)
    now = datetime(2000, 1, 1, tzinfo=UTC)
    card = FsrsCard(state=State.Review, stability=1.0, last_review=now)

    def recall(days: int, stability: float) -> float:
        card.stability = stability
        card.last_review = now - timedelta(days=days)
        return float(scheduler.get_card_retrievability(card, now))

    return recall


def natural_interval(settings: Settings, stability: float) -> int:
    """FSRS's interval in whole days for a card of this stability at the desired retention,
    before fuzz. (py-fsrs keeps this private; it is called here and nowhere else, so a later
    py-fsrs that renames it breaks one line.)"""
    scheduler = scheduler_for(replace(settings, fuzz=False))
    return int(scheduler._next_interval(stability=stability))


def outcomes(
    settings: Settings, memory: Memory, now: datetime, card_id: int
) -> dict[Rating, Outcome]:
    """What each of the four ratings would do to this card at `now`."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = review_time(memory, now)
    scheduler = scheduler_for(settings)
    fcard = on_grid(settings, to_fsrs(memory, card_id), now)
    raw: dict[Rating, FsrsCard] = {}
    # py-fsrs draws its fuzz from the module-level random(). Seeding it per (card, reps), as
    # Anki seeds its fuzz, makes the interval shown on a button the one the answer gives;
    # the global generator's state is restored afterwards.
    saved = random.getstate()
    try:
        for rating in RATINGS:
            random.seed(card_id * 7919 + memory.reps)
            raw[rating], _ = scheduler.review_card(fcard, rating, now)
    finally:
        random.setstate(saved)

    if memory.state == REVIEW:
        _spread_review_intervals(raw, now, settings.maximum_interval)

    return {
        rating: Outcome(rating, _after(memory, new, rating, now), new.due - now)
        for rating, new in raw.items()
    }


def moved(
    settings: Settings,
    previewed: dict[Rating, Outcome],
    shown: Memory,
    shown_at: datetime,
    memory: Memory,
    now: datetime,
) -> dict[Rating, Outcome] | None:
    """The outcomes `outcomes` gave at `shown_at`, moved to `now`: exactly what it would give
    at `now`, or None when that is not certain (then compute them afresh).

    py-fsrs sees a card only through its memory, the whole study days since its last review
    (`on_grid`) and the fuzz seed (card, answers); everything it returns is then the same
    but for the due date and the last review, which are `now` plus a fixed interval. So
    while the card is unchanged, the study days elapsed are the same and neither time is
    before the last review (`review_time` would move it), the outcomes differ only by
    `now - shown_at`. Saves the answer a quarter of a millisecond of FSRS.
    """
    if memory != shown or now.tzinfo is None or shown_at.tzinfo is None:
        return None
    last = memory.last_review
    if last is not None:
        if now < last or shown_at < last:
            return None
        # The same study day: the same whole days since the last review (`elapsed_days`).
        r = settings.rollover_hour
        if memory.state != NEW and clock.study_date(now, r) != clock.study_date(shown_at, r):
            return None
    delta = now - shown_at
    return {
        rating: Outcome(
            rating,
            replace(
                outcome.memory,
                due=outcome.memory.due + delta,
                last_review=now.astimezone(UTC),
            ),
            outcome.interval,
        )
        for rating, outcome in previewed.items()
    }


def _after(before: Memory, fcard: FsrsCard, rating: Rating, when: datetime) -> Memory:
    """The memory py-fsrs gave, as pmcards keeps it (answers and lapses counted)."""
    fsrs = Memory(
        state=int(fcard.state),
        step=fcard.step,
        stability=fcard.stability,
        difficulty=fcard.difficulty,
        due=fcard.due,
        last_review=when,
    )
    return after_answer(before, fsrs, int(rating), when)


def review_time(memory: Memory, now: datetime) -> datetime:
    """The time an answer given at `now` is recorded at: `now` in UTC, but never before the
    card's last review.

    The system clock can move backwards (a wrong clock corrected, a virtual machine
    restored). py-fsrs would then see a negative elapsed time, and the card would get a
    last review earlier than the one before and a due date before its last review. Taking
    the later of the two keeps each card's history in order and every interval positive;
    the cost is that an answer during a backwards jump counts as given at the last review.
    """
    now = now.astimezone(UTC)
    if memory.last_review is not None and now < memory.last_review:
        return memory.last_review.astimezone(UTC)
    return now


def _spread_review_intervals(
    raw: dict[Rating, FsrsCard], now: datetime, maximum_interval: int
) -> None:
    """Make Again < Hard < Good < Easy in whole days, as Anki does for review cards.

    py-fsrs rounds each interval on its own, so Hard and Good can land on the same day.
    """

    def days(card: FsrsCard) -> int:
        return round((card.due - now) / timedelta(days=1))

    floor = days(raw[Rating.Again]) if raw[Rating.Again].state == State.Review else 0
    for rating in (Rating.Hard, Rating.Good, Rating.Easy):
        wanted = min(max(days(raw[rating]), floor + 1), maximum_interval)
        card = raw[rating]
        if wanted != days(card):
            raw[rating] = replace_due(card, now + timedelta(days=wanted))
        floor = wanted


def replace_due(card: FsrsCard, due: datetime) -> FsrsCard:
    new = copy(card)
    new.due = due
    return new


def replay(
    settings: Settings, reviews: Sequence[tuple[datetime, int]]
) -> list[tuple[Memory, Memory]]:
    """Rebuild a card's FSRS memory from another program's answers: (time, rating 1-4) in
    order. Returns the memory before and after each answer. No fuzz: the same history always
    gives the same memory.
    """
    scheduler = scheduler_for(replace(settings, fuzz=False))
    first = reviews[0][0].astimezone(UTC) if reviews else _EPOCH
    memory = new_memory(first)
    fcard = to_fsrs(memory)
    out = []
    for when, rating in reviews:
        when = when.astimezone(UTC)
        fcard, _ = scheduler.review_card(on_grid(settings, fcard, when), Rating(rating), when)
        after = _after(memory, fcard, Rating(rating), when)
        out.append((memory, after))
        memory = after
    return out


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def format_interval(delta: timedelta) -> str:
    """Short human intervals, as on Anki's buttons: <1m, 10m, 3h, 4d, 2.5mo, 1.2y."""
    seconds = delta.total_seconds()
    if seconds < 60:
        return "<1m"
    minutes = seconds / 60
    if minutes < 60:
        return f"{round(minutes)}m"
    hours = minutes / 60
    if hours < 24:
        return f"{round(hours)}h"
    days = hours / 24
    if days < 30:
        return f"{round(days)}d"
    if days < 365:
        return f"{days / 30:.1f}mo".replace(".0mo", "mo")
    return f"{days / 365:.1f}y".replace(".0y", "y")


__all__ = [
    "RATINGS",
    "RATING_NAMES",
    "Outcome",
    "elapsed_days",
    "format_interval",
    "moved",
    "natural_interval",
    "on_grid",
    "outcomes",
    "replay",
    "retrievability",
    "review_time",
    "scheduler_for",
    "to_fsrs",
]
