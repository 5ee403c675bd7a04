"""What is due: today's counts, the daily limits, and the order cards are studied in.

Everything here counts in SQL; nothing loads the whole collection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Select, and_, case, func, literal, or_, select

from pmcards import schema
from pmcards.clock import Day
from pmcards.errors import BadValueError
from pmcards.schema import LEARNING, NEW, RELEARNING, REVIEW
from pmcards.settings import Settings
from pmcards.sqltime import days_between

# Any select statement, whatever its columns.
S = TypeVar("S", bound="Select[*tuple[Any, ...]]")


if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import Session

    from pmcards.models import Note

    # Everything here is SQLAlchemy Core, so a caller may pass an ORM session or, where the
    # ORM is not loaded at all (status, stats), a plain connection.
    Db = Connection | Session

C = schema.cards.c
N = schema.notes.c
D = schema.decks.c
L = schema.review_log.c
# A card's memory columns, for selects that rebuild scheduling.Memory from rows.
MEMORY = tuple(C[name] for name in schema.MEMORY_COLUMNS)


@dataclass(frozen=True)
class Scope:
    """Which cards a command looks at: a deck (with its subdecks) and/or a tag."""

    deck: str | None = None
    tag: str | None = None

    def deck_ids(self) -> Any:
        """A subquery of the ids of the deck and its subdecks."""
        assert self.deck is not None
        return select(D.id).where(
            or_(D.name == self.deck, D.name.startswith(self.deck + "::", autoescape=True))
        )

    def apply(self, stmt: S) -> S:
        """Restrict a statement over `cards` to this scope."""
        if self.deck is not None:
            stmt = stmt.where(C.deck_id.in_(self.deck_ids()))
        if self.tag is not None:
            stmt = stmt.join(schema.notes, N.id == C.note_id).where(
                N.tags.contains(f" {self.tag} ", autoescape=True)
            )
        return stmt

    def check(self, session: Db) -> None:
        """Refuse a deck or tag that matches nothing, rather than showing an empty session."""
        if self.deck is not None:
            found = session.scalar(select(func.count()).select_from(self.deck_ids().subquery()))
            if not found:
                names = ", ".join(session.scalars(select(D.name).order_by(D.name)))
                raise BadValueError(f"no deck named {self.deck!r} (decks: {names or 'none'})")
        if self.tag is not None:
            found = session.scalar(
                select(N.id).where(N.tags.contains(f" {self.tag} ", autoescape=True)).limit(1)
            )
            if not found:
                raise BadValueError(f"no note is tagged {self.tag!r}")


def not_buried(now: datetime) -> Any:
    return or_(C.buried_until.is_(None), C.buried_until <= now)


def available() -> Any:
    return C.suspended.is_(False)


@dataclass(frozen=True)
class Today:
    """Answers given so far this study day, across all sessions."""

    answered: int
    new_introduced: int
    reviews_done: int


def answered_today(session: Db, day: Day) -> Today:
    row = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((L.state_before == NEW, 1), else_=0)), 0),
            func.coalesce(func.sum(case((L.state_before == REVIEW, 1), else_=0)), 0),
        ).where(L.reviewed_at >= day.start, L.reviewed_at < day.end)
    ).one()
    return Today(answered=int(row[0]), new_introduced=int(row[1]), reviews_done=int(row[2]))


@dataclass(frozen=True)
class Due:
    """Cards waiting today, before the daily limits: new, learning and review."""

    new: int = 0
    learning: int = 0
    review: int = 0


def _due_conditions(day: Day, now: datetime) -> dict[str, Any]:
    # Each condition is a range of ix_cards_queue (suspended, state, due, deck_id, buried_until),
    # so every count is an index-only scan of the cards that qualify.
    return {
        "new": and_(C.state == NEW, not_buried(now)),
        "learning": and_(C.state.in_((LEARNING, RELEARNING)), C.due < day.end),
        "review": and_(C.state == REVIEW, C.due < day.end, not_buried(now)),
    }


def due_counts(session: Db, day: Day, now: datetime, scope: Scope = Scope()) -> Due:
    counts = {}
    for name, condition in _due_conditions(day, now).items():
        stmt = scope.apply(select(func.count()).select_from(schema.cards)).where(
            available(), condition
        )
        counts[name] = int(session.scalar(stmt) or 0)
    return Due(**counts)


def due_counts_by_deck(session: Db, day: Day, now: datetime) -> dict[int, Due]:
    per_deck: dict[int, dict[str, int]] = {}
    for name, condition in _due_conditions(day, now).items():
        stmt = select(C.deck_id, func.count()).where(available(), condition).group_by(C.deck_id)
        for deck_id, count in session.execute(stmt):
            per_deck.setdefault(deck_id, {})[name] = int(count)
    return {deck_id: Due(**counts) for deck_id, counts in per_deck.items()}


@dataclass(frozen=True)
class Limits:
    """How many new and review cards may still be studied now."""

    new: int
    review: int

    @classmethod
    def left_today(cls, settings: Settings, today: Today, extra_new: int = 0) -> Limits:
        return cls(
            new=max(0, settings.new_per_day - today.new_introduced) + extra_new,
            review=max(0, settings.reviews_per_day - today.reviews_done),
        )

    def cap(self, due: Due) -> Due:
        return Due(
            new=min(due.new, self.new), learning=due.learning, review=min(due.review, self.review)
        )


def forecast(
    session: Db, day: Day, days: int, boundaries: Sequence[datetime], scope: Scope = Scope()
) -> list[int]:
    """Cards (learning or review) falling due on each of the next `days` study days.

    `boundaries` are the study-day ends after today's: one per day, computed by the caller
    from local time so DST days keep their real length. One range count per day: each is an
    index-only scan, cheaper than labelling every card of the week with a CASE.
    """
    counts = []
    start = day.end
    for end in boundaries[:days]:
        stmt = scope.apply(
            select(func.count())
            .select_from(schema.cards)
            .where(
                available(),
                C.state.in_((LEARNING, REVIEW, RELEARNING)),
                C.due >= start,
                C.due < end,
            )
        )
        counts.append(int(session.scalar(stmt) or 0))
        start = end
    return counts


def next_learning(
    session: Db, now: datetime, ahead: timedelta, scope: Scope, skip: Sequence[int] = ()
) -> int | None:
    """The id of the learning card due first, if one is due by `now + ahead`."""
    stmt = scope.apply(select(C.id)).where(
        available(), C.state.in_((LEARNING, RELEARNING)), C.due <= now + ahead
    )
    if skip:
        stmt = stmt.where(C.id.not_in(skip))
    found: int | None = session.scalar(stmt.order_by(C.due, C.id).limit(1))
    return found


def due_reviews_by_risk(
    session: Db, settings: Settings, day: Day, now: datetime, scope: Scope, limit: int
) -> list[int]:
    """Ids of up to `limit` review cards due today, the most at risk of being forgotten first.

    FSRS's forgetting curve makes retrievability a decreasing function of elapsed days over
    stability (the curve's shape is one per collection), so SQL can rank by that ratio and
    stop at `limit`; py-fsrs then gives the exact order of the few chosen.
    """
    from pmcards import scheduling  # FSRS loads only for commands that schedule

    ratio = days_between(literal(now, type_=C.due.type), C.last_review) / C.stability
    stmt = (
        scope.apply(select(C.id, C.stability, C.difficulty, C.due, C.last_review))
        .where(available(), C.state == REVIEW, C.due < day.end, not_buried(now))
        .order_by(ratio.desc(), C.id)
        .limit(limit)
    )
    rows = session.execute(stmt).all()

    def risk(row: Any) -> tuple[float, int]:
        memory = scheduling.Memory(
            REVIEW, None, row.stability, row.difficulty, row.due, row.last_review
        )
        return (scheduling.retrievability(settings, memory, now), row.id)

    return [row.id for row in sorted(rows, key=risk)]


def new_cards_in_order(
    session: Db, now: datetime, scope: Scope, after: tuple[int, int, int], count: int
) -> list[tuple[int, int, int]]:
    """The next `count` new cards in deck order, after the (position, ord, id) key `after`."""
    key = (N.position, C.ord, C.id)
    stmt = (
        select(C.id, N.position, C.ord)
        .select_from(schema.cards)
        .join(schema.notes, N.id == C.note_id)
    )
    if scope.deck is not None:
        stmt = stmt.where(C.deck_id.in_(scope.deck_ids()))
    if scope.tag is not None:
        stmt = stmt.where(N.tags.contains(f" {scope.tag} ", autoescape=True))
    position, ord, card_id = after
    stmt = (
        stmt.where(available(), C.state == NEW, not_buried(now))
        .where(
            or_(
                N.position > position,
                and_(N.position == position, C.ord > ord),
                and_(N.position == position, C.ord == ord, C.id > card_id),
            )
        )
        .order_by(*key)
        .limit(count)
    )
    return [(pos, o, cid) for cid, pos, o in session.execute(stmt)]


def scoped_notes(session: Session, scope: Scope) -> list[Note]:
    """The notes in scope (ORM objects, for exports), in deck order: deck name, position."""
    from pmcards.models import Deck, Note

    stmt = select(Note).join(Deck, Deck.id == Note.deck_id)
    if scope.deck is not None:
        stmt = stmt.where(Note.deck_id.in_(scope.deck_ids()))
    if scope.tag is not None:
        stmt = stmt.where(Note.tags_text.contains(f" {scope.tag} ", autoescape=True))
    return list(session.scalars(stmt.order_by(Deck.name, Note.position)))
