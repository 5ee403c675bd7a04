"""What review, drill and mock share: the collection, the clock, the study day, the settings
and interview plan in force, every action in its own write transaction, and undo.

No terminal code here: the screens in `ui/` drive it, and tests drive it directly. Every
action (an answer, a suspend, a bury) is committed before the method returns, and recorded
on the undo stack with what the session looked like before it, so `undo` restores both the
collection and what the session shows next.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from fsrs import Rating

from pmcards import answer as answer_mod
from pmcards import interview
from pmcards import settings as settings_mod
from pmcards.answer import Answered, Record
from pmcards.cardstate import NEW, REVIEW
from pmcards.clock import now_utc, study_day
from pmcards.errors import PmcardsError
from pmcards.kinds import SideDraw
from pmcards.plan import Active
from pmcards.store import Store


@dataclass(frozen=True)
class Undone:
    """What `undo` took back: the action's kind ("answer", "suspend", "bury") and its cards.
    After an answer is undone its card is shown again next."""

    kind: str
    card_ids: tuple[int, ...]

    def describe(self) -> str:
        return {
            "answer": "Undid the last answer.",
            "suspend": "Undid the suspend: the card is back.",
            "bury": "Undid the bury: the card is back.",
        }[self.kind]


@dataclass
class _Action:
    kind: str  # "answer", "suspend" or "bury"
    card_ids: tuple[int, ...]
    answered: Answered | None = None
    until: datetime | None = None  # a bury's end
    record: Record | None = None  # what the answer wrote with itself (a drill call, a mock)
    # The session's state before the action, restored by undo.
    before: dict[str, Any] = field(default_factory=dict)


@dataclass
class StudySession:
    """A study session over one collection: answers, suspends, buries, and their undo."""

    store: Store
    # Keyword-only, so a subclass's own fields follow `store` positionally.
    clock: Callable[[], datetime] = field(default=now_utc, kw_only=True)
    tz: tzinfo | None = field(default=None, kw_only=True)
    # Seeds the draw of the side a judge card shows. None: from the operating system, so a
    # learner cannot predict it; tests give one to fix it.
    seed: int | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if self.seed is None:
            self.seed = random.SystemRandom().randrange(1 << 64)
        # BAD or GOOD for each presentation of a judge card, in review and in the drill.
        self.draw_side = SideDraw(random.Random(self.seed))
        self.started = self.clock()
        self.answered = 0
        self.again = 0
        self.seconds = 0.0
        self._undo: list[_Action] = []
        # The outcomes shown with the last card on screen, for its answer to reuse.
        self._preview: answer_mod.Preview | None = None
        with self.store.read() as conn:
            self.settings = settings_mod.load(conn)
            self.plan: Active | None = interview.active(conn, self.settings, self.started, self.tz)
        self.day = study_day(self.started, self.settings.rollover_hour, self.tz)

    # -- the day -------------------------------------------------------------------------

    def _check_day(self, now: datetime) -> None:
        if now >= self.day.end or now < self.day.start:
            self._start_day(now)

    def _start_day(self, now: datetime) -> None:
        """A new study day: its bounds, and the plan in force on it."""
        self.day = study_day(now, self.settings.rollover_hour, self.tz)
        with self.store.read() as conn:
            self.plan = interview.active(conn, self.settings, now, self.tz)

    # -- what a subclass keeps about its queue, for undo -----------------------------------

    def _snapshot(self) -> dict[str, Any]:
        return {"answered": self.answered, "again": self.again, "seconds": self.seconds}

    def _restore(self, state: dict[str, Any]) -> None:
        self.answered = state["answered"]
        self.again = state["again"]
        self.seconds = state["seconds"]

    def _counted(self, done: Answered) -> None:
        """Hook: a subclass counts an answer against its budgets."""

    # -- actions -------------------------------------------------------------------------

    def answer(
        self,
        card_id: int,
        rating: Rating,
        duration_ms: int | None = None,
        *,
        source: str = "review",
        record: Record | None = None,
        shown_reps: int | None = None,
    ) -> Answered:
        """Grade a card (see `answer.answer`); committed on return."""
        now = self.clock()
        self._check_day(now)
        before = self._snapshot()
        with self.store.write() as conn:
            done = answer_mod.answer(
                conn,
                self.settings,
                self.plan,
                card_id,
                rating,
                now,
                bury_until=self.day.end,
                duration_ms=duration_ms,
                source=source,
                record=record,
                shown_reps=shown_reps,
                preview=self._preview,
            )
            if self.plan is not None and self.plan.covers(done.deck_id):
                # The plan places later answers on the days with room: this one is booked.
                self.plan.horizon.book(done.due)
        self._preview = None
        self.answered += 1
        self.again += rating == Rating.Again
        self.seconds += min(max(duration_ms or 0, 0), answer_mod.MAX_ANSWER_MS) / 1000
        self._counted(done)
        self._undo.append(
            _Action("answer", (card_id,), answered=done, record=record, before=before)
        )
        return done

    def suspend(self, card_id: int) -> bool:
        """Suspend a card; False if it already was."""
        before = self._snapshot()
        with self.store.write() as conn:
            changed = answer_mod.suspend(conn, [card_id])
        if changed:
            self._undo.append(_Action("suspend", tuple(changed), before=before))
        return bool(changed)

    def bury(self, card_id: int) -> bool:
        """Hide a card until the next study day starts; False if it already was."""
        now = self.clock()
        self._check_day(now)
        before = self._snapshot()
        with self.store.write() as conn:
            changed = answer_mod.bury(conn, [card_id], self.day.end, now)
        if changed:
            self._undo.append(_Action("bury", tuple(changed), until=self.day.end, before=before))
        return bool(changed)

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    def undo(self) -> Undone:
        """Take back the last action of this session, of any kind, several levels deep: the
        collection as it was before it, and the session showing what it would have shown.
        """
        if not self._undo:
            raise PmcardsError("nothing to undo in this session")
        action = self._undo[-1]
        try:
            with self.store.write() as conn:
                if action.answered is not None:
                    answer_mod.undo_record(conn, action.record)
                    answer_mod.undo(conn, action.answered, self.day.end)
                elif action.kind == "suspend":
                    answer_mod.unsuspend(conn, list(action.card_ids))
                else:
                    assert action.until is not None
                    answer_mod.unbury(conn, list(action.card_ids), action.until)
        except PmcardsError:
            self._undo.pop()
            raise
        self._undo.pop()
        self._restore(action.before)
        return Undone(action.kind, action.card_ids)


def was_new(done: Answered) -> bool:
    return done.state_before == NEW


def was_review(done: Answered) -> bool:
    return done.state_before == REVIEW
