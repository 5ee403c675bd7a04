"""What is due: today's counts, the daily limits, and the order cards are studied in.

Everything here counts in SQL; nothing loads the whole collection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from pmcards import scheduling
from pmcards.clock import Day
from pmcards.errors import PmcardsError
from pmcards.models import LEARNING, NEW, RELEARNING, REVIEW, Card, Deck, Note, ReviewLog
from pmcards.settings import Settings

# Any select statement, whatever its columns.
S = TypeVar("S", bound="Select[*tuple[Any, ...]]")


@dataclass(frozen=True)
class Scope:
    """Which cards a command looks at: a deck (with its subdecks) and/or a tag."""

    deck: str | None = None
    tag: str | None = None

    def apply(self, stmt: S) -> S:
        if self.deck is None and self.tag is None:
            return stmt
        stmt = stmt.join(Note, Note.id == Card.note_id)
        if self.deck is not None:
            stmt = stmt.join(Deck, Deck.id == Note.deck_id).where(
                or_(Deck.name == self.deck, Deck.name.startswith(self.deck + "::", autoescape=True))
            )
        if self.tag is not None:
            stmt = stmt.where(Note.tags_text.contains(f" {self.tag} ", autoescape=True))
        return stmt

    def check(self, session: Session) -> None:
        """Refuse a deck or tag that matches nothing, rather than showing an empty session."""
        if self.deck is not None:
            found = session.scalar(
                select(func.count())
                .select_from(Deck)
                .where(
                    or_(
                        Deck.name == self.deck,
                        Deck.name.startswith(self.deck + "::", autoescape=True),
                    )
                )
            )
            if not found:
                names = ", ".join(session.scalars(select(Deck.name).order_by(Deck.name)))
                raise PmcardsError(f"no deck named {self.deck!r} (decks: {names or 'none'})")
        if self.tag is not None:
            found = session.scalar(
                select(func.count())
                .select_from(Note)
                .where(Note.tags_text.contains(f" {self.tag} ", autoescape=True))
            )
            if not found:
                raise PmcardsError(f"no note is tagged {self.tag!r}")


def not_buried(now: datetime) -> Any:
    return or_(Card.buried_until.is_(None), Card.buried_until <= now)


def available() -> Any:
    return Card.suspended.is_(False)


@dataclass(frozen=True)
class Today:
    """Answers given so far this study day, across all sessions."""

    answered: int
    new_introduced: int
    reviews_done: int


def answered_today(session: Session, day: Day) -> Today:
    row = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((ReviewLog.state_before == NEW, 1), else_=0)), 0),
            func.coalesce(func.sum(case((ReviewLog.state_before == REVIEW, 1), else_=0)), 0),
        ).where(ReviewLog.reviewed_at >= day.start, ReviewLog.reviewed_at < day.end)
    ).one()
    return Today(answered=int(row[0]), new_introduced=int(row[1]), reviews_done=int(row[2]))


@dataclass(frozen=True)
class Due:
    """Cards waiting today, before the daily limits: new, learning and review."""

    new: int = 0
    learning: int = 0
    review: int = 0


def _due_columns(day: Day, now: datetime) -> tuple[Any, Any, Any]:
    is_new = and_(Card.state == NEW, not_buried(now))
    is_learning = and_(Card.state.in_((LEARNING, RELEARNING)), Card.due < day.end)
    is_review = and_(Card.state == REVIEW, Card.due < day.end, not_buried(now))
    return (
        func.coalesce(func.sum(case((is_new, 1), else_=0)), 0),
        func.coalesce(func.sum(case((is_learning, 1), else_=0)), 0),
        func.coalesce(func.sum(case((is_review, 1), else_=0)), 0),
    )


def due_counts(session: Session, day: Day, now: datetime, scope: Scope = Scope()) -> Due:
    stmt = scope.apply(select(*_due_columns(day, now)).select_from(Card)).where(available())
    new, learning, review = session.execute(stmt).one()
    return Due(int(new), int(learning), int(review))


def due_counts_by_deck(session: Session, day: Day, now: datetime) -> dict[int, Due]:
    stmt = (
        select(Note.deck_id, *_due_columns(day, now))
        .select_from(Card)
        .join(Note, Note.id == Card.note_id)
        .where(available())
        .group_by(Note.deck_id)
    )
    return {deck_id: Due(int(n), int(lr), int(r)) for deck_id, n, lr, r in session.execute(stmt)}


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
    session: Session, day: Day, days: int, boundaries: Sequence[datetime], scope: Scope = Scope()
) -> list[int]:
    """Cards (learning or review) falling due on each of the next `days` study days.

    `boundaries` are the study-day ends after today's: one per day, computed by the caller
    from local time so DST days keep their real length.
    """
    buckets = case(
        *[(Card.due < end, index) for index, end in enumerate(boundaries)],
        else_=-1,
    )
    stmt = scope.apply(
        select(buckets, func.count())
        .select_from(Card)
        .where(available(), Card.state != NEW, Card.due >= day.end, Card.due < boundaries[-1])
        .group_by(buckets)
    )
    counts = [0] * days
    for index, count in session.execute(stmt):
        if 0 <= index < days:
            counts[index] = int(count)
    return counts


def next_learning(
    session: Session, now: datetime, ahead: timedelta, scope: Scope, skip: Sequence[int] = ()
) -> Card | None:
    stmt = scope.apply(select(Card)).where(
        available(), Card.state.in_((LEARNING, RELEARNING)), Card.due <= now + ahead
    )
    if skip:
        stmt = stmt.where(Card.id.not_in(skip))
    return session.scalars(stmt.order_by(Card.due, Card.id).limit(1)).first()


def due_reviews_by_risk(
    session: Session, settings: Settings, day: Day, now: datetime, scope: Scope
) -> list[int]:
    """Ids of review cards due today, the most at risk of being forgotten first."""
    stmt = scope.apply(
        select(Card.id, Card.stability, Card.difficulty, Card.due, Card.last_review)
    ).where(available(), Card.state == REVIEW, Card.due < day.end, not_buried(now))
    rows = session.execute(stmt).all()

    def risk(row: Any) -> tuple[float, int]:
        memory = scheduling.Memory(
            REVIEW, None, row.stability, row.difficulty, row.due, row.last_review
        )
        return (scheduling.retrievability(settings, memory, now), row.id)

    return [row.id for row in sorted(rows, key=risk)]


def new_cards_in_order(
    session: Session, now: datetime, scope: Scope, after: tuple[int, int, int], count: int
) -> list[tuple[int, int, int]]:
    """The next `count` new cards in deck order, after the (position, ord, id) key `after`."""
    key = (Note.position, Card.ord, Card.id)
    stmt = (
        select(Card.id, Note.position, Card.ord)
        .select_from(Card)
        .join(Note, Note.id == Card.note_id)
    )
    if scope.deck is not None:
        stmt = stmt.join(Deck, Deck.id == Note.deck_id).where(
            or_(Deck.name == scope.deck, Deck.name.startswith(scope.deck + "::", autoescape=True))
        )
    if scope.tag is not None:
        stmt = stmt.where(Note.tags_text.contains(f" {scope.tag} ", autoescape=True))
    position, ord, card_id = after
    stmt = (
        stmt.where(available(), Card.state == NEW, not_buried(now))
        .where(
            or_(
                Note.position > position,
                and_(Note.position == position, Card.ord > ord),
                and_(Note.position == position, Card.ord == ord, Card.id > card_id),
            )
        )
        .order_by(*key)
        .limit(count)
    )
    return [(pos, o, cid) for cid, pos, o in session.execute(stmt)]


def scoped_notes(session: Session, scope: Scope) -> list[Note]:
    """The notes in scope, in deck order (deck name, then position)."""
    stmt = select(Note).join(Deck, Deck.id == Note.deck_id)
    if scope.deck is not None:
        stmt = stmt.where(
            or_(Deck.name == scope.deck, Deck.name.startswith(scope.deck + "::", autoescape=True))
        )
    if scope.tag is not None:
        stmt = stmt.where(Note.tags_text.contains(f" {scope.tag} ", autoescape=True))
    return list(session.scalars(stmt.order_by(Deck.name, Note.position)))
