"""Listings for the CLI: status, decks, cards. Each returns plain data (the --json shape)
and has a formatter for the terminal."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from pmcards import interview, queries, schema
from pmcards import settings as settings_mod
from pmcards.cardstate import STATE_NAMES
from pmcards.clock import day_ends, study_day
from pmcards.markup import safe
from pmcards.queries import MEMORY, C, D, Due, Limits, N, Scope

FORECAST_DAYS = 7


def _counts(conn: Connection) -> tuple[dict[int, int], dict[int, int]]:
    """Cards and notes per deck id (index-only scans)."""
    return _per_deck(conn, C.deck_id), _per_deck(conn, N.deck_id)


def _per_deck(conn: Connection, deck_id: Any, *where: Any) -> dict[int, int]:
    stmt = select(deck_id, func.count()).where(*where).group_by(deck_id)
    return {int(deck): int(count) for deck, count in conn.execute(stmt)}


def _decks(conn: Connection) -> list[Any]:
    return list(conn.execute(select(D.id, D.name, D.description).order_by(D.name)))


def status(conn: Connection, now: datetime) -> dict[str, Any]:
    cfg = settings_mod.load(conn)
    day = study_day(now, cfg.rollover_hour)
    today = queries.answered_today(conn, day)
    # The same limits as the review session: an interview plan's, while one is in force.
    limits = Limits.left_today(interview.daily_limits(conn, cfg, now, day.end, None), today)
    # What `pmcards review` counts: prompts are left to `pmcards mock` unless set otherwise.
    in_review = queries.review_scope(cfg)
    by_deck = queries.due_counts_by_deck(conn, day, now, in_review)
    cards, notes = _counts(conn)
    decks_out = []
    total_due = Due()
    for deck in _decks(conn):
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
    boundaries = day_ends(day, FORECAST_DAYS, cfg.rollover_hour)
    upcoming = queries.forecast(conn, day, FORECAST_DAYS, boundaries, in_review)
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
        [safe(d["name"]), d["new"], d["learning"], d["review"], d["notes"], d["cards"]]
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


def decks(conn: Connection) -> list[dict[str, Any]]:
    cards, notes = _counts(conn)
    suspended = _per_deck(conn, C.deck_id, C.suspended.is_(True))
    return [
        {
            "name": deck.name,
            "description": deck.description,
            "notes": notes.get(deck.id, 0),
            "cards": cards.get(deck.id, 0),
            "suspended": suspended.get(deck.id, 0),
        }
        for deck in _decks(conn)
    ]


def format_decks(data: list[dict[str, Any]]) -> str:
    if not data:
        return "No decks."
    return _table(
        ["Deck", "Notes", "Cards", "Suspended"],
        [[safe(d["name"]), d["notes"], d["cards"], d["suspended"]] for d in data],
    )


def cards(conn: Connection, scope: Scope, now: datetime) -> list[dict[str, Any]]:
    """Cards with their note's text and FSRS state: one query, however many cards."""
    stmt = scope.apply(
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
        .order_by(N.position, C.ord),
        now,
    )
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
        for row in conn.execute(stmt)
    ]


def format_cards(data: list[dict[str, Any]]) -> str:
    # Only the text listing needs the kinds and the sanitiser: loaded here.
    from pmcards.kinds import summary
    from pmcards.markup import safe

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
