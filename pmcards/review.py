"""The review session's core: which card comes next, and answering, undoing, burying, suspending.

No terminal code here: `tui.py` drives this, and tests drive it directly. Every answer is its
own write transaction, committed before `answer()` returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo

from fsrs import Rating
from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from pmcards import plan as plan_mod
from pmcards import queue, scheduling
from pmcards import settings as settings_mod
from pmcards.clock import now_utc, study_day
from pmcards.errors import PmcardsError
from pmcards.kinds import Face, render
from pmcards.models import NEW, REVIEW, Card, Note, ReviewLog
from pmcards.queue import Due, Limits, Scope
from pmcards.schema import MEMORY_COLUMNS
from pmcards.store import Store

LEECH_TAG = "leech"
# An answer that took longer than this is counted as this long (the user walked away).
MAX_ANSWER_MS = 60_000


@dataclass(frozen=True)
class Shown:
    """A card ready to show, with what each rating would do to it."""

    card_id: int
    guid: str
    deck: str
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

    def interval(self, rating: Rating) -> timedelta:
        return self.outcomes[rating].interval


@dataclass(frozen=True)
class Answered:
    card_id: int
    rating: Rating
    due: datetime
    leeched: bool
    lapses: int
    # Another session answered this card after it was shown here: this answer was scheduled
    # from the card's new state (re-read under the write lock), not the one shown.
    changed_meanwhile: bool = False


@dataclass
class _UndoEntry:
    log_id: int
    card_id: int
    buried_siblings: list[int]
    was_new: bool
    was_review: bool
    again: bool


@dataclass
class Summary:
    answered: int
    again: int
    seconds: float
    next_due: datetime | None

    @property
    def again_rate(self) -> float:
        return self.again / self.answered if self.answered else 0.0


@dataclass
class ReviewSession:
    store: Store
    scope: Scope = field(default_factory=Scope)
    extra_new: int = 0
    limit: int | None = None
    minutes: float | None = None
    clock: Callable[[], datetime] = now_utc
    tz: tzinfo | None = None

    def __post_init__(self) -> None:
        self.started = self.clock()
        self.answered = 0
        self.again = 0
        self.seconds = 0.0
        self._undo: list[_UndoEntry] = []
        self._new_in_session = 0
        self._reviews_in_session = 0
        self._again_next: int | None = None
        with self.store.read() as session:
            self.scope.check(session)
            self.settings = settings_mod.load(session)
            stored_plan = plan_mod.load(session)
        if (
            stored_plan is not None
            and not stored_plan.released
            and self.started >= stored_plan.starts_at(self.settings, self.tz)
        ):
            # The interview has passed: give the cards their FSRS due dates back, once.
            with self.store.write() as session:
                plan_mod.release_if_passed(session, self.settings, self.started, self.tz)
        self.plan: plan_mod.Active | None = None
        self._start_day(self.started)

    # -- the day -------------------------------------------------------------------------

    def _start_day(self, now: datetime) -> None:
        """Fix today's budgets and review order; called at start and when the day rolls over."""
        self.day = study_day(now, self.settings.rollover_hour, self.tz)
        with self.store.read() as session:
            today = queue.answered_today(session, self.day)
            self.plan = plan_mod.active(session, self.settings, now, self.tz)
            limits = self.settings
            if self.plan is not None:
                # The plan's days need their new cards and every one of their reviews.
                new, review = plan_mod.limits_today(
                    session, self.settings, self.plan, now, self.day.end, self.tz
                )
                limits = replace(self.settings, new_per_day=new, reviews_per_day=review)
            self._limits_at_start = Limits.left_today(limits, today, self.extra_new)
        self._review_ids: list[int] = []
        self._reviews_complete = False  # True once every due review has been listed
        self._new_in_session = 0
        self._reviews_in_session = 0
        self._new_buffer: list[tuple[int, int, int]] = []
        self._new_after = (-1, -1, -1)

    def _check_day(self, now: datetime) -> None:
        if now >= self.day.end or now < self.day.start:
            self._start_day(now)

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
        with self.store.read() as session:
            due = queue.due_counts(session, self.day, now, self.scope)
        return self.limits.cap(due)

    def left(self) -> int:
        due = self.counts()
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
        with self.store.read() as session:
            card = self._pick(session, now)
            if card is None:
                return None
            return self._shown(card, now)

    def _pick(self, session: Session, now: datetime) -> Card | None:
        if self._again_next is not None:
            card = session.get(Card, self._again_next)
            self._again_next = None
            if card is not None and not card.suspended:
                return card
        learning = queue.next_learning(session, now, timedelta(0), self.scope)
        if learning is not None:
            return session.get(Card, learning)
        if self.limits.review > 0:
            card = self._next_review(session, now)
            if card is not None:
                return card
        if self.limits.new > 0:
            card = self._next_new(session, now)
            if card is not None:
                return card
        ahead = timedelta(minutes=self.settings.learn_ahead_minutes)
        learning = queue.next_learning(session, now, ahead, self.scope)
        return session.get(Card, learning) if learning is not None else None

    def _next_review(self, session: Session, now: datetime) -> Card | None:
        for _ in range(2):
            while self._review_ids:
                card = session.get(Card, self._review_ids.pop(0))
                if card is not None and self._still_due_review(card, now):
                    return card
            if self._reviews_complete:
                return None
            # List the riskiest due reviews, as many as today's budget allows; list again
            # if another session answered some of them meanwhile.
            budget = self.limits.review
            self._review_ids = queue.due_reviews_by_risk(
                session, self.settings, self.day, now, self.scope, budget
            )
            self._reviews_complete = len(self._review_ids) < budget
        return None

    def _still_due_review(self, card: Card, now: datetime) -> bool:
        # Another process may have answered, suspended or buried it since the list was made.
        return (
            card.state == REVIEW
            and not card.suspended
            and card.due < self.day.end
            and (card.buried_until is None or card.buried_until <= now)
        )

    def _next_new(self, session: Session, now: datetime) -> Card | None:
        while True:
            if not self._new_buffer:
                self._new_buffer = queue.new_cards_in_order(
                    session, now, self.scope, self._new_after, 50
                )
                if not self._new_buffer:
                    return None
            key = self._new_buffer.pop(0)
            self._new_after = key
            card = session.get(Card, key[2])
            if (
                card is not None
                and card.state == NEW
                and not card.suspended
                and (card.buried_until is None or card.buried_until <= now)
            ):
                return card

    def _shown(self, card: Card, now: datetime) -> Shown:
        note = card.note
        front, back = render(note.kind, note.fields, card.ord, card.reps)
        return Shown(
            card_id=card.id,
            guid=note.guid,
            deck=note.deck.name,
            kind=note.kind,
            ord=card.ord,
            tags=tuple(note.tags),
            state=card.state,
            front=front,
            back=back,
            outcomes=self.outcomes(scheduling.memory_of(card), now, card.id, card.deck_id),
            reps=card.reps,
        )

    def outcomes(
        self, memory: scheduling.Memory, now: datetime, card_id: int, deck_id: int | None
    ) -> dict[Rating, scheduling.Outcome]:
        """What each rating would do to a card: FSRS's outcomes, capped by an interview plan
        for the cards in its decks."""
        raw = scheduling.outcomes(self.settings, memory, now, card_id)
        if self.plan is not None and self.plan.covers(deck_id):
            return plan_mod.capped_outcomes(
                self.settings, self.plan.horizon, memory, now, card_id, raw
            )
        return raw

    # -- actions -------------------------------------------------------------------------

    def answer(
        self,
        card_id: int,
        rating: Rating,
        duration_ms: int | None = None,
        *,
        source: str = "review",
        record: Callable[[Connection, int], None] | None = None,
        shown_reps: int | None = None,
    ) -> Answered:
        """Grade a card: schedule it with FSRS, log it, bury its siblings; committed on return.

        `source` names what gave the answer in the review log (review, drill, mock);
        `record(connection, log_id)` writes what goes with it in the same transaction.

        The card is read again inside the write transaction (which holds the write lock from
        its first statement), so an answer given in another session since the card was shown
        is the starting point of this one: both are recorded, in order, and neither
        overwrites the other. `shown_reps` (the card's answer count when shown) lets the
        result say that this happened.
        """
        now = self.clock()
        self._check_day(now)
        if duration_ms is not None:
            duration_ms = max(0, min(duration_ms, MAX_ANSWER_MS))
        with self.store.write() as session:
            # Core statements built once (below): an answer is on the path between a key
            # press and the next card, so it skips the ORM's per-statement work.
            conn = session.connection()
            # Read under a row lock (FOR UPDATE; SQLite's write lock already covers it), so
            # two machines answering the same card queue, and the second answer is computed
            # from the first one's result: neither is lost nor counted from a stale state.
            card = conn.execute(_SELECT_CARD, {"card_id": card_id}).one_or_none()
            if card is None:
                raise PmcardsError("this card no longer exists (deleted by another process?)")
            before = scheduling.memory_of(card)
            after = self.outcomes(before, now, card_id, card.deck_id)[rating].memory
            reviewed_at = scheduling.review_time(before, now)
            leeched = self._is_new_leech(before, after)
            values = {**scheduling.memory_values(after), "suspended": card.suspended or leeched}
            conn.execute(
                _UPDATE_CARD, {"b_card": card_id, **{f"v_{k}": v for k, v in values.items()}}
            )
            log_id = conn.execute(
                _INSERT_LOG,
                {
                    "card_id": card_id,
                    "rating": int(rating),
                    "reviewed_at": reviewed_at,
                    "duration_ms": duration_ms,
                    "source": source,
                    **{f"{k}_before": v for k, v in scheduling.memory_values(before).items()},
                    "state_after": after.state,
                    "step_after": after.step,
                    "stability_after": after.stability,
                    "difficulty_after": after.difficulty,
                    "due_after": after.due,
                    "leeched": leeched,
                },
            ).scalar_one()
            if leeched:
                note = session.get(Note, card.note_id)
                assert note is not None
                if LEECH_TAG not in note.tags:
                    note.set_tags([*note.tags, LEECH_TAG])
            if record is not None:
                record(conn, log_id)
            siblings = list(
                conn.execute(
                    _BURY_SIBLINGS,
                    {
                        "b_note": card.note_id,
                        "b_card": card_id,
                        "b_now": now,
                        "b_until": self.day.end,
                    },
                ).scalars()
            )
        self.answered += 1
        self.again += rating == Rating.Again
        self.seconds += (duration_ms or 0) / 1000
        self._new_in_session += before.state == NEW
        self._reviews_in_session += before.state == REVIEW
        self._undo.append(
            _UndoEntry(
                log_id=log_id,
                card_id=card_id,
                buried_siblings=siblings,
                was_new=before.state == NEW,
                was_review=before.state == REVIEW,
                again=rating == Rating.Again,
            )
        )
        changed = shown_reps is not None and shown_reps != before.reps
        return Answered(card_id, rating, after.due, leeched, after.lapses, changed)

    def _is_new_leech(self, before: scheduling.Memory, after: scheduling.Memory) -> bool:
        """At the threshold, and every half-threshold lapses after it (as Anki): a leech."""
        threshold = self.settings.leech_threshold
        if after.lapses <= before.lapses or after.lapses < threshold:
            return False
        return (after.lapses - threshold) % max(1, threshold // 2) == 0

    def idle(self) -> None:
        """Housekeeping while the user reads a card: off the path of every answer."""
        self.store.checkpoint()

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    def undo(self) -> int:
        """Take back the last answer of this session: state restored, its log removed.

        Returns the card's id; it is shown again next.
        """
        if not self._undo:
            raise PmcardsError("nothing to undo in this session")
        entry = self._undo[-1]
        with self.store.write() as session:
            card = session.get(Card, entry.card_id, with_for_update=True)
            log = session.get(ReviewLog, entry.log_id)
            latest = session.scalar(
                select(ReviewLog.id)
                .where(ReviewLog.card_id == entry.card_id)
                .order_by(ReviewLog.id.desc())
                .limit(1)
            )
            if log is None or card is None or latest != entry.log_id:
                self._undo.pop()
                raise PmcardsError("cannot undo: this card was changed by another session since")
            scheduling.apply_memory(
                card,
                scheduling.Memory(
                    state=log.state_before,
                    step=log.step_before,
                    stability=log.stability_before,
                    difficulty=log.difficulty_before,
                    due=log.due_before,
                    last_review=log.last_review_before,
                    reps=log.reps_before,
                    lapses=log.lapses_before,
                ),
            )
            if log.leeched:
                card.suspended = False
                note = card.note
                others = session.scalar(
                    select(ReviewLog.id)
                    .join(Card, Card.id == ReviewLog.card_id)
                    .where(
                        Card.note_id == note.id, ReviewLog.leeched.is_(True), ReviewLog.id != log.id
                    )
                    .limit(1)
                )
                if others is None:
                    note.set_tags([t for t in note.tags if t != LEECH_TAG])
            if entry.buried_siblings:
                session.execute(
                    update(Card)
                    .where(Card.id.in_(entry.buried_siblings), Card.buried_until == self.day.end)
                    .values(buried_until=None)
                )
            session.delete(log)
        self._undo.pop()
        self.answered -= 1
        self.again -= entry.again
        self._new_in_session -= entry.was_new
        self._reviews_in_session -= entry.was_review
        self._again_next = entry.card_id
        return entry.card_id

    def suspend(self, card_id: int) -> None:
        with self.store.write() as session:
            card = session.get(Card, card_id)
            if card is not None:
                card.suspended = True

    def bury(self, card_id: int) -> None:
        """Hide the card until the next day starts."""
        with self.store.write() as session:
            card = session.get(Card, card_id)
            if card is not None:
                card.buried_until = self.day.end

    def summary(self) -> Summary:
        now = self.clock()
        with self.store.read() as session:
            stmt = (
                self.scope.apply(select(Card.due))
                .where(queue.available(), Card.state != NEW)
                .order_by(Card.due)
                .limit(1)
            )
            upcoming = session.scalars(stmt.where(Card.due > now)).first()
        return Summary(self.answered, self.again, self.seconds, upcoming)


_SELECT_CARD = (
    select(
        Card.note_id,
        Card.deck_id,
        Card.state,
        Card.step,
        Card.stability,
        Card.difficulty,
        Card.due,
        Card.last_review,
        Card.reps,
        Card.lapses,
        Card.suspended,
    )
    .where(Card.id == bindparam("card_id"))
    .with_for_update()
)
_UPDATE_CARD = (
    update(Card)
    .where(Card.id == bindparam("b_card"))
    .values(
        {
            name: bindparam(f"v_{name}", type_=Card.__table__.c[name].type)
            for name in (*MEMORY_COLUMNS, "suspended")
        }
    )
)
_INSERT_LOG = insert(ReviewLog).returning(ReviewLog.id)
# Siblings not yet studied or in review are hidden until the next day starts; learning
# siblings stay, as in Anki. RETURNING gives their ids for undo.
_BURY_SIBLINGS = (
    update(Card)
    .where(
        Card.note_id == bindparam("b_note"),
        Card.id != bindparam("b_card"),
        Card.state.in_((NEW, REVIEW)),
        Card.suspended.is_(False),
        or_(
            Card.buried_until.is_(None),
            Card.buried_until <= bindparam("b_now", type_=Card.due.type),
        ),
    )
    .values(buried_until=bindparam("b_until", type_=Card.due.type))
    .returning(Card.id)
)
