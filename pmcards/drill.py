"""The contrast drill: one answer of a contrast note shown, the user calls it BAD or GOOD.

Each call is an answer to the note's "judge" card (ord 1), given through the review
session's own answer path: a wrong call is Again, a right one Good, the review log says
`source = "drill"`, and the call itself is kept in `drill_results`, all in one transaction.
So the drill is part of the schedule, not a game beside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fsrs import Rating
from sqlalchemy import insert, literal, select

from pmcards import scheduling, schema
from pmcards.kinds import judge_shows_bad
from pmcards.queue import MEMORY, C, D, N, Scope, available, not_buried
from pmcards.schema import NEW
from pmcards.settings import Settings
from pmcards.sqltime import days_between

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from pmcards.queue import Db

JUDGE_ORD = 1
R = schema.drill_results.c


@dataclass(frozen=True)
class DrillItem:
    card_id: int
    note_id: int
    guid: str
    deck: str
    situation: str
    shown: str  # "bad" or "good": which answer is on screen
    answer_text: str
    good: str  # the GOOD answer, shown after the call when the BAD one was on screen
    why: str
    state: int

    @property
    def correct_call(self) -> str:
        return self.shown


def pick(db: Db, settings: Settings, scope: Scope, now: datetime, count: int) -> list[DrillItem]:
    """Up to `count` contrast notes to drill: studied ones with the lowest predicted recall
    of their judge card first (SQL ranks by elapsed days over stability, which FSRS's
    forgetting curve maps to recall), then new ones in deck order. Buried cards are left
    out: their sibling was answered today, which gives the answer away."""
    columns = (
        C.id,
        C.note_id,
        *MEMORY,
        N.guid,
        N.fields,
        N.position,
        D.name.label("deck"),
    )
    base = (
        select(*columns)
        .select_from(schema.cards)
        .join(schema.notes, N.id == C.note_id)
        .join(schema.decks, D.id == C.deck_id)
        .where(N.kind == "contrast", C.ord == JUDGE_ORD, available(), not_buried(now))
    )
    if scope.deck is not None:
        base = base.where(C.deck_id.in_(scope.deck_ids()))
    if scope.tag is not None:
        base = base.where(N.tags.contains(f" {scope.tag} ", autoescape=True))
    ratio = days_between(literal(now, type_=C.due.type), C.last_review) / C.stability
    studied = db.execute(
        base.where(C.state != NEW, C.stability > 0).order_by(ratio.desc(), C.id).limit(count)
    ).all()
    ranked = sorted(
        studied,
        key=lambda row: (
            scheduling.retrievability(settings, scheduling.memory_of(row), now),
            row.id,
        ),
    )
    if len(ranked) < count:
        ranked += db.execute(
            base.where(C.state == NEW).order_by(N.position, C.id).limit(count - len(ranked))
        ).all()
    return [_item(row) for row in ranked[:count]]


def _item(row: Any) -> DrillItem:
    fields = json.loads(row.fields)
    bad = judge_shows_bad(row.reps)  # the same alternation as the card in a review
    return DrillItem(
        card_id=row.id,
        note_id=row.note_id,
        guid=row.guid,
        deck=row.deck,
        situation=fields["situation"],
        shown="bad" if bad else "good",
        answer_text=fields["bad"] if bad else fields["good"],
        good=fields["good"],
        why=fields.get("why", ""),
        state=row.state,
    )


def rating_for(correct: bool) -> Rating:
    return Rating.Good if correct else Rating.Again


def recorder(item: DrillItem, answer: str, now: datetime) -> Any:
    """What `ReviewSession.answer(record=...)` writes with the call, in its transaction."""

    def record(conn: Connection, log_id: int) -> None:
        conn.execute(
            insert(schema.drill_results).values(
                note_id=item.note_id,
                card_id=item.card_id,
                shown=item.shown,
                answer=answer,
                correct=answer == item.shown,
                answered_at=now,
                review_log_id=log_id,
            )
        )

    return record
