"""The contrast drill: one answer of a contrast note shown, the user calls it BAD or GOOD.

Each call is an answer to the note's "judge" card (ord 1), given through the study
session's own answer path: a wrong call is Again, a right one Good, the review log says
`source = "drill"`, and the call itself is kept in `drill_results`, all in one transaction.
So the drill is part of the schedule, not a game beside it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fsrs import Rating
from sqlalchemy import case, delete, func, insert, select
from sqlalchemy.engine import Connection

from pmcards import cardstate, scheduling, schema
from pmcards.cardstate import NEW
from pmcards.kinds import BAD, CONTRAST, GOOD, JUDGE_ORD
from pmcards.queries import MEMORY, C, D, N, Scope, available, not_buried, risk_order
from pmcards.settings import Settings

DR = schema.drill_results.c


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


def pick(
    db: Connection,
    settings: Settings,
    scope: Scope,
    now: datetime,
    count: int,
    draw_side: Callable[[], str],
) -> list[DrillItem]:
    """Up to `count` contrast notes to drill, in the order they are shown: studied ones with
    the lowest predicted recall of their judge card first (SQL ranks by elapsed days over
    stability, which FSRS's forgetting curve maps to recall), then new ones in deck order.
    Buried cards are left out: their sibling was answered today, which gives the answer
    away. `draw_side` (the session's) draws the side each one shows, in that order."""
    columns = (
        C.id,
        C.note_id,
        *MEMORY,
        N.guid,
        N.fields,
        N.position,
        D.name.label("deck"),
    )
    base = scope.apply(
        select(*columns)
        .select_from(schema.cards)
        .join(schema.notes, N.id == C.note_id)
        .join(schema.decks, D.id == C.deck_id)
        .where(N.kind == CONTRAST.name, C.ord == JUDGE_ORD, available(), not_buried(now))
    )
    studied = db.execute(
        base.where(C.state != NEW, C.stability > 0)
        .order_by(risk_order(now).desc(), C.id)
        .limit(count)
    ).all()
    ranked = sorted(
        studied,
        key=lambda row: (
            scheduling.retrievability(settings, cardstate.memory_of(row), now),
            row.id,
        ),
    )
    if len(ranked) < count:
        ranked += db.execute(
            base.where(C.state == NEW).order_by(N.position, C.id).limit(count - len(ranked))
        ).all()
    return [_item(row, draw_side()) for row in ranked[:count]]


def _item(row: Any, side: str) -> DrillItem:
    fields = json.loads(row.fields)
    return DrillItem(
        card_id=row.id,
        note_id=row.note_id,
        guid=row.guid,
        deck=row.deck,
        situation=fields["situation"],
        shown=side,
        answer_text=fields[BAD] if side == BAD else fields[GOOD],
        good=fields["good"],
        why=fields.get("why", ""),
        state=row.state,
    )


def rating_for(correct: bool) -> Rating:
    return Rating.Good if correct else Rating.Again


def recorder(item: DrillItem, answer: str, now: datetime) -> Any:
    """What `StudySession.answer(record=...)` writes with the call, in its transaction (and
    takes back when the answer is undone)."""
    return _DrillRecord(item, answer, now)


@dataclass
class _DrillRecord:
    item: DrillItem
    answer: str
    now: datetime
    log_id: int | None = None

    def __call__(self, conn: Connection, log_id: int) -> None:
        self.log_id = log_id
        conn.execute(
            insert(schema.drill_results).values(
                note_id=self.item.note_id,
                card_id=self.item.card_id,
                shown=self.item.shown,
                answer=self.answer,
                correct=self.answer == self.item.shown,
                answered_at=self.now,
                review_log_id=log_id,
            )
        )

    def undo(self, conn: Connection) -> None:
        """The call undone: it no longer counts in the drill's figures."""
        if self.log_id is not None:
            R = schema.drill_results.c
            conn.execute(delete(schema.drill_results).where(R.review_log_id == self.log_id))


def accuracy(right: int, calls: int) -> float | None:
    return round(right / calls, 4) if calls else None


def figures(db: Connection, limit: int = 5) -> dict[str, Any]:
    """Drill figures for `pmcards stats`: calls, right calls, and both per side shown (a
    learner who calls everything BAD is right on every BAD answer and wrong on every GOOD
    one: the split shows the habit), and the notes most often misjudged."""
    right_calls = func.coalesce(func.sum(case((DR.correct.is_(True), 1), else_=0)), 0)
    per_side = {
        side: (int(n), int(r))
        for side, n, r in db.execute(select(DR.shown, func.count(), right_calls).group_by(DR.shown))
    }
    total = sum(n for n, _ in per_side.values())
    right = sum(r for _, r in per_side.values())
    wrong = func.sum(case((DR.correct.is_(False), 1), else_=0))
    rows = db.execute(
        select(N.guid, N.fields, func.count(), wrong.label("wrong"))
        .select_from(schema.drill_results)
        .join(schema.notes, N.id == DR.note_id)
        .group_by(N.id, N.guid, N.fields)
        .having(wrong > 0)
        .order_by(wrong.desc(), N.guid)
        .limit(limit)
    ).all()
    return {
        "calls": total,
        "right": right,
        "accuracy": accuracy(right, total),
        "by_side": {
            side: {
                "calls": per_side.get(side, (0, 0))[0],
                "right": per_side.get(side, (0, 0))[1],
                "accuracy": accuracy(per_side.get(side, (0, 0))[1], per_side.get(side, (0, 0))[0]),
            }
            for side in (BAD, GOOD)
        },
        "most_misjudged": [
            {
                "note_id": guid,
                "text": CONTRAST.summary(json.loads(fields)),
                "calls": int(n),
                "wrong": int(w),
            }
            for guid, fields, n, w in rows
        ],
    }


# A gap in accuracy between the two sides this wide, over this many calls of each, is
# reported as a habit (always calling one verdict) rather than judgement.
HABIT_GAP = 0.3
HABIT_CALLS = 5


def by_side_text(by_side: dict[str, dict[str, Any]]) -> list[str]:
    """Accuracy per side shown, for the terminal: one line, and a second naming a one-sided
    habit when the split shows one."""
    parts = []
    for side in (BAD, GOOD):
        n, r = by_side[side]["calls"], by_side[side]["right"]
        share = f" ({r / n:.0%})" if n else ""
        parts.append(f"shown {side.upper()}: {r} of {n} right{share}")
    lines = ["  " + "   ".join(parts)]
    bad, good = by_side[BAD], by_side[GOOD]
    if bad["calls"] >= HABIT_CALLS and good["calls"] >= HABIT_CALLS:
        gap = bad["right"] / bad["calls"] - good["right"] / good["calls"]
        if abs(gap) >= HABIT_GAP:
            strong, weak = (BAD, GOOD) if gap > 0 else (GOOD, BAD)
            lines.append(
                f"  You judge answers shown as {strong.upper()} far better than those shown as "
                f"{weak.upper()}: you may be calling most answers {strong.upper()} by habit."
            )
    return lines
