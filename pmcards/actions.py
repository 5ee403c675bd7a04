"""What the user does to cards from the command line: suspend and bring back, bury and
unbury, forget, reschedule. Each works on a selection of cards (note ids, single cards, or
the same filters as `pmcards cards`) in the caller's write transaction.

A change of a card's memory (forget, reschedule) is recorded with `changes.apply`, so the
review log and the changes together still explain every card (`pmcards check`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo

from sqlalchemy import select
from sqlalchemy.engine import Connection

from pmcards import answer, cardstate, changes, queries, rows, schema
from pmcards.cardstate import NEW, Memory
from pmcards.clock import Day, day_start, study_day
from pmcards.errors import BadValueError

C = schema.cards.c
N = schema.notes.c


def select_cards(
    conn: Connection, ids: Sequence[str], scope: queries.Scope, now: datetime
) -> list[int]:
    """The cards named by `ids` (a note id for all its cards, `NOTE#ORD` for one card as
    `pmcards cards` lists it, or a card's number from `cards --json`), within `scope`; with
    no ids, every card in `scope`. Refuses an id that names nothing."""
    stmt = scope.apply(select(C.id).select_from(schema.cards), now)
    if not ids:
        return sorted(conn.scalars(stmt))
    wanted: set[int] = set()
    for text in ids:
        wanted |= _cards_named(conn, text.strip())
    return sorted(set(conn.scalars(stmt.where(C.id.in_(sorted(wanted))))))


def _cards_named(conn: Connection, text: str) -> set[int]:
    guid, _, ord_text = text.partition("#")
    note = queries.note_by_guid(conn, guid)
    if note is not None:
        stmt = select(C.id).where(C.note_id == note.id)
        if ord_text:
            if not ord_text.isdigit():
                raise BadValueError(f"{text!r}: after '#' comes a card number, e.g. {guid}#1")
            stmt = stmt.where(C.ord == int(ord_text))
        found = set(conn.scalars(stmt))
        if not found:
            raise BadValueError(f"note {guid!r} has no card #{ord_text}")
        return found
    if text.isdigit() and queries.card(conn, int(text)) is not None:
        return {int(text)}
    raise BadValueError(f"no note or card {text!r} (pmcards cards lists them)")


@dataclass(frozen=True)
class Done:
    """What an action did: the cards it changed, and those it left as they were."""

    changed: list[int]
    unchanged: int


def suspend(conn: Connection, card_ids: list[int]) -> Done:
    changed = answer.suspend(conn, card_ids)
    return Done(changed, len(card_ids) - len(changed))


def unsuspend(conn: Connection, card_ids: list[int]) -> Done:
    changed = answer.unsuspend(conn, card_ids)
    return Done(changed, len(card_ids) - len(changed))


def bury(conn: Connection, card_ids: list[int], day: Day, now: datetime) -> Done:
    """Hide the cards until the next study day starts."""
    changed = answer.bury(conn, card_ids, day.end, now)
    return Done(changed, len(card_ids) - len(changed))


def unbury(conn: Connection, card_ids: list[int], now: datetime) -> Done:
    buried = {
        card_id
        for card_id in conn.scalars(select(C.id).where(C.id.in_(card_ids), C.buried_until > now))
    }
    changed = answer.unbury(conn, sorted(buried))
    return Done(changed, len(card_ids) - len(changed))


def forget(conn: Connection, card_ids: list[int], now: datetime) -> Done:
    """Make the cards new again: their memory goes, their review log stays (the history is
    yours, and `optimize` still learns from it); answers and lapses stay counted."""

    def forgotten(before: Memory) -> Memory | None:
        if before.state == NEW:
            return None
        return replace(cardstate.new_memory(now), reps=before.reps, lapses=before.lapses)

    changed = _move(conn, card_ids, "forget", now, forgotten)
    return Done(changed, len(card_ids) - len(changed))


def reschedule(
    conn: Connection,
    card_ids: list[int],
    days: int,
    now: datetime,
    rollover_hour: int,
    tz: tzinfo | None = None,
) -> Done:
    """Make studied cards due `days` study days from today (0: now). Their memory is
    unchanged, so FSRS sees the real time since each card's last review when it is answered.
    New cards have no memory to schedule: they are left alone."""
    if days < 0:
        raise BadValueError("--days must be 0 or more")
    today = study_day(now, rollover_hour, tz)
    due = now if days == 0 else day_start(today.date + timedelta(days=days), rollover_hour, tz)

    def rescheduled(before: Memory) -> Memory | None:
        return None if before.state == NEW else replace(before, due=due)

    changed = _move(conn, card_ids, "reschedule", now, rescheduled)
    return Done(changed, len(card_ids) - len(changed))


def _move(
    conn: Connection,
    card_ids: list[int],
    source: str,
    now: datetime,
    move: Callable[[Memory], Memory | None],
) -> list[int]:
    """Give each card the memory `move` makes of its own (None: leave it), recorded as
    `source`; a chunk of cards at a time, so an action on every card of a lifetime's
    collection holds one chunk, not all of them. Returns the cards moved."""
    moved: list[int] = []
    for start in range(0, len(card_ids), queries.CHUNK):
        moves = []
        for card in _cards(conn, card_ids[start : start + queries.CHUNK]):
            before = card.memory
            after = move(before)
            if after is not None:
                moves.append((card.id, before, after))
        changes.apply(conn, source, now, moves)
        moved += [card_id for card_id, _, _ in moves]
    return moved


def _cards(conn: Connection, card_ids: list[int]) -> list[rows.Card]:
    out = []
    for start in range(0, len(card_ids), queries.CHUNK):
        chunk = card_ids[start : start + queries.CHUNK]
        found = conn.execute(select(schema.cards).where(C.id.in_(chunk)))
        out += [rows.Card.from_row(row._mapping) for row in found]
    return out
