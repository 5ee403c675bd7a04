"""The interview plan's life cycle in the collection: set, clear, status, release once the
day has passed, and the limits and due dates it gives the plan's cards.

The math is `plan.py`'s; this module reads and writes the stored plan and the cards it
covers, in the caller's transaction.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.engine import Connection

from pmcards import cardstate, changes, queries, scheduling, schema
from pmcards import settings as settings_mod
from pmcards.cardstate import NEW, REVIEW, Memory
from pmcards.clock import study_day
from pmcards.errors import PmcardsError
from pmcards.plan import (
    DEFAULT_MAX_NEW,
    DEFAULT_MIX,
    DEFAULT_TARGET,
    SCALE_ANSWERS,
    Active,
    Horizon,
    Mix,
    Plan,
    Status,
    days_left,
    default_budget,
    forecast,
    learner_scale,
    new_per_day,
    planned_due,
    release_spread,
    released_due,
)
from pmcards.settings import Settings

# Answers of the review log below which the forecast keeps the default rating mix.
MIX_MIN_ANSWERS = 50
C = schema.cards.c
N = schema.notes.c
D = schema.decks.c
L = schema.review_log.c


def load(conn: Connection) -> Plan | None:
    value = settings_mod.get_raw(conn, settings_mod.PLAN_KEY)
    return Plan.from_json(value) if value else None


def save(conn: Connection, plan: Plan) -> None:
    settings_mod.save(conn, settings_mod.PLAN_KEY, plan.to_json())


def deck_ids(conn: Connection, plan: Plan) -> list[int] | None:
    """Ids of the plan's decks and their subdecks; None when the plan covers every deck."""
    if not plan.decks:
        return None
    conditions = [queries.deck_family(D.name, name) for name in plan.decks]
    return list(conn.scalars(select(D.id).where(or_(*conditions)).order_by(D.id)))


def _plan_cards(plan: Plan, ids: list[int] | None) -> Any:
    stmt = select(func.count()).select_from(schema.cards)
    return stmt if ids is None else stmt.where(C.deck_id.in_(ids))


def suspended_and_leeches(conn: Connection, plan: Plan) -> tuple[int, int]:
    """Cards of the plan's decks that are suspended, and those whose note is tagged leech."""
    ids = deck_ids(conn, plan)
    suspended = conn.scalar(_plan_cards(plan, ids).where(C.suspended.is_(True)))
    leeches = conn.scalar(
        _plan_cards(plan, ids)
        .join(schema.notes, N.id == C.note_id)
        .where(N.tags.contains(" leech ", autoescape=True))
    )
    return int(suspended or 0), int(leeches or 0)


def rating_mix(conn: Connection) -> Mix:
    """The learner's rating mix from the review log (answers in review and the drill): a
    new card's first answer, and the ratings of answers that were not Again. The default
    mix until the log has MIX_MIN_ANSWERS answers."""
    # Grouped by the plain columns: PostgreSQL refuses a GROUP BY of `state_before = :p`
    # when the SELECT's copy of it has a parameter of its own.
    rows = conn.execute(
        select(L.state_before, L.rating, func.count())
        .where(L.source.in_(("review", "drill")))
        .group_by(L.state_before, L.rating)
    ).all()
    first = [0, 0, 0, 0]
    recalled = [0, 0, 0]
    for state_before, rating, count in rows:
        if not 1 <= rating <= 4:
            continue
        if state_before == NEW:
            first[rating - 1] += count
        elif rating > 1:
            recalled[rating - 2] += count
    total = sum(first) + sum(recalled)
    if total < MIX_MIN_ANSWERS:
        return DEFAULT_MIX
    default = DEFAULT_MIX
    f1, f2, f3, f4 = (c / sum(first) for c in first) if sum(first) >= 10 else default.first
    r2, r3, r4 = (c / sum(recalled) for c in recalled) if sum(recalled) >= 10 else default.recalled
    return Mix(first=(f1, f2, f3, f4), recalled=(r2, r3, r4), answers=total)


def learner_factor(conn: Connection, settings: Settings) -> float:
    """`plan.learner_scale` of the learner's latest SCALE_ANSWERS answers to review cards
    (in review sessions and the drill), newest first by the log's key."""
    rows = conn.execute(
        select(L.reviewed_at, L.last_review_before, L.stability_before, L.rating)
        .where(
            L.state_before == REVIEW,
            L.source.in_(("review", "drill")),
            L.stability_before.is_not(None),
            L.last_review_before.is_not(None),
        )
        .order_by(L.id.desc())
        .limit(SCALE_ANSWERS)
    )
    return learner_scale(
        settings,
        (
            (
                scheduling.elapsed_days(settings, row.last_review_before, row.reviewed_at),
                row.stability_before,
                row.rating > 1,
            )
            for row in rows
        ),
    )


