"""Timed mock interviews on design prompts.

A prompt note holds the prompt and a rubric: the points a strong answer makes, each with
tags naming the cards that train it, some marked MUST (a strong answer cannot miss them),
and the RED FLAGs a strong answer avoids. A mock runs the phases on a clock (framing,
sketch, trade-offs), then the user ticks the points they made and any red flag they said.
The share of points covered is the rating of the prompt's card, capped at Hard by a missed
MUST and set to Again by a red flag said, given through the study session's own answer path
(`source = "mock"`); the attempt, its missed points and its red flags are kept; and each
missed point makes the most forgotten-prone studied cards with its tags due now, so the next
`pmcards review` trains exactly what the mock showed to be missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from fsrs import Rating
from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from pmcards import cardstate, changes, schema
from pmcards.cardstate import NEW, REVIEW, Memory, memory_of
from pmcards.errors import PmcardsError
from pmcards.kinds import PROMPT, RubricPoint, rubric_points
from pmcards.queries import MEMORY, C, D, N, Scope, available, risk_order
from pmcards.schema import tags_to_text

PHASES = ("Framing", "Sketch", "Trade-offs")
DEFAULT_MINUTES = (5.0, 10.0, 5.0)
# Studied cards made due now for each missed rubric point.
RAISE_PER_POINT = 3
A = schema.mock_attempts.c
M = schema.mock_missed.c
F = schema.mock_red_flags.c
MA, MM = A, M


@dataclass(frozen=True)
class Prompt:
    card_id: int
    note_id: int
    guid: str
    deck: str
    prompt: str
    points: tuple[RubricPoint, ...]  # the points a strong answer makes
    why: str
    state: int
    red_flags: tuple[RubricPoint, ...] = ()  # what a strong answer must not say


@dataclass
class Attempt:
    """One mock in progress: the time each phase took, then the points made."""

    prompt: Prompt
    started_at: datetime
    minutes: tuple[float, ...]
    spent: list[float] = field(default_factory=list)  # seconds per phase
    covered: set[int] = field(default_factory=set)  # numbers of the points made
    said: set[int] = field(default_factory=set)  # numbers of the red flags said

    def phases(self) -> list[dict[str, Any]]:
        return [
            {"name": name, "planned_s": round(m * 60), "spent_s": round(s)}
            for name, m, s in zip(PHASES, self.minutes, self.spent, strict=False)
        ]

    def made(self) -> list[RubricPoint]:
        return [p for p in self.prompt.points if p.number in self.covered]

    def missed(self) -> list[RubricPoint]:
        """The points not made (red flags are not points: avoiding one is no credit)."""
        return [p for p in self.prompt.points if p.number not in self.covered]

    def flags_said(self) -> list[RubricPoint]:
        return [p for p in self.prompt.red_flags if p.number in self.said]

    def rating(self) -> Rating:
        return rating_for(
            len(self.made()),
            len(self.prompt.points),
            must_missed=any(p.must for p in self.missed()),
            red_flag=bool(self.flags_said()),
        )


def rating_for(
    covered: int, total: int, *, must_missed: bool = False, red_flag: bool = False
) -> Rating:
    """The mock as an FSRS rating. By the share of points covered: under half Again, under
    80% Hard, under all Good, every point Easy; a missed MUST point caps it at Hard (an
    interviewer does not pass an answer without it); a red flag said makes it Again."""
    if red_flag:
        return Rating.Again
    share = covered / total if total else 0.0
    if share < 0.5:
        rating = Rating.Again
    elif share < 0.8:
        rating = Rating.Hard
    elif share < 1.0:
        rating = Rating.Good
    else:
        rating = Rating.Easy
    return min(rating, Rating.Hard) if must_missed else rating


def parse_minutes(text: str) -> tuple[float, ...]:
    """`5,10,5`: the minutes of framing, sketch and trade-offs."""
    try:
        values = tuple(float(p) for p in text.replace(" ", "").split(",") if p)
    except ValueError:
        raise PmcardsError(f"--minutes {text!r}: give three numbers, e.g. 5,10,5") from None
    if len(values) != len(PHASES) or not all(0 < v <= 120 for v in values):
        raise PmcardsError(
            f"--minutes {text!r}: give three numbers of minutes from 0 to 120, one per phase "
            f"({', '.join(PHASES).lower()}), e.g. 5,10,5"
        )
    return values


def _prompt(row: Any) -> Prompt:
    fields = json.loads(row.fields)
    rubric = rubric_points(fields["rubric"])
    return Prompt(
        card_id=row.id,
        note_id=row.note_id,
        guid=row.guid,
        deck=row.deck,
        prompt=fields["prompt"],
        points=tuple(p for p in rubric if not p.red_flag),
        why=fields.get("why", ""),
        state=row.state,
        red_flags=tuple(p for p in rubric if p.red_flag),
    )


def pick(db: Connection, scope: Scope, now: datetime, guid: str | None = None) -> Prompt:
    """The prompt `guid`, or the one to practise next: the studied prompt with the lowest
    predicted recall if it is due, else the first new prompt in deck order, else the
    studied prompt with the lowest predicted recall."""
    stmt = (
        select(
            C.id,
            C.note_id,
            *MEMORY,
            N.guid,
            N.fields,
            D.name.label("deck"),
        )
        .select_from(schema.cards)
        .join(schema.notes, N.id == C.note_id)
        .join(schema.decks, D.id == C.deck_id)
        .where(N.kind == PROMPT.name)
    )
    if guid is not None:
        row = db.execute(stmt.where(N.guid == guid)).first()
        if row is None:
            raise PmcardsError(f"no prompt note with id {guid!r} (pmcards cards --json lists ids)")
        return _prompt(row)
    stmt = scope.apply(stmt).where(available())
    studied = db.execute(
        stmt.where(C.state != NEW, C.stability > 0).order_by(risk_order(now).desc(), C.id).limit(1)
    ).first()
    if studied is not None and studied.due <= now:
        return _prompt(studied)
    new = db.execute(stmt.where(C.state == NEW).order_by(N.position, C.id).limit(1)).first()
    chosen = new or studied
    if chosen is None:
        raise PmcardsError(
            "no design prompts in the collection: add the built-in mock deck with "
            "pmcards import --builtin"
        )
    return _prompt(chosen)


@dataclass(frozen=True)
class Raised:
    """A card a missed point made due: its memory before and after, its burial before."""

    card_id: int
    before: Memory
    after: Memory
    buried_until: datetime | None


def raise_matching(
    conn: Connection, tags: tuple[str, ...], now: datetime, exclude_note: int
) -> list[Raised]:
    """Make the studied cards with any of `tags` that are most at risk of being forgotten
    due now (un-burying them), at most RAISE_PER_POINT. Returns the cards moved."""
    if not tags:
        return []
    matches = or_(*[N.tags.contains(f" {t} ", autoescape=True) for t in tags])
    rows = conn.execute(
        select(C.id, C.buried_until, *MEMORY)
        .select_from(schema.cards)
        .join(schema.notes, N.id == C.note_id)
        .where(
            matches,
            N.kind != PROMPT.name,
            N.id != exclude_note,
            available(),
            C.state == REVIEW,
            C.due > now,
            C.stability > 0,
        )
        .order_by(risk_order(now).desc(), C.id)
        .limit(RAISE_PER_POINT)
    ).all()
    ids = [row.id for row in rows]
    if ids:
        conn.execute(update(schema.cards).where(C.id.in_(ids)).values(buried_until=None))
    moves = [
        Raised(row.id, memory_of(row), replace(memory_of(row), due=now), row.buried_until)
        for row in rows
    ]
    changes.apply(conn, "mock", now, [(m.card_id, m.before, m.after) for m in moves])
    return moves


class Recorder:
    """What `StudySession.answer(record=...)` writes with the mock, in its transaction: the
    attempt, its missed points, and the matching cards made due (`raised`, per point)."""

    def __init__(self, attempt: Attempt, now: datetime) -> None:
        self.attempt = attempt
        self.now = now
        self.raised: dict[int, int] = {}
        self.moves: list[Raised] = []
        self.attempt_id: int | None = None

    def __call__(self, conn: Connection, log_id: int) -> None:
        attempt = self.attempt
        attempt_id = conn.execute(
            insert(schema.mock_attempts)
            .values(
                note_id=attempt.prompt.note_id,
                card_id=attempt.prompt.card_id,
                started_at=attempt.started_at,
                phases=json.dumps(attempt.phases()),
                covered=len(attempt.made()),
                total=len(attempt.prompt.points),
                rating=int(attempt.rating()),
                review_log_id=log_id,
            )
            .returning(A.id)
        ).scalar_one()
        self.attempt_id = attempt_id
        for point in attempt.missed():
            moved = raise_matching(conn, point.tags, self.now, attempt.prompt.note_id)
            self.moves += moved
            n = self.raised[point.number] = len(moved)
            conn.execute(
                insert(schema.mock_missed).values(
                    attempt_id=attempt_id,
                    point=point.number,
                    text=point.text,
                    tags=tags_to_text(list(point.tags)),
                    cards_raised=n,
                )
            )
        for flag in attempt.flags_said():
            conn.execute(
                insert(schema.mock_red_flags).values(
                    attempt_id=attempt_id,
                    flag=flag.number,
                    text=flag.text,
                    tags=tags_to_text(list(flag.tags)),
                )
            )

    def undo(self, conn: Connection) -> None:
        """The mock undone: its attempt goes (with its missed points and red flags), and the
        cards it made due go back to their memory and burial before, each unless something
        changed it since; their `card_changes` rows go with them."""
        if self.attempt_id is not None:
            conn.execute(delete(schema.mock_attempts).where(A.id == self.attempt_id))
        CC = schema.card_changes.c
        for move in self.moves:
            row = conn.execute(select(C.id, *MEMORY).where(C.id == move.card_id)).one_or_none()
            if row is None or memory_of(row) != move.after:
                continue
            values = cardstate.memory_values(move.before)
            conn.execute(
                update(schema.cards)
                .where(C.id == move.card_id)
                .values(**values, buried_until=move.buried_until)
            )
            conn.execute(
                delete(schema.card_changes).where(
                    CC.card_id == move.card_id, CC.source == "mock", CC.changed_at == self.now
                )
            )


def figures(db: Connection, limit: int = 5) -> dict[str, Any]:
    """Mock figures for `pmcards stats`: attempts, coverage, the points and tags most missed."""
    attempts, covered, total = db.execute(
        select(
            func.count(),
            func.coalesce(func.sum(MA.covered), 0),
            func.coalesce(func.sum(MA.total), 0),
        )
    ).one()
    recent = db.execute(
        select(MA.started_at, MA.covered, MA.total, MA.rating, N.guid, N.fields)
        .join(schema.notes, N.id == MA.note_id)
        .order_by(MA.started_at.desc(), MA.id.desc())
        .limit(limit)
    ).all()
    missed_rows = db.execute(
        select(MM.text, MM.tags, func.count().label("n"))
        .group_by(MM.text, MM.tags)
        .order_by(func.count().desc(), MM.text)
        .limit(limit)
    ).all()
    flags_said = int(db.scalar(select(func.count()).select_from(schema.mock_red_flags)) or 0)
    flag_rows = db.execute(
        select(F.text, func.count().label("n"))
        .group_by(F.text)
        .order_by(func.count().desc(), F.text)
        .limit(limit)
    ).all()
    tag_counts: dict[str, int] = {}
    for tags, n in db.execute(select(MM.tags, func.count()).group_by(MM.tags)):
        for tag in tags.split():
            tag_counts[tag] = tag_counts.get(tag, 0) + int(n)
    return {
        "attempts": int(attempts),
        "coverage": round(int(covered) / int(total), 4) if total else None,
        "recent": [
            {
                "date": started.date().isoformat(),
                "note_id": guid,
                "prompt": PROMPT.summary(json.loads(fields)),
                "covered": int(c),
                "total": int(t),
                "rating": int(r),
            }
            for started, c, t, r, guid, fields in recent
        ],
        "most_missed": [
            {"point": text, "tags": tags.split(), "times": int(n)} for text, tags, n in missed_rows
        ],
        "red_flags_said": flags_said,
        "most_said_red_flags": [{"red_flag": text, "times": int(n)} for text, n in flag_rows],
        "missed_tags": [
            {"tag": tag, "times": n}
            for tag, n in sorted(tag_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        ],
    }


def prompts(db: Connection, scope: Scope, now: datetime) -> list[dict[str, Any]]:
    """Every prompt in scope for `mock --list`: the due ones first (most at risk first), then
    the rest by due date, new prompts last in deck order."""
    rows = db.execute(
        scope.apply(
            select(C.id, C.state, C.due, C.suspended, N.guid, N.fields, D.name.label("deck"))
            .select_from(schema.cards)
            .join(schema.notes, N.id == C.note_id)
            .join(schema.decks, D.id == C.deck_id)
            .where(N.kind == PROMPT.name)
            .order_by(N.position)
        )
    ).all()
    far = datetime.max.replace(tzinfo=now.tzinfo)
    ordered = sorted(
        rows, key=lambda r: (r.state == NEW, r.suspended, r.due if r.state != NEW else far)
    )
    return [
        {
            "id": row.guid,
            "deck": row.deck,
            "prompt": PROMPT.summary(json.loads(row.fields)),
            "state": "new" if row.state == NEW else "studied",
            "due": None if row.state == NEW else row.due.isoformat(),
            "due_now": row.state != NEW and row.due <= now,
            "suspended": row.suspended,
        }
        for row in ordered
    ]


def format_prompts(prompts: list[dict[str, Any]]) -> str:
    from pmcards.markup import cut, safe

    if not prompts:
        return "No design prompts here."
    width = max(len(p["id"]) for p in prompts)
    lines = []
    for p in prompts:
        when = "new" if p["due"] is None else ("due now" if p["due_now"] else p["due"][:10])
        if p["suspended"]:
            when += ", suspended"
        lines.append(f"{p['id']:<{width}}  {when:<10}  {cut(safe(p['prompt']), 70)}")
    return "\n".join(lines)
