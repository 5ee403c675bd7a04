"""Listings for the CLI: status, decks, cards. Each returns plain data (the --json shape)
and has a formatter for the terminal."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pmcards import queue
from pmcards import settings as settings_mod
from pmcards.clock import now_utc, study_day
from pmcards.models import STATE_NAMES, Card, Deck, Note
from pmcards.queue import Due, Limits, Scope

FORECAST_DAYS = 7


def _counts(session: Session) -> tuple[dict[int, int], dict[int, int]]:
    """Cards and notes per deck id."""
    notes = dict(session.execute(select(Note.deck_id, func.count()).group_by(Note.deck_id)).all())
    cards = dict(
        session.execute(
            select(Note.deck_id, func.count())
            .select_from(Card)
            .join(Note, Note.id == Card.note_id)
            .group_by(Note.deck_id)
        ).all()
    )
    return cards, notes


def status(session: Session, now: datetime | None = None) -> dict[str, Any]:
    now = now or now_utc()
    cfg = settings_mod.load(session)
    day = study_day(now, cfg.rollover_hour)
    today = queue.answered_today(session, day)
    limits = Limits.left_today(cfg, today)
    by_deck = queue.due_counts_by_deck(session, day, now)
    cards, notes = _counts(session)
    decks_out = []
    total_due = Due()
    for deck in session.scalars(select(Deck).order_by(Deck.name)):
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


def decks(session: Session) -> list[dict[str, Any]]:
    cards, notes = _counts(session)
    suspended = dict(
        session.execute(
            select(Note.deck_id, func.count())
            .select_from(Card)
            .join(Note, Note.id == Card.note_id)
            .where(Card.suspended.is_(True))
            .group_by(Note.deck_id)
        ).all()
    )
    return [
        {
            "name": deck.name,
            "description": deck.description,
            "notes": notes.get(deck.id, 0),
            "cards": cards.get(deck.id, 0),
            "suspended": suspended.get(deck.id, 0),
        }
        for deck in session.scalars(select(Deck).order_by(Deck.name))
    ]


def format_decks(data: list[dict[str, Any]]) -> str:
    if not data:
        return "No decks."
    return _table(
        ["Deck", "Notes", "Cards", "Suspended"],
        [[d["name"], d["notes"], d["cards"], d["suspended"]] for d in data],
    )


def cards(
    session: Session, scope: Scope, state: str | None, now: datetime | None = None
) -> list[dict[str, Any]]:
    now = now or now_utc()
    stmt = scope.apply(select(Card)).order_by(Card.note_id, Card.ord)
    if state == "suspended":
        stmt = stmt.where(Card.suspended.is_(True))
    elif state == "buried":
        stmt = stmt.where(Card.buried_until > now)
    elif state is not None:
        code = {v: k for k, v in STATE_NAMES.items()}[state]
        stmt = stmt.where(Card.state == code)
    out = []
    deck_names = dict(session.execute(select(Deck.id, Deck.name)).all())
    for card in session.scalars(stmt):
        note = card.note
        out.append(
            {
                "id": card.id,
                "deck": deck_names[note.deck_id],
                "note_id": note.guid,
                "kind": note.kind,
                "ord": card.ord,
                "fields": note.fields,
                "tags": note.tags,
                "section": note.section,
                "state": STATE_NAMES[card.state],
                "step": card.step,
                "stability": card.stability,
                "difficulty": card.difficulty,
                "due": card.due.isoformat(),
                "last_review": card.last_review.isoformat() if card.last_review else None,
                "reps": card.reps,
                "lapses": card.lapses,
                "suspended": card.suspended,
                "buried": card.buried_until is not None and card.buried_until > now,
            }
        )
    return out


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