def scoped_cards(conn: Connection, plan: Plan) -> Iterator[tuple[int, int, Memory]]:
    """(card id, deck id, memory) of the plan's cards, not suspended, new ones in deck order:
    read CHUNK rows at a time (a plan over a lifetime's collection covers 190,000 cards)."""
    ids = deck_ids(conn, plan)
    stmt = (
        select(C.id, C.deck_id, *queries.MEMORY)
        .select_from(schema.cards)
        .join(schema.notes, N.id == C.note_id)
        .where(C.suspended.is_(False))
        .order_by(N.position, C.ord, C.id)
    )
    if ids is not None:
        stmt = stmt.where(C.deck_id.in_(ids))
    # On the statement, not the connection: a connection's options stay set, and every
    # later statement of the transaction (the plan's UPDATEs) would then be streamed too,
    # which PostgreSQL refuses for an UPDATE (a server-side cursor is a SELECT's).
    for row in conn.execute(stmt.execution_options(yield_per=queries.CHUNK)):
        yield row.id, row.deck_id, cardstate.memory_of(row)


def scoped_counts(conn: Connection, plan: Plan, ids: list[int] | None = None) -> tuple[int, int]:
    """(new, studied): how many of `scoped_cards` are new and how many not, counted in SQL.
    `ids`: the plan's `deck_ids`, when the caller has them."""
    if ids is None and plan.decks:
        ids = deck_ids(conn, plan)
    stmt = select(
        func.coalesce(func.sum(case((C.state == NEW, 1), else_=0)), 0),
        func.coalesce(func.sum(case((C.state != NEW, 1), else_=0)), 0),
    ).where(C.suspended.is_(False))
    if ids is not None:
        stmt = stmt.where(C.deck_id.in_(ids))
    new, studied = conn.execute(stmt).one()
    return int(new), int(studied)  # PostgreSQL's SUM is a numeric


# -- the life cycle ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """What a change of plan did: the plan now in force (None once cleared), the plan it
    replaced, and how many cards got new due dates."""

    plan: Plan | None
    previous: Plan | None
    moved: int


def set_plan(
    conn: Connection,
    interview: date,
    now: datetime,
    *,
    at: datetime | None = None,
    target: float | None = None,
    decks: Sequence[str] = (),
    max_new: int | None = None,
    per_day: int | None = None,
    tz: tzinfo | None = None,
) -> Change:
    """Plan toward the interview on `interview` at `at` (UTC; None: 09:00 local): checked,
    the previous plan's caps released, the cards' due dates placed for the new one. In the
    caller's write transaction."""
    settings = settings_mod.load(conn)
    if per_day is not None and per_day < 1:
        raise PmcardsError(f"--per-day must be at least 1 answer a day, got {per_day}")
    plan = Plan(
        interview=interview,
        target=target if target is not None else DEFAULT_TARGET,
        decks=tuple(decks),
        max_new=max_new if max_new is not None else DEFAULT_MAX_NEW,
        at=at,
        per_day=per_day,
    )
    today = study_day(now, settings.rollover_hour, tz).date
    if plan.day(settings, tz) <= today:
        when = f"{plan.starts_at(settings, tz).astimezone(tz):%Y-%m-%d %H:%M}"
        raise PmcardsError(
            f"the interview ({when}) must be on a later study day than today ({today})"
        )
    for name in decks:
        queries.Scope(deck=name).check(conn)
    if per_day is None:
        new, studied = scoped_counts(conn, plan)
        left = (plan.day(settings, tz) - today).days
        plan = replace(plan, per_day=budget_of_counts(plan, settings, new, studied, left))
    else:
        plan = replace(plan, per_day_given=True)
    current = load(conn)
    if current is not None and not current.released:
        release(conn, settings, current, now, tz)
    save(conn, plan)
    return Change(plan, current, apply(conn, settings, plan, now, tz))


def clear_plan(conn: Connection, now: datetime, tz: tzinfo | None = None) -> Change:
    """End the plan now: its cards get their FSRS due dates back, and it is forgotten."""
    current = load(conn)
    if current is None:
        raise PmcardsError("there is no interview plan to clear")
    moved = 0
    if not current.released:
        moved = release(conn, settings_mod.load(conn), current, now, tz)
    settings_mod.reset(conn, settings_mod.PLAN_KEY)
    return Change(None, current, moved)


