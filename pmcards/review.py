"""The review session: which card comes next, within today's limits.

Learning cards due now come first, then review cards due today, the most at risk of being
forgotten first, then new cards (interleaved across decks, or in deck order: `new_order`),
up to the daily limits (raised by an interview plan); learning cards due within the
learn-ahead window fill the end. Prompt cards are left to `pmcards mock` unless the
`prompts_in_review` setting brings them back. Answers, suspends,
buries and undo are `StudySession`'s, each committed before it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fsrs import Rating
from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection, Row

from pmcards import answer, cardstate, interview, queries, scheduling, schema
from pmcards.answer import Answered
from pmcards.cardstate import NEW, REVIEW
from pmcards.kinds import KINDS, Face, render
from pmcards.queries import Due, Limits, Scope
from pmcards.study import StudySession, Undone

C = schema.cards.c
N = schema.notes.c
D = schema.decks.c


@dataclass(frozen=True)
class Shown:
    """A card ready to show, with what each rating would do to it."""

    card_id: int
    note_id: int
    guid: str
    deck: str
    section: str
    kind: str
    ord: int
    tags: tuple[str, ...]
    state: int
    front: Face
    back: Face
    outcomes: dict[Rating, scheduling.Outcome]
    # How many answers the card had when shown: answer() tells whether another session
    # answered it in the meantime.
    reps: int = 0
    # The side drawn for a card that shows one of several (a judge card: "bad" or "good").
    side: str | None = None

    def interval(self, rating: Rating) -> timedelta:
        return self.outcomes[rating].interval


@dataclass
class Summary:
    answered: int
    again: int
    seconds: float
    next_due: datetime | None
    # New cards in scope that today's new-card limit holds back (`--new N` studies them).
    new_waiting: int = 0

    @property
    def again_rate(self) -> float | None:
        """The share of answers that were Again; None before any answer."""
        return self.again / self.answered if self.answered else None


@dataclass
class ReviewSession(StudySession):
    scope: Scope = field(default_factory=Scope)
    extra_new: int = 0
    limit: int | None = None
    minutes: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        with self.store.read() as conn:
            self.scope = self.scope.check(conn)
        self.scope = queries.review_scope(self.settings, self.scope)
        # The day and the plan in force are found already (StudySession.__post_init__).
        self._open_day(self.started)

    # -- the day -------------------------------------------------------------------------

    def _start_day(self, now: datetime) -> None:
        super()._start_day(now)
        self._open_day(now)

    def _open_day(self, now: datetime) -> None:
        """Fix today's budgets and review order, for the day and plan in force found: at
        start and when the day rolls over."""
        with self.store.read() as conn:
            today = queries.answered_today(conn, self.day)
            # A plan's days need their new cards and every one of their reviews.
            limits = interview.limits_of(conn, self.settings, self.plan, now, self.day.end, self.tz)
            self._limits_at_start = Limits.left_today(limits, today, self.extra_new)
        self._review_ids: list[int] = []
        self._reviews_complete = False  # True once every due review has been listed
        self._new_in_session = 0
        self._reviews_in_session = 0
        self._new_buffer: list[tuple[int, int, int]] = []
        self._new_after = (-1, -1, -1)
        # new_order = interleaved: per deck with new cards, in the order of their first new
        # note, [deck id, the next cards' keys, the last key taken, no more to read]; and
        # whose turn it is.
        self._new_decks: list[list[Any]] | None = None
        self._new_turn = 0
        self._show_next: int | None = None

    def _snapshot(self) -> dict[str, Any]:
        return {
            **super()._snapshot(),
            "day": self.day,
            "review_ids": list(self._review_ids),
            "reviews_complete": self._reviews_complete,
            "new_in_session": self._new_in_session,
            "reviews_in_session": self._reviews_in_session,
            "new_buffer": list(self._new_buffer),
            "new_after": self._new_after,
            "new_decks": _copy_decks(self._new_decks),
            "new_turn": self._new_turn,
        }

    def _restore(self, state: dict[str, Any]) -> None:
        super()._restore(state)
        if state["day"] != self.day:
            return  # the day rolled over since: today's queue stands
        self._review_ids = list(state["review_ids"])
        self._reviews_complete = state["reviews_complete"]
        self._new_in_session = state["new_in_session"]
        self._reviews_in_session = state["reviews_in_session"]
        self._new_buffer = list(state["new_buffer"])
        self._new_after = state["new_after"]
        self._new_decks = _copy_decks(state["new_decks"])
        self._new_turn = state["new_turn"]

    def _counted(self, done: Answered) -> None:
        self._new_in_session += done.state_before == NEW
        self._reviews_in_session += done.state_before == REVIEW

    @property
    def limits(self) -> Limits:
        return Limits(
            new=max(0, self._limits_at_start.new - self._new_in_session),
            review=max(0, self._limits_at_start.review - self._reviews_in_session),
        )

    def counts(self) -> Due:
        """New, learning and review cards left today, within this session's limits."""
        now = self.clock()
        self._check_day(now)
        limits = self.limits
        with self.store.read() as conn:
            due = queries.due_counts(conn, self.day, now, self.scope, limits)
        return limits.cap(due)

    def left(self, due: Due | None = None) -> int:
        due = due or self.counts()
        total = due.new + due.learning + due.review
        if self.limit is not None:
            total = min(total, max(0, self.limit - self.answered))
        return total

    def stop_reason(self) -> str | None:
        if self.limit is not None and self.answered >= self.limit:
            return f"reached the limit of {self.limit} answers"
        if self.minutes is not None and self.clock() - self.started >= timedelta(
            minutes=self.minutes
        ):
            return f"reached the time limit of {self.minutes:g} minutes"
        return None

    # -- choosing the next card ----------------------------------------------------------

    def next_card(self) -> Shown | None:
        """The next card to study, or None when the session is over."""
        if self.stop_reason():
            return None
        now = self.clock()
        self._check_day(now)
        with self.store.read() as conn:
            row = self._pick(conn, now)
            return None if row is None else self._shown(row, now)

    def undo(self) -> Undone:
        undone = super().undo()
        # The card the action was about is shown again next, as in Anki.
        self._show_next = undone.card_ids[0]
        return undone

    def _pick(self, conn: Connection, now: datetime) -> Row[Any] | None:
        if self._show_next is not None:
            row = _card_row(conn, self._show_next)
            self._show_next = None
            if row is not None and not row.suspended:
                return row
        learning = queries.next_learning(conn, now, timedelta(0), self.scope)
        if learning is not None:
            return _card_row(conn, learning)
        if self.limits.review > 0:
            row = self._next_review(conn, now)
            if row is not None:
                return row
        if self.limits.new > 0:
            row = self._next_new(conn, now)
            if row is not None:
                return row
        ahead = timedelta(minutes=self.settings.learn_ahead_minutes)
        learning = queries.next_learning(conn, now, ahead, self.scope)
        return _card_row(conn, learning) if learning is not None else None

    def _next_review(self, conn: Connection, now: datetime) -> Row[Any] | None:
        for _ in range(2):
            while self._review_ids:
                row = _card_row(conn, self._review_ids.pop(0))
                # Another process may have answered, suspended or buried it since.
                if (
                    row is not None
                    and row.state == REVIEW
                    and not row.suspended
                    and row.due < self.day.end
                    and _not_buried(row, now)
                ):
                    return row
            if self._reviews_complete:
                return None
            # List the riskiest due reviews, as many as today's budget allows; list again
            # if another session answered some of them meanwhile.
            budget = self.limits.review
            self._review_ids = queries.due_reviews_by_risk(
                conn, self.settings, self.day, now, self.scope, budget
            )
            self._reviews_complete = len(self._review_ids) < budget
        return None

    def _next_new(self, conn: Connection, now: datetime) -> Row[Any] | None:
        if self.settings.new_order == "deck":
            return self._next_new_in_deck_order(conn, now)
        if self._new_decks is None:
            decks = []
            for deck_id in queries.decks_with_new(conn, now, self.scope):
                first = queries.new_cards_of_deck(conn, now, self.scope, deck_id, _START, NEW_BATCH)
                if first:
                    decks.append([deck_id, first, _START, False])
            self._new_decks = sorted(decks, key=lambda deck: deck[1][0])
            self._new_turn = 0
        # One card of each deck in turn; a deck that runs out leaves the round.
        while self._new_decks:
            turn = self._new_turn % len(self._new_decks)
            row = self._take_new(conn, now, self._new_decks[turn])
            if row is None:
                del self._new_decks[turn]
                self._new_turn = turn
                continue
            self._new_turn = turn + 1
            return row
        return None

    def _take_new(self, conn: Connection, now: datetime, deck: list[Any]) -> Row[Any] | None:
        """The next new card of one deck still new, unsuspended and unburied (a sibling
        answered since, or another session, may have changed it), or None."""
        deck_id, keys = deck[0], deck[1]
        while True:
            if not keys:
                if deck[3]:
                    return None
                keys = deck[1] = queries.new_cards_of_deck(
                    conn, now, self.scope, deck_id, deck[2], NEW_BATCH
                )
                deck[3] = len(keys) < NEW_BATCH
                if not keys:
                    return None
            deck[2] = keys.pop(0)
            row = _card_row(conn, deck[2][2])
            if row is not None and row.state == NEW and not row.suspended and _not_buried(row, now):
                return row

    def _next_new_in_deck_order(self, conn: Connection, now: datetime) -> Row[Any] | None:
        while True:
            if not self._new_buffer:
                self._new_buffer = queries.new_cards_in_order(
                    conn, now, self.scope, self._new_after, 50
                )
                if not self._new_buffer:
                    return None
            key = self._new_buffer.pop(0)
            self._new_after = key
            row = _card_row(conn, key[2])
            if row is not None and row.state == NEW and not row.suspended and _not_buried(row, now):
                return row

    def _shown(self, row: Row[Any], now: datetime) -> Shown:
        # Drawn for every presentation, never from the card's state: a card shown again (after
        # an undo, or on its next day) may show the other side.
        side = self.draw_side() if KINDS[row.kind].sides(row.ord) else None
        front, back = render(row.kind, _fields(row), row.ord, side)
        memory = cardstate.memory_of(row)
        outcomes = answer.outcomes(self.settings, self.plan, memory, now, row.id, row.deck_id)
        self._preview = answer.Preview(row.id, memory, now, outcomes)
        return Shown(
            card_id=row.id,
            note_id=row.note_id,
            guid=row.guid,
            deck=row.deck,
            section=row.section,
            kind=row.kind,
            ord=row.ord,
            tags=tuple(row.tags.split()),
            state=row.state,
            front=front,
            back=back,
            outcomes=outcomes,
            reps=row.reps,
            side=side,
        )

    def outcomes(
        self, memory: cardstate.Memory, now: datetime, card_id: int, deck_id: int | None
    ) -> dict[Rating, scheduling.Outcome]:
        """What each rating would do to a card in this session (the plan's caps included)."""
        return answer.outcomes(self.settings, self.plan, memory, now, card_id, deck_id)

    def idle(self) -> None:
        """Housekeeping while the user reads a card: off the path of every answer."""
        self.store.checkpoint()

    def summary(self) -> Summary:
        now = self.clock()
        with self.store.read() as conn:
            stmt = (
                self.scope.apply(select(C.due))
                .where(queries.available(), C.state != NEW, C.due > now)
                .order_by(C.due)
                .limit(1)
            )
            upcoming = conn.scalar(stmt)
            due = queries.due_counts(conn, self.day, now, self.scope)
        waiting = max(0, due.new - self.limits.new)
        return Summary(self.answered, self.again, self.seconds, upcoming, waiting)


# New cards read per deck at a time (interleaved order), and the key before every card.
NEW_BATCH = 20
_START = (-1, -1, -1)


def _copy_decks(decks: list[list[Any]] | None) -> list[list[Any]] | None:
    """The interleaved order's state, copied for undo (its key lists change in place)."""
    return (
        None if decks is None else [[d, list(keys), after, done] for d, keys, after, done in decks]
    )


def _not_buried(row: Row[Any], now: datetime) -> bool:
    return row.buried_until is None or row.buried_until <= now


def _fields(row: Row[Any]) -> dict[str, str]:
    import json

    value: dict[str, str] = json.loads(row.fields)
    return value


# One statement for a card and all a screen shows of it: its note and its deck.
_CARD_ROW = (
    select(
        schema.cards,
        N.guid,
        N.kind,
        N.fields,
        N.tags,
        N.section,
        D.name.label("deck"),
    )
    .select_from(schema.cards)
    .join(schema.notes, N.id == C.note_id)
    .join(schema.decks, D.id == C.deck_id)
    .where(C.id == bindparam("card_id"))
)


def _card_row(conn: Connection, card_id: int) -> Row[Any] | None:
    return conn.execute(_CARD_ROW, {"card_id": card_id}).first()
