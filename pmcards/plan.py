"""Interview mode: schedule toward one moment, so the chosen decks are recalled *then*.

FSRS schedules for the long run: each interval is the time for recall to fall to the desired
retention. Before an interview that is the wrong question; what matters is the probability
of recall at the interview (its date and time). py-fsrs stays the memory model and computes
every answer; this module only chooses, after each answer of a card in the plan's decks,
*when* its next review comes, never later than FSRS's own due date:

- **Enough already.** If the card's recall at the interview, with its stability taken at the
  pessimistic end of what its answers so far tell (`robust_recall`), reaches the aim, FSRS's
  interval stands.
- **One more review will do.** The window of days on which one more Good answer lifts that
  pessimistic recall to the aim is found with py-fsrs, and the card goes to the day of the
  window with the fewest answers already booked under the daily budget (`--per-day`), ties
  spread per card. The window ends three evenings before the interview's day (END_FREE)
  while there are that many: the last two evenings stay for the cards still weak or
  forgotten the evening before, and a missed last evening costs the others little.
- **Several more reviews needed.** The card comes back when its pessimistic recall falls to
  the desired retention (so never later than FSRS's due date), on the least-booked day of the
  last third of that interval.

The budget is a cap on the days reviews are placed on: when every day of a card's window is
full, the card goes to the latest earlier day with room (a due date may always move earlier)
and comes back for another review. Keeping the buttons in order never pushes one onto a full
day or the last evening. A card's stability spread narrows with its answers and widens with
its lapses (LAPSE_WEIGHT).

This is simpler than the finite-horizon dynamic programme the issue suggests; the benchmark
(`bench/interview_sim.py`, figures in bench/RESULTS.md) decides whether it is enough.

After the interview the caps stop; `release` gives the cards still pulled forward their FSRS
due dates back, spreading any backlog over a week, so the day after is not a flood.

This module is the pure math: no SQL. Reading and writing the plan and its cards, and the
plan's life cycle (set, clear, release once passed), are `interview.py`'s.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any

from fsrs import Rating, State

from pmcards import scheduling
from pmcards.cardstate import NEW, REVIEW, Memory
from pmcards.clock import Day, study_day
from pmcards.settings import Settings

DEFAULT_TARGET = 0.95
DEFAULT_MAX_NEW = 50
# A date without a time of day means the interview is at 09:00, local time.
DEFAULT_TIME = time(9, 0)
# The spread (log scale) of a card's true stability around FSRS's estimate before any answer
# of its own; each answer narrows it (divided by the square root of the card's answers).
PRIOR_SIGMA = 0.5
# The learner's own forgetting: a factor on all of FSRS's stabilities, fitted to the
# learner's answers to review cards (`learner_scale`). Its prior spread (log scale): a
# learner's memory is rarely twice or half FSRS's default; the log's answers narrow it.
SCALE_PRIOR = 0.4
# The learner's latest answers the factor is fitted to: enough to pin it down, bounded work.
SCALE_ANSWERS = 1000
# A learner factor this far from 1 (log scale; about 10%) is shown by `pmcards plan`.
LEARNER_SHOWN = 0.1
# How much each lapse widens a card's spread.
LAPSE_WEIGHT = 0.5
# Evenings at the end kept free of the final reviews planned days ahead (the last one, and
# the one before it for the cards still weak or forgotten the evening before).
END_FREE = 3
# Days at the end of a plan without new cards (half the days of a shorter plan).
INTRO_LEAD = 7
# Overdue cards left when a plan ends are spread over this many days, riskiest first.
RELEASE_SPREAD_DAYS = 7
# Answers a new card brings on its first days (its first answer, learning steps, the next
# day's review), booked ahead on the days it will be introduced.
NEW_CARD_ANSWERS = 2.5
# How far below the aim a final review may leave a card's pessimistic recall when the days
# that reach the aim are over the budget.
AIM_SLACK = 0.02
# Simulated runs behind the forecast's range.
FORECAST_RUNS = 5
# A plan over more cards is forecast from a fixed sample of this many, its answers scaled
# up: each simulated answer costs py-fsrs work, and a plan over a lifetime's collection
# (190,000 cards) took over 10 minutes to forecast whole.
FORECAST_CARDS = 2000
_DAY = timedelta(days=1)


# -- the interview's moment --------------------------------------------------------------


def parse_moment(text: str, tz: tzinfo | None = None) -> tuple[date, datetime]:
    """`2026-12-14T10:00`, `2026-12-14 10:00` or `2026-12-14` (09:00) in local time: the
    local date and the UTC instant. ValueError with what is accepted otherwise."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            local = datetime.combine(day, DEFAULT_TIME)
        else:
            local = datetime.fromisoformat(value.replace(" ", "T", 1))
            if local.tzinfo is not None or local.second or local.microsecond:
                raise ValueError(value)
    except ValueError:
        raise ValueError(
            f"--interview {text[:40]!r} is not a date and time: give YYYY-MM-DD, "
            "YYYY-MM-DDTHH:MM or 'YYYY-MM-DD HH:MM' (local time)"
        ) from None
    return local.date(), local_instant(local, tz)