def release_if_passed(conn: Connection, now: datetime, tz: tzinfo | None = None) -> int | None:
    """Release a plan whose day has come, once. Returns cards moved, or None if nothing to
    do. Every command that schedules calls it first (the CLI, before a session starts)."""
    plan = load(conn)
    if plan is None or plan.released:
        return None
    settings = settings_mod.load(conn)
    if now < plan.starts_at(settings, tz):
        return None
    moved = release(conn, settings, plan, now, tz)
    save(conn, replace(plan, released=True))
    return moved


def budget_of_counts(plan: Plan, settings: Settings, new: int, studied: int, days: int) -> int:
    """The plan's daily answer budget: `--per-day`, else the default for its cards (how many
    are new and how many studied given)."""
    if plan.per_day is not None:
        return plan.per_day
    pace = new_per_day(settings, plan, new, days) if new else 0
    return default_budget(pace, studied, days)


def status(conn: Connection, plan: Plan, now: datetime, tz: tzinfo | None = None) -> Status:
    settings = settings_mod.load(conn)
    new, studied = scoped_counts(conn, plan)
    n = days_left(plan, settings, now, tz)
    budget = budget_of_counts(plan, settings, new, studied, n)
    mix = rating_mix(conn)
    suspended, leeches = suspended_and_leeches(conn, plan)
    # The cards stream through the forecast, which keeps its sample of them.
    memories = ((cid, memory) for cid, _, memory in scoped_cards(conn, plan))
    factor = learner_factor(conn, settings)
    fc = forecast(
        settings,
        plan,
        memories,
        now,
        tz,
        mix=mix,
        budget=budget,
        count=new + studied,
        learner=factor,
    )
    return Status(
        plan=plan,
        days_left=n,
        cards=new + studied,
        new_left=new,
        forecast=fc,
        review_limit=settings.reviews_per_day,
        budget=budget,
        suspended=suspended,
        leeches=leeches,
        mix=mix,
        at=plan.starts_at(settings, tz),
        learner=factor,
    )


# -- the plan in force --------------------------------------------------------------------


def active(
    conn: Connection,
    settings: Settings,
    now: datetime,
    tz: tzinfo | None = None,
    *,
    fit: bool = True,
) -> Active | None:
    """The plan in force at `now`, if any (a plan whose interview has come is not), with
    the answers already booked on each day before the interview and the learner's factor
    (`fit` False: 1.0, for a caller that needs only the limits; the fit reads the log)."""
    plan = load(conn)
    if plan is None:
        return None
    at = plan.starts_at(settings, tz)
    if now >= at:
        return None
    ids = deck_ids(conn, plan)

    def plan_cards(*columns: Any) -> Any:
        stmt = select(*columns).select_from(schema.cards).where(C.suspended.is_(False))
        return stmt if ids is None else stmt.where(C.deck_id.in_(ids))

    # Counted in SQL, and only the dues the horizon books are read: a plan over a lifetime's
    # collection covers hundreds of thousands of cards, and `status` and every review
    # session start here.
    new_left, studied = scoped_counts(conn, plan, ids)
    n = days_left(plan, settings, now, tz)
    budget = budget_of_counts(plan, settings, new_left, studied, n)
    factor = learner_factor(conn, settings) if fit else 1.0
    horizon = Horizon.of(plan, settings, tz, budget, learner=factor)
    today = study_day(now, settings.rollover_hour, tz)
    dues = plan_cards(C.due).where(C.state != NEW, C.due >= today.start, C.due < at)
    horizon.book_many(conn.scalars(dues))
    pace = new_per_day(settings, plan, new_left, n)
    horizon.expect_new(today.date, new_left - pace, n, pace)
    return Active(plan, horizon, None if ids is None else frozenset(ids))


def limits_today(
    conn: Connection,
    settings: Settings,
    act: Active,
    now: datetime,
    day_end: datetime,
    tz: tzinfo | None,
) -> tuple[int, int]:
    """(new, review) daily limits while the plan is in force: new cards as the days left
    need, and room for every one of the plan's reviews due today."""

    def count(*conditions: Any) -> int:
        stmt = select(func.count()).select_from(schema.cards).where(C.suspended.is_(False))
        if act.deck_ids is not None:
            stmt = stmt.where(C.deck_id.in_(sorted(act.deck_ids)))
        return int(conn.scalar(stmt.where(*conditions)) or 0)

    new_left = count(C.state == NEW)
    due = count(C.state == REVIEW, C.due < day_end, queries.not_buried(now))
    n = days_left(act.plan, settings, now, tz)
    return new_per_day(settings, act.plan, new_left, n), max(settings.reviews_per_day, due)


