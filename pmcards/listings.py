"""Listings for the CLI: status, decks, cards. Each returns plain data (the --json shape)
and has a formatter for the terminal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from pmcards import queries, schema
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


def _limits_in_force(
    conn: Connection, cfg: settings_mod.Settings, now: datetime, day_end: datetime
) -> settings_mod.Settings:
    """The same daily limits as the review session: an interview plan's, while one is in
    force. The plan's code (and FSRS with it) loads only when a plan is stored: `status` is
    the command run most, and most collections have no plan."""
    if settings_mod.get_raw(conn, settings_mod.PLAN_KEY) is None:
        return cfg
    from pmcards import interview

    return interview.daily_limits(conn, cfg, now, day_end, None)


def status(conn: Connection, now: datetime) -> dict[str, Any]:
    cfg = settings_mod.load(conn)
    day = study_day(now, cfg.rollover_hour)
    today = queries.answered_today(conn, day)
    limits = Limits.left_today(_limits_in_force(conn, cfg, now, day.end), today)
    # What `pmcards review` counts: prompts are left to `pmcards mock` unless set otherwise.
    in_review = queries.review_scope(cfg)
    by_deck = queries.due_counts_by_deck(conn, day, now, in_review, limits)
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


# Cards are listed as they are read, this many at a time: a lifetime's collection holds
# hundreds of thousands, and the listing must not hold them all (it took 595 MB at 190,000).
CARDS_PER_READ = 1000


def _cards_stmt(scope: Scope, now: datetime, *columns: Any) -> Any:
    return scope.apply(
        select(*columns)
        .select_from(schema.cards)
        .join(schema.notes, N.id == C.note_id)
        .join(schema.decks, D.id == C.deck_id),
        now,
    )


def cards(conn: Connection, scope: Scope, now: datetime) -> Iterator[dict[str, Any]]:
    """Cards with their note's text and FSRS state, in study order, read as they are
    needed: one query, however many cards."""
    stmt = _cards_stmt(
        scope,
        now,
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
    ).order_by(N.position, C.ord)
    for row in conn.execute(stmt.execution_options(yield_per=CARDS_PER_READ)):
        yield {
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


def _card_note(guid: str, ord: int) -> str:
    return guid + (f"#{ord}" if ord else "")


def _card_state(state: str, suspended: bool) -> str:
    return state + (" (suspended)" if suspended else "")


def card_table(conn: Connection, scope: Scope, now: datetime) -> Iterator[str]:
    """`cards` as a table for the terminal, a line at a time. The columns' widths come from
    a first, light pass over the same cards (ids, states), so the table streams; the text
    comes last, unpadded."""
    # Only the text listing needs the kinds and the sanitiser: loaded here.
    from pmcards.kinds import summary

    widths = [len("Note"), len("State"), len("Due")]
    seen = False
    light = _cards_stmt(scope, now, N.guid, C.ord, C.state, C.suspended)
    for guid, ord, state, suspended in conn.execute(light.execution_options(yield_per=10_000)):
        seen = True
        widths[0] = max(widths[0], len(_card_note(guid, ord)))
        widths[1] = max(widths[1], len(_card_state(STATE_NAMES[state], suspended)))
        if STATE_NAMES[state] != "new":
            widths[2] = 10
    if not seen:
        yield "No cards."
        return

    def line(note: str, state: str, due: str, text: str) -> str:
        columns = [note.ljust(widths[0]), state.rjust(widths[1]), due.rjust(widths[2]), text]
        return "  ".join(columns).rstrip()

    yield line("Note", "State", "Due", "Text")
    for c in cards(conn, scope, now):
        text = safe(summary(c["kind"], c["fields"])).replace("\n", " ")
        text = text if len(text) <= 60 else text[:59] + "…"
        due = "" if c["state"] == "new" else c["due"][:10]
        state = _card_state(c["state"], c["suspended"])
        yield line(_card_note(c["note_id"], c["ord"]), state, due, text)