def local_instant(local: datetime, tz: tzinfo | None) -> datetime:
    """A naive local wall-clock time as a UTC instant (`tz` None: the system's zone)."""
    aware = local.replace(tzinfo=tz) if tz is not None else local.astimezone()
    return aware.astimezone(UTC)


@dataclass(frozen=True)
class Plan:
    """The stored plan: the interview's local date and instant, the recall aimed for, the
    decks, the daily budget."""

    interview: date
    target: float = DEFAULT_TARGET
    decks: tuple[str, ...] = ()  # empty: every deck
    max_new: int = DEFAULT_MAX_NEW  # the most new cards a day the plan may introduce
    released: bool = False  # the caps of a passed plan were undone
    at: datetime | None = None  # the interview's instant, UTC; None: 09:00 local that day
    per_day: int | None = None  # answers a day the plan may ask; None: `default_budget`
    per_day_given: bool = False  # per_day was given (--per-day), not the default

    def to_json(self) -> dict[str, Any]:
        return {
            "interview": self.interview.isoformat(),
            "at": self.at.isoformat() if self.at is not None else None,
            "target": self.target,
            "decks": list(self.decks),
            "max_new": self.max_new,
            "per_day": self.per_day,
            "per_day_given": self.per_day_given,
            "released": self.released,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Plan:
        at = value.get("at")
        per_day = value.get("per_day")
        return cls(
            interview=date.fromisoformat(value["interview"]),
            target=float(value.get("target", DEFAULT_TARGET)),
            decks=tuple(value.get("decks", ())),
            max_new=int(value.get("max_new", DEFAULT_MAX_NEW)),
            released=bool(value.get("released", False)),
            at=datetime.fromisoformat(at).astimezone(UTC) if at else None,
            per_day=int(per_day) if per_day is not None else None,
            per_day_given=bool(value.get("per_day_given", False)),
        )

    def starts_at(self, settings: Settings, tz: tzinfo | None = None) -> datetime:
        """The interview's instant, UTC: recall is predicted for it."""
        if self.at is not None:
            return self.at
        return local_instant(datetime.combine(self.interview, DEFAULT_TIME), tz)

    def day(self, settings: Settings, tz: tzinfo | None = None) -> date:
        """The study day the interview falls in."""
        return study_day(self.starts_at(settings, tz), settings.rollover_hour, tz).date


def default_budget(pace: int, studied: int, days: int) -> int:
    """Answers a day when `--per-day` is not given, fixed when the plan is set: four per new
    card of a day's introductions (`pace`; about what plain FSRS asks at its busiest while
    cards are being learned) and two per studied card over the days left; at least 10."""
    return max(10, math.ceil(4 * pace + 2 * studied / max(1, days)))


# -- the choice of the next review: a post-processing of scheduling.outcomes ----------------


@dataclass(frozen=True)
class Horizon:
    """A plan bound to an instant: what the scheduler needs to place one card's next review.

    `load` holds the answers already booked per study day (the plan's cards due that day);
    it is shared and updated as answers are given (`book`)."""

    at: datetime  # the interview, UTC
    aim: float  # the recall at the interview each card is scheduled toward: the target
    day: date  # the interview's study day
    rollover: int
    tz: tzinfo | None = None
    budget: int = 0  # answers a day; 0: no budget
    load: dict[date, int] = field(default_factory=dict, compare=False, hash=False)
    sigma: float = PRIOR_SIGMA
    learner: float = 1.0  # the learner's stabilities against FSRS's (`learner_scale`)

    @classmethod
    def of(
        cls,
        plan: Plan,
        settings: Settings,
        tz: tzinfo | None = None,
        budget: int = 0,
        load: dict[date, int] | None = None,
        learner: float = 1.0,
    ) -> Horizon:
        return cls(
            at=plan.starts_at(settings, tz),
            aim=plan.target,
            day=plan.day(settings, tz),
            rollover=settings.rollover_hour,
            tz=tz,
            budget=budget,
            load=load if load is not None else {},
            learner=learner,
        )

    def expect_new(
        self, today: date, new_left: int, days: int, per_day: int, share: float = 1.0
    ) -> None:
        """Book the answers the new cards not yet introduced will bring on each coming day
        of their introduction (NEW_CARD_ANSWERS each), so reviews are not placed there as if
        those days were free. `share`: the part of the cards this horizon books for (a
        forecast's sample)."""
        for i in range(1, days):
            if new_left <= 0:
                break
            take = min(per_day, new_left)
            new_left -= take
            day = today + timedelta(days=i)
            self.load[day] = self.load.get(day, 0) + round(take * NEW_CARD_ANSWERS * share)

    def book(self, due: datetime) -> None:
        """Count one more answer on the study day of `due`."""
        if due < self.at:
            day = study_day(due, self.rollover, self.tz).date
            self.load[day] = self.load.get(day, 0) + 1

    def book_many(self, dues: Iterable[datetime]) -> None:
        """`book` each of `dues`, working out each study day once rather than once a card
        (study days partition time: every due inside a day's bounds is on that day)."""
        day: Day | None = None
        for due in sorted(d for d in dues if d < self.at):
            if day is None or not day.start <= due < day.end:
                day = study_day(due, self.rollover, self.tz)
            self.load[day.date] = self.load.get(day.date, 0) + 1


def recall_at(settings: Settings, stability: float, last_review: datetime, at: datetime) -> float:
    """FSRS's predicted recall at `at` of a card last reviewed at `last_review`."""
    memory = Memory(REVIEW, None, stability, 5.0, at, last_review)
    return scheduling.retrievability(settings, memory, at)


def learner_scale(settings: Settings, answers: Iterable[tuple[int, float, bool]]) -> float:
    """The factor on FSRS's stabilities that best explains the learner's own answers to
    review cards: (whole days since the card's last answer, its stability then, recalled),
    the most likely factor under a LogNormal(0, SCALE_PRIOR) prior (1.0 with no answers),
    held within e^(±3 SCALE_PRIOR) (0.30 to 3.3): past that, FSRS's parameters themselves
    are wrong for the learner, which one factor cannot mend (`pmcards optimize` can).

    FSRS's default parameters describe an average learner; one who forgets faster than
    that has every card weaker than FSRS thinks, and a plan for a fixed day must know it
    before the day, not after. A single factor is what a few hundred answers can pin down
    (`pmcards optimize` fits all of FSRS's parameters, given thousands)."""
    # An answer the same study day says nothing of the factor: FSRS predicts recall 1 then.
    items = [
        (d, stability, recalled) for d, stability, recalled in answers if d > 0 and stability > 0
    ]
    if not items:
        return 1.0
    curve = scheduling.recall_curve(settings)

    def score(u: float) -> float:
        factor = math.exp(u)
        total = -0.5 * (u / SCALE_PRIOR) ** 2
        for days, stability, recalled in items:
            r = min(max(curve(days, stability * factor), 1e-6), 1 - 1e-6)
            total += math.log(r if recalled else 1 - r)
        return total

    # The score is concave enough in log(factor) for a golden-section search.
    lo, hi = -3 * SCALE_PRIOR, 3 * SCALE_PRIOR
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = score(a), score(b)
    while hi - lo > 0.01:
        if fa < fb:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = score(b)
        else:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = score(a)
    return math.exp((lo + hi) / 2)


def card_sigma(horizon: Horizon, reps: int, lapses: int = 0) -> float:
    """The spread of a card's true stability after `reps` answers of its own, `lapses` of
    them forgotten: each lapse says the card is harder than FSRS's model thought."""
    return horizon.sigma * (1 + LAPSE_WEIGHT * lapses) / math.sqrt(max(1, reps))


def robust_recall(settings: Settings, horizon: Horizon, memory: Memory) -> float:
    """Recall at the interview with the card's stability one spread below FSRS's estimate:
    hard and new cards (few answers, a wide spread) get margin."""
    assert memory.stability is not None and memory.last_review is not None
    sigma = card_sigma(horizon, memory.reps, memory.lapses)
    low = memory.stability * horizon.learner * math.exp(-sigma)
    return recall_at(settings, low, memory.last_review, horizon.at)


def capped_outcomes(
    settings: Settings,
    horizon: Horizon,
    memory: Memory,
    now: datetime,
    card_id: int,
    raw: dict[Rating, scheduling.Outcome] | None = None,
) -> dict[Rating, scheduling.Outcome]:
    """`scheduling.outcomes` with each review's next due date placed for the interview.

    Hard <= Good <= Easy still holds; strictly where the window before the interview leaves
    room, but close to the day two buttons can give the same day.
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
        days[rating] = next_review(settings, horizon, after, now, natural, card_id)
        # The latest day this rating may take without leaving the card short on the day.
        limits[rating] = natural if days[rating] == natural else min(natural, _last(horizon, now))
    # Keep the buttons in order: a later rating never gives an earlier day than the one
    # before it (raising it stays within its limit, as FSRS's own intervals increase), and
    # a strictly later one where that limit leaves room.
    today = study_day(now, horizon.rollover, horizon.tz).date
    previous: int | None = None
    for rating in scheduling.RATINGS:
        if rating not in days:
            continue
        if previous is not None and days[rating] <= previous:
            later = previous + 1
            if later > limits[rating] or (
                horizon.budget and _booked(horizon, today, later) >= horizon.budget
            ):
                later = previous  # the same day: the next one is full, or too late
            days[rating] = later
        previous = days[rating]
    result = dict(raw)
    for rating, d in days.items():
        outcome = raw[rating]
        natural = max(1, round(outcome.interval / _DAY))
        if d >= natural:
            continue
        due = now + timedelta(days=d)
        result[rating] = replace(
            outcome, memory=replace(outcome.memory, due=due), interval=due - now
        )
    return result


def _last(horizon: Horizon, now: datetime) -> int:
    """The latest day (from `now`) a button may be pushed to to keep the buttons in order:
    the evening before the last one while there are two evenings left, else the last (at
    least 1). Not the last evening: a Good pushed there past a Hard was lost whenever that
    evening was missed."""
    today = study_day(now, horizon.rollover, horizon.tz).date
    left = (horizon.day - today).days
    return max(1, left - 2 if left >= 3 else left - 1)


def next_review(
    settings: Settings,
    horizon: Horizon,
    after: Memory,
    now: datetime,
    natural: int,
    card_id: int,
) -> int:
    """Days from `now` to the next review of a card just answered (memory `after`), at most
    FSRS's `natural` interval."""
    assert after.stability is not None
    today = study_day(now, horizon.rollover, horizon.tz).date
    left = (horizon.day - today).days  # days from today to the interview's day
    if left <= 0:
        return natural  # the interview is today
    if natural < left:
        # FSRS's due date comes before the interview: kept, unless that day is over the
        # budget or the last evening; then the latest day before it that is neither.
        lo = max(1, min(natural - 1, math.ceil(natural * 3 / 4)))
        # Not in the last END_FREE - 1 evenings either when the window reaches earlier: those
        # are for the cards still weak or forgotten, and a review there that lapses has no
        # evening left to recover (the busiest days were those evenings).
        free = left - END_FREE
        hi = free if natural > free >= lo else natural
        return _quietest(horizon, today, card_id, after.reps, lo, hi, last=left - 1, latest=True)
    if robust_recall(settings, horizon, after) >= horizon.aim:
        return natural  # enough for the interview already: FSRS's interval stands
    if left < 2:
        return 1  # the interview is tomorrow: its morning
    # The last review a card is planned for: END_FREE evenings before the interview's day
    # while there are that many (fewer, as few are left): a missed last evening then costs
    # little, and the last two evenings are for the cards still weak or forgotten.
    last = left - END_FREE if left > END_FREE else left - 2 if left >= 3 else left - 1

    def enough(d: int, aim: float) -> bool:
        return _robust_after_good(settings, horizon, after, now, d) >= aim

    if not enough(last, horizon.aim):
        # Several reviews to go: next when the pessimistic recall falls to the desired
        # retention (never later than FSRS's own interval), on a quiet day before that.
        sigma = card_sigma(horizon, after.reps, after.lapses)
        low = after.stability * horizon.learner * math.exp(-sigma)
        safe = last - 1 if last >= 2 else last
        d = max(1, min(natural, safe, scheduling.natural_interval(settings, low)))
        return _quietest(horizon, today, card_id, after.reps, max(1, math.ceil(d * 2 / 3)), d)
    lo = _earliest(last, lambda d: enough(d, horizon.aim))
    slack = _earliest(lo, lambda d: enough(d, horizon.aim - AIM_SLACK))
    return _quietest(horizon, today, card_id, after.reps, slack, last, aim_from=lo, last=last)


def _earliest(hi: int, ok: Callable[[int], bool]) -> int:
    """The first day in [1, hi] for which `ok` holds (it holds from some day on, and at
    `hi`): recall at the interview after a Good answer grows with the answer's day."""
    lo = 1
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _quietest(
    horizon: Horizon,
    today: date,
    card_id: int,
    reps: int,
    lo: int,
    hi: int,
    *,
    aim_from: int | None = None,
    last: int | None = None,
    latest: bool = False,
) -> int:
    """The day in [lo, hi] (days from today) for the next review. In order of preference:
    not the last evening (a missed last evening then costs little, and that evening stays
    free for the cards forgotten the evening before); a day under the budget; from
    `aim_from` on (the full aim; days before it reach it but for AIM_SLACK); the fewest
    answers booked (or, `latest`, the latest day); a fixed per-card draw, so a deck spreads
    over the window."""
    hi = max(lo, hi)
    pick = lo + int(_spread(card_id, reps) * (hi - lo + 1))
    start = aim_from if aim_from is not None else lo

    def cost(d: int) -> tuple[int, int, int, int, int]:
        booked = horizon.load.get(today + timedelta(days=d), 0)
        over = 1 if horizon.budget and booked >= horizon.budget else 0
        evening = 1 if d == last and last > 1 else 0
        if latest:
            return (evening, over, 0, 0, hi - d)
        return (
            evening,
            over,
            1 if d < start else 0,
            booked if horizon.budget else 0,
            abs(d - pick),
        )

    best = min(range(lo, hi + 1), key=cost)
    if horizon.budget and _booked(horizon, today, best) >= horizon.budget:
        # Every day of the window is full: the budget is a cap, so the latest earlier day
        # with room (a due date may always move earlier); the card then comes back for
        # another review, placed the same way.
        for d in range(lo - 1, 0, -1):
            if _booked(horizon, today, d) < horizon.budget:
                return d
    return best


def _booked(horizon: Horizon, today: date, d: int) -> int:
    return horizon.load.get(today + timedelta(days=d), 0)


def _robust_after_good(
    settings: Settings, horizon: Horizon, after: Memory, now: datetime, days: int
) -> float:
    """The pessimistic recall at the interview after a Good answer `days` after `now`."""
    assert after.stability is not None and after.difficulty is not None
    when = now + timedelta(days=days)
    stability = _stability_after_good(settings, after.stability, after.difficulty, days)
    low = stability * horizon.learner * math.exp(-card_sigma(horizon, after.reps + 1, after.lapses))
    return recall_at(settings, low, when, horizon.at)


@lru_cache(maxsize=65536)
def _stability_after_good(
    settings: Settings, stability: float, difficulty: float, days: int
) -> float:
    """py-fsrs's stability after a Good answer to a review card `days` after its last one."""
    scheduler = scheduling.scheduler_for(replace(settings, fuzz=False))
    last = datetime(2000, 1, 1, 12, tzinfo=UTC)
    when = last + timedelta(days=days)
    card = scheduling.to_fsrs(Memory(REVIEW, None, stability, difficulty, when, last))
    card.state = State.Review
    reviewed, _ = scheduler.review_card(card, Rating.Good, when)
    assert reviewed.stability is not None
    return float(reviewed.stability)


def _spread(card_id: int, reps: int) -> float:
    """A fixed fraction in [0, 1) per card and answer: where in its window a card lands."""
    digest = hashlib.blake2b(f"{card_id}:{reps}".encode(), digest_size=4).digest()
    return int.from_bytes(digest) / 2**32


# -- what the plan needs today ---------------------------------------------------------------


def intro_days(days_left: int) -> int:
    """Days over which the plan introduces its new cards: all but a lead at the end, so the
    last new card still has days of reviews before the interview: INTRO_LEAD days, or the
    second half of a shorter plan (two weeks: seven days of new cards, seven to make them
    strong; a card learned in the last few days cannot be made strong enough, whatever
    its reviews)."""
    lead = min(INTRO_LEAD, max(1, days_left // 2)) if days_left > 1 else 0
    return max(1, days_left - lead)


def new_per_day(settings: Settings, plan: Plan, new_left: int, days_left: int) -> int:
    """Today's new-card limit under the plan: raised as the days left need, up to max_new."""
    if days_left <= 0:
        return settings.new_per_day
    need = math.ceil(new_left / intro_days(days_left))
    return max(settings.new_per_day, min(plan.max_new, need))


def days_left(plan: Plan, settings: Settings, now: datetime, tz: tzinfo | None = None) -> int:
    """Study days left before the interview's study day, today included (0 once it has
    come)."""
    today = study_day(now, settings.rollover_hour, tz).date
    return max(0, (plan.day(settings, tz) - today).days)


# -- the forecast ------------------------------------------------------------------------


@dataclass(frozen=True)
class Mix:
    """How a learner rates: a new card's first answer (Again, Hard, Good, Easy), and a card
    recalled (Hard, Good, Easy). `answers`: how many answers of the log it comes from (0: the
    default, before there is a log)."""

    first: tuple[float, float, float, float] = (0.25, 0.10, 0.55, 0.10)
    recalled: tuple[float, float, float] = (0.10, 0.80, 0.10)
    answers: int = 0

    def draw_first(self, rng: random.Random) -> Rating:
        return rng.choices(scheduling.RATINGS, weights=self.first)[0]

    def draw_recalled(self, rng: random.Random) -> Rating:
        return rng.choices(scheduling.RATINGS[1:], weights=self.recalled)[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "first": [round(p, 3) for p in self.first],
            "recalled": [round(p, 3) for p in self.recalled],
            "answers": self.answers,
        }


DEFAULT_MIX = Mix()


@dataclass
class Forecast:
    """The plan followed in simulated runs (ratings drawn from a `Mix`, recall from FSRS's
    model): answers per day as a range, and the predicted recall at the interview."""

    # (day, new cards, fewest answers, median, most) over the runs
    days: list[tuple[date, int, int, int, int]] = field(default_factory=list)
    recall: dict[int, float] = field(default_factory=dict)  # card id -> mean over the runs
    totals: list[int] = field(default_factory=list)  # answers before the interview, per run
    unlearned: int = 0  # new cards the plan cannot introduce in time
    new_per_day: int = 0
    runs: int = 0
    # The cards simulated when the plan has more than FORECAST_CARDS (None: all of them);
    # `recall` then holds theirs, and the answers are scaled up to the whole plan.
    sampled: int | None = None
    scale: float = 1.0

    def predicted(self) -> float:
        return sum(self.recall.values()) / len(self.recall) if self.recall else 1.0

    def below(self, target: float) -> int:
        return round(sum(1 for r in self.recall.values() if r < target) * self.scale)

    def peak(self) -> int:
        """The busiest day at the high end of the range."""
        return max((high for *_, high in self.days), default=0)

    def total(self) -> tuple[int, int]:
        return (min(self.totals), max(self.totals)) if self.totals else (0, 0)


def forecast(
    settings: Settings,
    plan: Plan,
    cards: Iterable[tuple[int, Memory]],
    now: datetime,
    tz: tzinfo | None = None,
    *,
    mix: Mix = DEFAULT_MIX,
    budget: int = 0,
    runs: int = FORECAST_RUNS,
    count: int | None = None,
    learner: float = 1.0,
) -> Forecast:
    """Follow the plan day by day until the interview, `runs` times, with answers drawn from
    `mix` and recall from FSRS's model with the learner's factor on its stabilities
    (`learner_scale`); each run is seeded, so the forecast is repeatable.

    `cards`: the cards in the plan's decks (not suspended) with their memory, new ones in
    the order they would be introduced. Given their `count`, they are read once as they
    come and only the sample simulated is kept (a plan over a lifetime's collection covers
    190,000 cards).
    """
    if count is None:
        cards = list(cards)
        count = len(cards)
    # The sample depends on the count alone: chosen once, by a fixed seed, in study order,
    # so the forecast stays repeatable.
    picked = (
        frozenset(random.Random(0).sample(range(count), FORECAST_CARDS))
        if count > FORECAST_CARDS
        else None
    )
    simulated: list[tuple[int, Memory]] = []
    order: dict[int, int] = {}  # a simulated new card's place among all the plan's new cards
    new_count = 0
    for i, (cid, memory) in enumerate(cards):
        if picked is None or i in picked:
            simulated.append((cid, memory))
            if memory.state == NEW:
                order[cid] = new_count
        if memory.state == NEW:
            new_count += 1
    n = days_left(plan, settings, now, tz)
    result = Forecast(new_per_day=new_per_day(settings, plan, new_count, n), runs=runs)
    # New cards come in study order at the whole plan's pace: by the end of day i the
    # first `introduced[i]` of them (the sample's among them, when sampled).
    introduced: list[int] = []
    for i in range(n):
        done = introduced[-1] if introduced else 0
        introduced.append(
            min(new_count, done + new_per_day(settings, plan, new_count - done, n - i))
        )
    if picked is not None:
        result.sampled, result.scale = FORECAST_CARDS, count / FORECAST_CARDS
    per_run: list[list[int]] = []
    recall: dict[int, float] = {cid: 0.0 for cid, _ in simulated}
    dates: list[date] = []
    for run in range(runs):
        days, run_recall = _one_run(
            settings, plan, simulated, now, tz, mix, budget, random.Random(run),
            introduced, order, new_count, result.scale, learner,
        )  # fmt: skip
        per_run.append([round(answers * result.scale) for _, answers in days])
        dates = [d for d, _ in days]
        for cid, r in run_recall.items():
            recall[cid] += r / runs
    result.unlearned = new_count - (introduced[-1] if introduced else 0)
    for i, day in enumerate(dates):
        counts = sorted(run_days[i] for run_days in per_run)
        new = introduced[i] - (introduced[i - 1] if i else 0)
        result.days.append((day, new, counts[0], counts[len(counts) // 2], counts[-1]))
    result.totals = [sum(run_days) for run_days in per_run]
    result.recall = recall
    return result


def _one_run(
    settings: Settings,
    plan: Plan,
    cards: Sequence[tuple[int, Memory]],
    now: datetime,
    tz: tzinfo | None,
    mix: Mix,
    budget: int,
    rng: random.Random,
    introduced: Sequence[int],
    order: dict[int, int],
    new_count: int,
    scale: float,
    learner: float,
) -> tuple[list[tuple[date, int]], dict[int, float]]:
    """One simulated run over `cards` (the plan's, or a sample standing for `scale` times
    as many): (day, answers) for each day, and each card's recall at the interview."""
    # A sample books its own answers against its share of the budget.
    share = 1 / scale
    horizon = Horizon.of(
        plan, settings, tz, max(1, round(budget * share)) if budget else 0, learner=learner
    )
    today = study_day(now, settings.rollover_hour, tz)
    n = days_left(plan, settings, now, tz)
    memories: dict[int, Memory] = {}
    new_queue: list[int] = []
    for card_id, memory in cards:
        if memory.state == NEW:
            new_queue.append(card_id)
        else:
            memories[card_id] = memory
            horizon.book(memory.due)
    # A heap of (due, card id); an entry whose due no longer matches the card is stale.
    heap = [(m.due, cid) for cid, m in memories.items()]
    heapq.heapify(heap)
    days: list[tuple[date, int]] = []
    pace = introduced[0] if introduced else 0
    horizon.expect_new(today.date, new_count - pace, n, pace, share)
    for i in range(n):
        day = study_day(today.start + timedelta(days=i, hours=12), settings.rollover_hour, tz)
        at = now if i == 0 else now + timedelta(days=i)
        take = 0
        while take < len(new_queue) and order[new_queue[take]] < introduced[i]:
            take += 1
        for card_id in new_queue[:take]:
            memories[card_id] = Memory(NEW, None, None, None, at, None)
            heapq.heappush(heap, (at, card_id))
        del new_queue[:take]
        answers = 0
        while heap and heap[0][0] < day.end:
            due, cid = heapq.heappop(heap)
            memory = memories[cid]
            if memory.due != due:
                continue
            when = max(due, at)
            if memory.state == NEW:
                rating = mix.draw_first(rng)
            elif rng.random() < _recall(settings, memory, when, learner):
                rating = mix.draw_recalled(rng)
            else:
                rating = Rating.Again
            outcome = scheduling.outcomes(settings, memory, when, cid)[rating]
            after = outcome.memory
            if after.state == REVIEW and after.stability is not None:
                natural = max(1, round(outcome.interval / _DAY))
                d = next_review(settings, horizon, after, when, natural, cid)
                if d < natural:
                    after = replace(after, due=when + timedelta(days=d))
            memories[cid] = after
            horizon.book(after.due)
            heapq.heappush(heap, (after.due, cid))
            answers += 1
        days.append((day.date, answers))
    recall = {cid: _recall(settings, m, horizon.at, learner) for cid, m in memories.items()}
    recall.update({cid: 0.0 for cid in new_queue})
    return days, recall


def _recall(settings: Settings, memory: Memory, at: datetime, learner: float) -> float:
    """FSRS's predicted recall at `at`, the card's stability times the learner's factor."""
    if learner != 1.0 and memory.stability is not None:
        memory = replace(memory, stability=memory.stability * learner)
    return scheduling.retrievability(settings, memory, at)


@dataclass(frozen=True)
class Status:
    plan: Plan
    days_left: int
    cards: int
    new_left: int
    forecast: Forecast
    review_limit: int  # the user's reviews_per_day
    budget: int = 0  # answers a day the plan may ask (given, or the default)
    suspended: int = 0  # cards of the plan's decks that are suspended
    leeches: int = 0  # cards of the plan's decks whose note is tagged leech
    mix: Mix = DEFAULT_MIX
    at: datetime | None = None  # the interview's instant, UTC
    learner: float = 1.0  # the learner's factor on FSRS's stabilities (`learner_scale`)

    @property
    def met(self) -> bool:
        fc = self.forecast
        return (
            fc.unlearned == 0
            and fc.predicted() >= self.plan.target
            and (not self.budget or fc.peak() <= self.budget)
        )

    def warnings(self) -> list[str]:
        """Why the target cannot be met, each with what would meet it."""
        plan, fc = self.plan, self.forecast
        out: list[str] = []
        if self.days_left == 0:
            return out
        if self.suspended or self.leeches:
            out.append(
                f"{self.suspended} cards of the plan are suspended and {self.leeches} are "
                "leeches (tagged leech): suspended cards are not studied and are left out of "
                "the forecast, leeches fall short of the target most often. Rewrite or "
                "unsuspend them (pmcards unsuspend ID...), or leave them out of the plan."
            )
        if fc.unlearned:
            need = math.ceil(self.new_left / intro_days(self.days_left))
            out.append(
                f"{fc.unlearned} new cards cannot be introduced before the interview at "
                f"{plan.max_new} a day: allow more new cards a day (--max-new {need}), more "
                "days, or plan on fewer decks (--deck)."
            )
        if self.budget and fc.peak() > self.budget:
            low, high = fc.total()
            days = math.ceil(high / self.budget)
            later = plan.interview + timedelta(days=max(1, days - self.days_left))
            out.append(
                f"The budget of {self.budget} answers a day is too small: the busiest day "
                f"needs up to {fc.peak()} and the plan {low}-{high} answers in all. What would "
                f"fit: a budget of {fc.peak()} (--per-day {fc.peak()}), an interview on "
                f"{later} or later (more days), or fewer decks (--deck; {self.cards} cards now)."
            )
        if fc.predicted() < plan.target:
            out.append(
                f"The target of {plan.target:.0%} cannot be met with {self.days_left} days "
                f"left: predicted recall at the interview is {fc.predicted():.1%}, "
                f"{fc.below(plan.target)} cards below the target. What would: more days "
                "before the interview, fewer decks (--deck), more new cards a day (--max-new), "
                "or a lower --target."
            )
        if fc.peak() > self.review_limit:
            out.append(
                f"The busiest day needs up to {fc.peak()} answers, over your daily review "
                f"limit of {self.review_limit}: the plan lets its own cards past the limit."
            )
        return out

    def to_json(self) -> dict[str, Any]:
        fc = self.forecast
        low, high = fc.total()
        return {
            "interview": self.plan.interview.isoformat(),
            "at": self.at.isoformat() if self.at is not None else None,
            "target": self.plan.target,
            "decks": list(self.plan.decks),
            "max_new": self.plan.max_new,
            "per_day": self.budget,
            "per_day_given": self.plan.per_day_given,
            "days_left": self.days_left,
            "cards": self.cards,
            "not_learned": self.new_left,
            "suspended": self.suspended,
            "leeches": self.leeches,
            "new_per_day": fc.new_per_day,
            "predicted_recall": round(fc.predicted(), 4),
            "below_target": fc.below(self.plan.target),
            "unlearned_on_the_day": fc.unlearned,
            "answers_before": {"low": low, "high": high},
            "runs": fc.runs,
            "sampled_cards": fc.sampled,
            "rating_mix": self.mix.to_json(),
            "learner_scale": round(self.learner, 3),
            "met": self.met,
            "forecast": [
                {"date": d.isoformat(), "new": new, "answers": mid, "low": lo, "high": hi}
                for d, new, lo, mid, hi in fc.days
            ],
            "warnings": self.warnings(),
        }


def format_status(st: Status) -> str:
    plan, fc = st.plan, st.forecast
    from pmcards.markup import safe

    scope = safe(", ".join(plan.decks)) if plan.decks else "all decks"
    moment = f"{st.at.astimezone():%Y-%m-%d %H:%M}" if st.at is not None else f"{plan.interview}"
    lines = [f"Interview at {moment} ({scope}): target recall {plan.target:.0%}"]
    if st.days_left == 0:
        lines.append("The interview day has come: scheduling is back to your desired retention.")
        return "\n".join(lines)
    low, high = fc.total()
    source = (
        f"your rating mix from {st.mix.answers} answers"
        if st.mix.answers
        else "a default rating mix (no review log yet)"
    )
    lines += [
        f"Days left:        {st.days_left} (today included)",
        f"Cards in plan:    {st.cards}, not yet learned {st.new_left}"
        + (f" (new cards a day: {fc.new_per_day})" if st.new_left else ""),
        f"Budget:           {st.budget} answers a day"
        + ("" if plan.per_day_given else " (default: from the days left and the cards)"),
        f"Answers until then: {low}-{high} ({fc.runs} simulated runs, {source}"
        + (
            f"; a sample of {fc.sampled:,} of the {st.cards:,} cards, scaled up)"
            if fc.sampled
            else ")"
        ),
        f"Predicted recall at the interview, if followed: {fc.predicted():.1%}",
    ]
    if abs(math.log(st.learner)) >= LEARNER_SHOWN:
        lines.append(
            f"Your memory:      your answers so far say you keep cards about {st.learner:.2g} "
            "times as long as FSRS's model; the plan and this forecast allow for it"
        )
    lines += [
        "",
        "Day          new  answers",
    ]
    top = max(fc.peak(), 1)
    for d, new, lo, mid, hi in fc.days:
        bar = "█" * round(mid / top * 30)
        span = f"{lo}-{hi}" if lo != hi else f"{mid}"
        lines.append(f"{d:%a %d %b}   {new:>4}  {span:>7}  {bar}")
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
    given under the plan: earlier than its own when its recall at the interview would fall
    short, never before `now`. None when it stays as it is."""
    if memory.state != REVIEW or memory.stability is None or memory.last_review is None:
        return None
    if memory.due < horizon.at:
        return None  # due before the interview: placed when it is answered
    natural = max(1, round((memory.due - memory.last_review) / _DAY))
    days = next_review(settings, horizon, memory, memory.last_review, natural, card_id)
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


def release_spread(
    overdue: list[tuple[float, int]], start: datetime
) -> Iterator[tuple[int, datetime]]:
    """Due dates for cards left overdue when a plan ends: (recall now, card id) pairs spread
    over RELEASE_SPREAD_DAYS from `start`, the riskiest first; (card id, due) in that order."""
    per_day = math.ceil(len(overdue) / RELEASE_SPREAD_DAYS) if overdue else 0
    for i, (_, card_id) in enumerate(sorted(overdue)):
        yield card_id, start + timedelta(days=i // max(1, per_day))


__all__ = [
    "DEFAULT_MAX_NEW",
    "DEFAULT_MIX",
    "DEFAULT_TARGET",
    "DEFAULT_TIME",
    "Active",
    "Forecast",
    "Horizon",
    "Mix",
    "Plan",
    "Status",
    "capped_outcomes",
    "days_left",
    "default_budget",
    "forecast",
    "format_status",
    "intro_days",
    "learner_scale",
    "new_per_day",
    "next_review",
    "parse_moment",
    "planned_due",
    "release_spread",
    "released_due",
    "robust_recall",
]
