"""Interview-date mode: schedule toward one day, so the chosen decks are recalled *on* it.

FSRS schedules for the long run: each interval is the time for recall to fall to the desired
retention. Before an interview that is the wrong question; what matters is the probability
of recall on the day. This module keeps py-fsrs as the memory model and post-processes its
outcomes for the cards in the plan's decks:

- After an answer, if the card's predicted recall at the interview (from its new
  stability) already reaches the target, FSRS's own interval stands: no more reviews needed.
- Otherwise the card needs another review before the day. If one more successful review
  is enough, the next due date is put in the window of days where a Good answer would lift
  recall on the day to the target, spread across that window per card (so the last days are
  not one pile); if not even a review on the last day would be enough, the card keeps
  FSRS's interval, cut to the last day before the interview, and is looked at again then.
- A due date is only ever moved earlier than FSRS's, so recall at every review stays at
  least the desired retention: the plan never trades more forgetting for fewer reviews.

After the day the caps stop; `release` gives the cards still pulled forward their FSRS due
dates back, spreading any backlog over a week, so the day after the interview is not a flood.

This module is the pure math: no SQL. Reading and writing the plan and its cards, and the
plan's life cycle (set, clear, release once passed), are `interview.py`'s.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from fsrs import Rating, State

from pmcards import scheduling
from pmcards.cardstate import NEW, REVIEW, Memory
from pmcards.clock import day_start, study_day
from pmcards.settings import Settings

DEFAULT_TARGET = 0.95
DEFAULT_MAX_NEW = 50
# Overdue cards left when a plan ends are spread over this many days, riskiest first.
RELEASE_SPREAD_DAYS = 7
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Plan:
    """The stored plan: the interview's local date, the recall aimed for, the decks."""

    interview: date
    target: float = DEFAULT_TARGET
    decks: tuple[str, ...] = ()  # empty: every deck
    max_new: int = DEFAULT_MAX_NEW  # the most new cards a day the plan may introduce
    released: bool = False  # the caps of a passed plan were undone

    def to_json(self) -> dict[str, Any]:
        return {
            "interview": self.interview.isoformat(),
            "target": self.target,
            "decks": list(self.decks),
            "max_new": self.max_new,
            "released": self.released,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Plan:
        return cls(
            interview=date.fromisoformat(value["interview"]),
            target=float(value.get("target", DEFAULT_TARGET)),
            decks=tuple(value.get("decks", ())),
            max_new=int(value.get("max_new", DEFAULT_MAX_NEW)),
            released=bool(value.get("released", False)),
        )

    def starts_at(self, settings: Settings, tz: tzinfo | None = None) -> datetime:
        """The instant the interview's study day starts: recall is predicted for it."""
        return day_start(self.interview, settings.rollover_hour, tz)


# -- the cap: a post-processing of scheduling.outcomes ---------------------------------------


@dataclass(frozen=True)
class Horizon:
    """A plan bound to an instant: what the scheduler needs to cap one card."""

    at: datetime  # the interview day's start, UTC
    aim: float  # the recall on the day each card is scheduled toward: the target

    @classmethod
    def of(cls, plan: Plan, settings: Settings, tz: tzinfo | None = None) -> Horizon:
        return cls(at=plan.starts_at(settings, tz), aim=plan.target)


def recall_at(settings: Settings, stability: float, last_review: datetime, at: datetime) -> float:
    """FSRS's predicted recall at `at` of a card last reviewed at `last_review`."""
    memory = Memory(REVIEW, None, stability, 5.0, at, last_review)
    return scheduling.retrievability(settings, memory, at)


def capped_outcomes(
    settings: Settings,
    horizon: Horizon,
    memory: Memory,
    now: datetime,
    card_id: int,
    raw: dict[Rating, scheduling.Outcome] | None = None,
) -> dict[Rating, scheduling.Outcome]:
    """`scheduling.outcomes` with each review interval capped for the interview.

    Hard <= Good <= Easy still holds; strictly where the window before the interview leaves
    room, but close to the day two buttons can give the same day (there is no later day
    left that keeps the card's recall on the interview at the aim).
    """
    if raw is None:
        raw = scheduling.outcomes(settings, memory, now, card_id)
    if now >= horizon.at:
        return raw
    days: dict[Rating, int] = {}
    limits: dict[Rating, int] = {}
    for rating, outcome in raw.items():
        after = outcome.memory
        if after.state != REVIEW or after.stability is None:
            continue
        natural = max(1, round(outcome.interval / _DAY))
        days[rating] = _capped_days(settings, horizon, after, now, natural, card_id)
        # The latest day this rating may take without leaving the card short on the day.
        limits[rating] = (
            natural if days[rating] == natural else min(natural, _last_day(horizon, now))
        )
    # Keep the buttons in order: a later rating never gives an earlier day than the one
    # before it (raising it stays within its limit, as FSRS's own intervals increase), and
    # a strictly later one where that limit leaves room.
    previous: int | None = None
    for rating in scheduling.RATINGS:
        if rating not in days:
            continue
        if previous is not None and days[rating] <= previous:
            days[rating] = previous + 1 if previous + 1 <= limits[rating] else previous
        previous = days[rating]
    result = dict(raw)
    for rating, d in days.items():
        outcome = raw[rating]
        natural = max(1, round(outcome.interval / _DAY))
        if d == natural:
            continue
        due = now + timedelta(days=d)
        result[rating] = replace(
            outcome, memory=replace(outcome.memory, due=due), interval=due - now
        )
    return result


def _last_day(horizon: Horizon, now: datetime) -> int:
    """The latest whole number of days from `now` that still falls before the interview
    day (at least 1: on the last day before it, the next review is the interview morning)."""
    return max(1, math.ceil((horizon.at - now) / _DAY) - 1)


def _capped_days(
    settings: Settings,
    horizon: Horizon,
    after: Memory,
    now: datetime,
    natural: int,
    card_id: int,
) -> int:
    assert after.stability is not None
    if now + timedelta(days=natural) < horizon.at:
        return natural  # due before the day anyway: decided again at that review
    if recall_at(settings, after.stability, now, horizon.at) >= horizon.aim:
        return natural  # enough for the day already: FSRS's interval stands
    last = _last_day(horizon, now)
    if horizon.at - now <= _DAY:
        return min(natural, last)

    def enough(d: int) -> bool:
        return _recall_after_good(settings, after, now + timedelta(days=d), horizon.at) >= (
            horizon.aim
        )

    if not enough(last):
        return min(natural, last)  # needs several more reviews: FSRS's pace, before the day
    lo, hi = 1, last  # recall on the day after a Good answer grows with the answer's day
    while lo < hi:
        mid = (lo + hi) // 2
        if enough(mid):
            hi = mid
        else:
            lo = mid + 1
    top = min(natural, last)
    if lo >= top:
        return top
    return lo + int(_spread(card_id, after.reps) * (top - lo + 1))


def _recall_after_good(settings: Settings, after: Memory, when: datetime, at: datetime) -> float:
    scheduler = scheduling.scheduler_for(replace(settings, fuzz=False))
    card = scheduling.to_fsrs(after)
    card.state = State.Review
    reviewed, _ = scheduler.review_card(card, Rating.Good, when)
    assert reviewed.stability is not None
    return recall_at(settings, reviewed.stability, when, at)


def _spread(card_id: int, reps: int) -> float:
    """A fixed fraction in [0, 1) per card and answer: where in its window a card lands."""
    digest = hashlib.blake2b(f"{card_id}:{reps}".encode(), digest_size=4).digest()
    return int.from_bytes(digest) / 2**32


# -- what the plan needs today ---------------------------------------------------------------


def intro_days(days_left: int) -> int:
    """Days over which the plan introduces its new cards: all but a lead at the end, so the
    last new card still has days of reviews before the interview."""
    lead = min(7, max(1, days_left // 4)) if days_left > 1 else 0
    return max(1, days_left - lead)


def new_per_day(settings: Settings, plan: Plan, new_left: int, days_left: int) -> int:
    """Today's new-card limit under the plan: raised as the days left need, up to max_new."""
    if days_left <= 0:
        return settings.new_per_day
    need = math.ceil(new_left / intro_days(days_left))
    return max(settings.new_per_day, min(plan.max_new, need))


def days_left(plan: Plan, settings: Settings, now: datetime, tz: tzinfo | None = None) -> int:
    """Study days left before the interview day, today included (0 once it has come)."""
    today = study_day(now, settings.rollover_hour, tz).date
    return max(0, (plan.interview - today).days)


# -- the forecast ------------------------------------------------------------------------


@dataclass
class Forecast:
    """The plan followed with every answer Good: reviews per day and recall on the day."""

    days: list[tuple[date, int, int]] = field(default_factory=list)  # (day, new, answers)
    recall: dict[int, float] = field(default_factory=dict)  # card id -> predicted on the day
    unlearned: int = 0  # new cards the plan cannot introduce in time
    new_per_day: int = 0

    def predicted(self) -> float:
        return sum(self.recall.values()) / len(self.recall) if self.recall else 1.0

    def below(self, target: float) -> int:
        return sum(1 for r in self.recall.values() if r < target)

    def peak(self) -> int:
        return max((answers for _, _, answers in self.days), default=0)


def forecast(
    settings: Settings,
    plan: Plan,
    cards: Iterable[tuple[int, Memory]],
    now: datetime,
    tz: tzinfo | None = None,
) -> Forecast:
    """Follow the plan day by day until the interview, answering every card Good.

    `cards`: the cards in the plan's decks (not suspended) with their memory, new ones in
    the order they would be introduced.
    """
    horizon = Horizon.of(plan, settings, tz)
    today = study_day(now, settings.rollover_hour, tz)
    n = days_left(plan, settings, now, tz)
    memories: dict[int, Memory] = {}
    new_queue: list[int] = []
    for card_id, memory in cards:
        if memory.state == NEW:
            new_queue.append(card_id)
        else:
            memories[card_id] = memory
    result = Forecast(new_per_day=new_per_day(settings, plan, len(new_queue), n))
    # A heap of (due, card id); an entry whose due no longer matches the card is stale.
    heap = [(m.due, cid) for cid, m in memories.items()]
    heapq.heapify(heap)
    for i in range(n):
        day = study_day(today.start + timedelta(days=i, hours=12), settings.rollover_hour, tz)
        at = now if i == 0 else now + timedelta(days=i)
        rate = new_per_day(settings, plan, len(new_queue), n - i)
        introduced = new_queue[:rate]
        del new_queue[:rate]
        for card_id in introduced:
            memories[card_id] = Memory(NEW, None, None, None, at, None)
            heapq.heappush(heap, (at, card_id))
        answers = 0
        while heap and heap[0][0] < day.end:
            due, cid = heapq.heappop(heap)
            memory = memories[cid]
            if memory.due != due:
                continue
            when = max(due, at)
            outcome = capped_outcomes(settings, horizon, memory, when, cid)[Rating.Good]
            memories[cid] = outcome.memory
            heapq.heappush(heap, (outcome.memory.due, cid))
            answers += 1
        result.days.append((day.date, len(introduced), answers))
    result.unlearned = len(new_queue)
    for cid, memory in memories.items():
        result.recall[cid] = scheduling.retrievability(settings, memory, horizon.at)
    for cid in new_queue:
        result.recall[cid] = 0.0
    return result


@dataclass(frozen=True)
class Status:
    plan: Plan
    days_left: int
    cards: int
    new_left: int
    forecast: Forecast
    review_limit: int  # the user's reviews_per_day

    @property
    def met(self) -> bool:
        return self.forecast.unlearned == 0 and self.forecast.predicted() >= self.plan.target

    def warnings(self) -> list[str]:
        """Why the target cannot be met, each with what to do about it."""
        plan, fc = self.plan, self.forecast
        out: list[str] = []
        if self.days_left == 0:
            return out
        if fc.unlearned:
            need = math.ceil(self.new_left / intro_days(self.days_left))
            out.append(
                f"{fc.unlearned} new cards cannot be introduced before the interview at "
                f"{plan.max_new} a day: allow more new cards a day (pmcards plan --interview "
                f"{plan.interview} --max-new {need}) or plan on fewer decks (--deck)."
            )
        if fc.predicted() < plan.target:
            out.append(
                f"The target of {plan.target:.0%} cannot be met with {self.days_left} days left: "
                f"predicted recall on the day is {fc.predicted():.1%}, "
                f"{fc.below(plan.target)} cards below the target. Plan on fewer decks "
                "(--deck), allow more new cards a day (--max-new), or lower --target."
            )
        if fc.peak() > self.review_limit:
            out.append(
                f"The busiest day needs {fc.peak()} answers, over your daily review limit of "
                f"{self.review_limit}: the plan lets its own cards past the limit."
            )
        return out

    def to_json(self) -> dict[str, Any]:
        fc = self.forecast
        return {
            "interview": self.plan.interview.isoformat(),
            "target": self.plan.target,
            "decks": list(self.plan.decks),
            "max_new": self.plan.max_new,
            "days_left": self.days_left,
            "cards": self.cards,
            "not_learned": self.new_left,
            "new_per_day": fc.new_per_day,
            "predicted_recall": round(fc.predicted(), 4),
            "below_target": fc.below(self.plan.target),
            "unlearned_on_the_day": fc.unlearned,
            "met": self.met,
            "forecast": [
                {"date": d.isoformat(), "new": new, "answers": answers}
                for d, new, answers in fc.days
            ],
            "warnings": self.warnings(),
        }


def format_status(st: Status) -> str:
    plan, fc = st.plan, st.forecast
    from pmcards.markup import safe

    scope = safe(", ".join(plan.decks)) if plan.decks else "all decks"
    lines = [
        f"Interview on {plan.interview} ({scope}): target recall {plan.target:.0%} on the day",
    ]
    if st.days_left == 0:
        lines.append("The interview day has come: scheduling is back to your desired retention.")
        return "\n".join(lines)
    lines += [
        f"Days left:        {st.days_left} (today included)",
        f"Cards in plan:    {st.cards}, not yet learned {st.new_left}"
        + (f" (new cards a day: {fc.new_per_day})" if st.new_left else ""),
        f"Predicted recall on the day, if followed: {fc.predicted():.1%}"
        + (" (every answer Good)" if st.cards else ""),
        "",
        "Day          new  answers",
    ]
    top = max(fc.peak(), 1)
    for d, new, answers in fc.days:
        bar = "█" * round(answers / top * 30)
        lines.append(f"{d:%a %d %b}   {new:>4}  {answers:>7}  {bar}")
    warnings = st.warnings()
    if warnings:
        lines.append("")
        lines += [f"Warning: {w}" for w in warnings]
    else:
        lines += ["", "On track: follow the daily reviews and the target is met."]
    return "\n".join(lines)


# -- the session's limits, and the end of a plan ------------------------------------------


@dataclass(frozen=True)
class Active:
    """A plan in force for a review session."""

    plan: Plan
    horizon: Horizon
    deck_ids: frozenset[int] | None  # None: every deck

    def covers(self, deck_id: int | None) -> bool:
        return self.deck_ids is None or deck_id in self.deck_ids


def planned_due(
    settings: Settings, horizon: Horizon, memory: Memory, now: datetime, card_id: int
) -> datetime | None:
    """The due date a review card gets when a plan starts, as if its last answer had been
    given under the plan: earlier than its own when its recall on the day would fall short,
    never before `now`. None when it stays as it is."""
    if memory.state != REVIEW or memory.stability is None or memory.last_review is None:
        return None
    if memory.due < horizon.at:
        return None  # due before the day: capped when it is answered
    natural = max(1, round((memory.due - memory.last_review) / _DAY))
    days = _capped_days(settings, horizon, memory, memory.last_review, natural, card_id)
    due = max(now, memory.last_review + timedelta(days=days))
    return due if due < memory.due else None


def released_due(settings: Settings, memory: Memory) -> datetime | None:
    """The due date FSRS gives a review card at the desired retention, or its own if that is
    later (a plan's caps only ever moved due dates earlier). None for other cards."""
    if memory.state != REVIEW or memory.stability is None or memory.last_review is None:
        return None
    natural = memory.last_review + timedelta(
        days=scheduling.natural_interval(settings, memory.stability)
    )
    return max(memory.due, natural)


def release_spread(overdue: list[tuple[float, int]], start: datetime) -> dict[int, datetime]:
    """Due dates for cards left overdue when a plan ends: (recall now, card id) pairs spread
    over RELEASE_SPREAD_DAYS from `start`, the riskiest first."""
    per_day = math.ceil(len(overdue) / RELEASE_SPREAD_DAYS) if overdue else 0
    return {
        card_id: start + timedelta(days=i // max(1, per_day))
        for i, (_, card_id) in enumerate(sorted(overdue))
    }


__all__ = [
    "DEFAULT_MAX_NEW",
    "DEFAULT_TARGET",
    "Active",
    "Forecast",
    "Horizon",
    "Plan",
    "Status",
    "capped_outcomes",
    "days_left",
    "forecast",
    "format_status",
    "intro_days",
    "new_per_day",
    "planned_due",
    "release_spread",
    "released_due",
]
