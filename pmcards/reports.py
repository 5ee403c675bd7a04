"""Listings for the CLI: status, decks, cards. Each returns plain data (the --json shape)
and has a formatter for the terminal."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from pmcards import queue, schema
from pmcards import settings as settings_mod
from pmcards.clock import now_utc, study_day
from pmcards.queue import MEMORY, C, D, Due, Limits, N, Scope
from pmcards.schema import STATE_NAMES

if TYPE_CHECKING:
    from pmcards.queue import Db

FORECAST_DAYS = 7


def _counts(session: Db) -> tuple[dict[int, int], dict[int, int]]:
    """Cards and notes per deck id (index-only scans)."""
    return _per_deck(session, C.deck_id), _per_deck(session, N.deck_id)


def _per_deck(session: Db, deck_id: Any, *where: Any) -> dict[int, int]:
    stmt = select(deck_id, func.count()).where(*where).group_by(deck_id)
    return {int(deck): int(count) for deck, count in session.execute(stmt)}


def _decks(session: Db) -> list[Any]:
    return list(session.execute(select(D.id, D.name, D.description).order_by(D.name)))


def status(session: Db, now: datetime | None = None) -> dict[str, Any]:
    now = now or now_utc()
    cfg = settings_mod.load(session)
    day = study_day(now, cfg.rollover_hour)
    today = queue.answered_today(session, day)
    limits = Limits.left_today(cfg, today)
    by_deck = queue.due_counts_by_deck(session, day, now)
    cards, notes = _counts(session)
    decks_out = []
    total_due = Due()
    for deck in _decks(session):
        due = by_deck.get(deck.id, Due())
        total_due = Due(
            total_due.new + due.new,
            total_due.learning + due.learning,
            total_due.review + due.review,
        )
        shown = limits.cap(due)
        decks_out.append(
            {
                "name": deck.name,
                "new": shown.new,
                "learning": shown.learning,
                "review": shown.review,
                "notes": notes.get(deck.id, 0),
                "cards": cards.get(deck.id, 0),
            }
        )
    total = limits.cap(total_due)
    boundaries = [
        study_day(day.end + timedelta(days=i, hours=12), cfg.rollover_hour).end
        for i in range(FORECAST_DAYS)
    ]
    upcoming = queue.forecast(session, day, FORECAST_DAYS, boundaries)
    return {
        "date": day.date.isoformat(),
        "decks": decks_out,
        "total": {
            "new": total.new,
            "learning": total.learning,
            "review": total.review,
            "notes": sum(notes.values()),
            "cards": sum(cards.values()),
        },
        "reviewed_today": today.answered,
        "limits_left": {"new": limits.new, "review": limits.review},
        "next_days": [
            {"date": (day.date + timedelta(days=i + 1)).isoformat(), "due": count}
            for i, count in enumerate(upcoming)
        ],
    }


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]

    def line(row: list[Any]) -> str:
        return "  ".join(
            str(v).ljust(w) if i == 0 else str(v).rjust(w)
            for i, (v, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])


def format_status(data: dict[str, Any]) -> str:
    rows = [
        [d["name"], d["new"], d["learning"], d["review"], d["notes"], d["cards"]]
        for d in data["decks"]
    ]
    t = data["total"]
    rows.append(["Total", t["new"], t["learning"], t["review"], t["notes"], t["cards"]])
    out = [
        f"Study day {data['date']}: {data['reviewed_today']} answered today",
        "",
        _table(["Deck", "New", "Learning", "Review", "Notes", "Cards"], rows),
        "",
        "Next 7 days: " + "  ".join(f"{d['date'][5:]}: {d['due']}" for d in data["next_days"]),
    ]
    return "\n".join(out)


def decks(session: Db) -> list[dict[str, Any]]:
    cards, notes = _counts(session)
    suspended = _per_deck(session, C.deck_id, C.suspended.is_(True))
    return [
        {
            "name": deck.name,
            "description": deck.description,
            "notes": notes.get(deck.id, 0),
            "cards": cards.get(deck.id, 0),
            "suspended": suspended.get(deck.id, 0),
        }
        for deck in _decks(session)
    ]


def format_decks(data: list[dict[str, Any]]) -> str:
    if not data:
        return "No decks."
    return _table(
        ["Deck", "Notes", "Cards", "Suspended"],
        [[d["name"], d["notes"], d["cards"], d["suspended"]] for d in data],
    )


def cards(
    session: Db, scope: Scope, state: str | None, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Cards with their note's text and FSRS state: one query, however many cards."""
    now = now or now_utc()
    stmt = (
        select(
            C.id,
            C.ord,
            *MEMORY,
            C.suspended,
            C.buried_until,
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
        .order_by(N.position, C.ord)
    )
    if scope.deck is not None:
        stmt = stmt.where(C.deck_id.in_(scope.deck_ids()))
    if scope.tag is not None:
        stmt = stmt.where(N.tags.contains(f" {scope.tag} ", autoescape=True))
    if state == "suspended":
        stmt = stmt.where(C.suspended.is_(True))
    elif state == "buried":
        stmt = stmt.where(C.buried_until > now)
    elif state is not None:
        code = {v: k for k, v in STATE_NAMES.items()}[state]
        stmt = stmt.where(C.state == code)
    return [
        {
            "id": row.id,
            "deck": row.deck,
            "note_id": row.guid,
            "kind": row.kind,
            "ord": row.ord,
            "fields": json.loads(row.fields),
            "tags": row.tags.split(),
            "section": row.section,
            "state": STATE_NAMES[row.state],
            "step": row.step,
            "stability": row.stability,
            "difficulty": row.difficulty,
            "due": row.due.isoformat(),
            "last_review": row.last_review.isoformat() if row.last_review else None,
            "reps": row.reps,
            "lapses": row.lapses,
            "suspended": row.suspended,
            "buried": row.buried_until is not None and row.buried_until > now,
        }
        for row in session.execute(stmt)
    ]


def format_cards(data: list[dict[str, Any]]) -> str:
    from pmcards.kinds import summary
    from pmcards.tui import safe

    if not data:
        return "No cards."
    rows = []
    for c in data:
        text = safe(summary(c["kind"], c["fields"])).replace("\n", " ")
        text = text if len(text) <= 60 else text[:59] + "…"
        state = c["state"] + (" (suspended)" if c["suspended"] else "")
        due = "" if c["state"] == "new" else c["due"][:10]
        rows.append([c["note_id"] + (f"#{c['ord']}" if c["ord"] else ""), state, due, text])
    return _table(["Note", "State", "Due", "Text"], rows)