def daily_limits(
    conn: Connection, settings: Settings, now: datetime, day_end: datetime, tz: tzinfo | None
) -> Settings:
    """The settings whose daily limits hold today: the user's, or, while a plan is in force,
    the plan's (the review session and `status` both count with these)."""
    return limits_of(conn, settings, active(conn, settings, now, tz, fit=False), now, day_end, tz)


def limits_of(
    conn: Connection,
    settings: Settings,
    act: Active | None,
    now: datetime,
    day_end: datetime,
    tz: tzinfo | None,
) -> Settings:
    """`daily_limits` for the plan in force already found (`active`'s, None: no plan)."""
    if act is None:
        return settings
    new, review = limits_today(conn, settings, act, now, day_end, tz)
    return replace(settings, new_per_day=new, reviews_per_day=review)


def apply(
    conn: Connection, settings: Settings, plan: Plan, now: datetime, tz: tzinfo | None = None
) -> int:
    """Cap the due dates the plan's cards already have (see `plan.planned_due`). Returns how
    many cards moved."""
    horizon = Horizon.of(plan, settings, tz, learner=learner_factor(conn, settings))
    if now >= horizon.at:
        return 0
    # The cards are read as a stream and only the moves kept, in two arrays (a plan over a
    # lifetime's collection covers 190,000 cards and moves tens of thousands); then they
    # move CHUNK at a time, in the same order, each card's memory read again.
    moved_ids, moved_dues = array("q"), array("q")
    for card_id, _, memory in scoped_cards(conn, plan):
        due = planned_due(settings, horizon, memory, now, card_id)
        if due is not None:
            moved_ids.append(card_id)
            moved_dues.append((due - _EPOCH) // _MICROSECOND)
    return _move(conn, "plan", now, moved_ids, moved_dues)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _move(
    conn: Connection, source: str, now: datetime, ids: Sequence[int], dues: Sequence[int]
) -> int:
    """`changes.apply` of new due dates (microseconds since 1970, UTC) to cards `ids`,
    queries.CHUNK cards at a time, in order. Returns how many moved."""
    moved = 0
    for start in range(0, len(ids), queries.CHUNK):
        chunk = list(ids[start : start + queries.CHUNK])
        rows = conn.execute(select(C.id, *queries.MEMORY).where(C.id.in_(chunk)))
        memories = {row.id: cardstate.memory_of(row) for row in rows}
        moves = [
            (cid, memories[cid], replace(memories[cid], due=_EPOCH + due * _MICROSECOND))
            for cid, due in zip(chunk, dues[start : start + queries.CHUNK], strict=True)
        ]
        moved += changes.apply(conn, source, now, moves)
    return moved


def release(
    conn: Connection, settings: Settings, plan: Plan, now: datetime, tz: tzinfo | None = None
) -> int:
    """End a plan's caps: each card of the plan's decks gets back the due date FSRS gives it
    at the desired retention (only ever later), and cards then already overdue are spread
    over the next days, riskiest first. Returns how many cards moved."""
    today = study_day(now, settings.rollover_hour, tz)
    # As in `apply`: the cards read as a stream, the moves kept in arrays, then written.
    moved_ids, moved_dues = array("q"), array("q")
    overdue_recall, overdue_ids = array("d"), array("q")
    for card_id, _, memory in scoped_cards(conn, plan):
        due = released_due(settings, memory)
        if due is None:
            continue
        if due < today.start:
            overdue_recall.append(scheduling.retrievability(settings, memory, now))
            overdue_ids.append(card_id)
        elif due != memory.due:
            moved_ids.append(card_id)
            moved_dues.append((due - _EPOCH) // _MICROSECOND)
    overdue = list(zip(overdue_recall, overdue_ids, strict=True))
    del overdue_recall, overdue_ids
    for card_id, due in release_spread(overdue, max(now, today.start)):
        moved_ids.append(card_id)
        moved_dues.append((due - _EPOCH) // _MICROSECOND)
    return _move(conn, "plan-release", now, moved_ids, moved_dues)
