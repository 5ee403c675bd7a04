"""One answer, one undo, one suspend or bury: each a change of the collection written in the
caller's write transaction, shared by review, drill and mock.

An answer is the card's new memory (FSRS's outcome, capped by an interview plan for the
cards in its decks), its review-log row, the leech rule, and its siblings buried until the
next day, all in one transaction: committed together, or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fsrs import Rating
from sqlalchemy import bindparam, delete, exists, insert, or_, select, update
from sqlalchemy.engine import Connection

from pmcards import cardstate, scheduling, schema
from pmcards.cardstate import NEW, REVIEW, Memory
from pmcards.errors import PmcardsError
from pmcards.plan import Active, capped_outcomes
from pmcards.rows import LEECH_TAG
from pmcards.settings import Settings

# An answer that took longer than this is counted as this long (the user walked away).
MAX_ANSWER_MS = 60_000

C = schema.cards.c
N = schema.notes.c
L = schema.review_log.c

# What an answer writes along with itself in its transaction (a drill call, a mock attempt):
# called with the connection and the new review-log row's id. A record that has an
# `undo(conn)` method is called again when the answer is undone, to take back what it wrote.
Record = Callable[[Connection, int], None]


def undo_record(conn: Connection, record: Record | None) -> None:
    """Take back what a record wrote with its answer, if it can say how."""
    take_back = getattr(record, "undo", None)
    if take_back is not None:
        take_back(conn)


@dataclass(frozen=True)
class Answered:
    card_id: int
    rating: Rating
    due: datetime
    leeched: bool
    lapses: int
    # Another session answered this card after it was shown here: this answer was scheduled
    # from the card's new state (re-read under the write lock), not the one shown.
    changed_meanwhile: bool
    log_id: int
    state_before: int
    buried_siblings: tuple[int, ...]
    # This answer tagged the note `leech` (it may have carried the tag already, from Anki
    # say): only then does undoing it take the tag off.
    tagged_leech: bool = False
    deck_id: int | None = None  # the card's deck when answered


@dataclass(frozen=True)
class Preview:
    """The outcomes a card's buttons showed, and the memory and time they were computed
    from: the answer moves them to its own time instead of computing them again when it
    can (`scheduling.moved`)."""

    card_id: int
    memory: Memory
    at: datetime
    outcomes: dict[Rating, scheduling.Outcome]


def outcomes(
    settings: Settings,
    plan: Active | None,
    memory: Memory,
    now: datetime,
    card_id: int,
    deck_id: int | None,
) -> dict[Rating, scheduling.Outcome]:
    """What each rating would do to a card: FSRS's outcomes, capped by an interview plan for
    the cards in its decks. The buttons show these; `answer` applies one of them."""
    raw = scheduling.outcomes(settings, memory, now, card_id)
    if plan is not None and plan.covers(deck_id):
        return capped_outcomes(settings, plan.horizon, memory, now, card_id, raw)
    return raw


def _planned(plan: Active | None, deck_id: int | None) -> bool:
    return plan is not None and plan.covers(deck_id)


def is_new_leech(settings: Settings, before: Memory, after: Memory) -> bool:
    """At the threshold, and every half-threshold lapses after it (as Anki): a leech."""
    threshold = settings.leech_threshold
    if after.lapses <= before.lapses or after.lapses < threshold:
        return False
    return (after.lapses - threshold) % max(1, threshold // 2) == 0


def answer(
    conn: Connection,
    settings: Settings,
    plan: Active | None,
    card_id: int,
    rating: Rating,
    now: datetime,
    *,
    bury_until: datetime,
    duration_ms: int | None = None,
    source: str = "review",
    record: Record | None = None,
    shown_reps: int | None = None,
    preview: Preview | None = None,
) -> Answered:
    """Grade a card in the caller's write transaction: schedule it with FSRS, log it, tag
    and suspend a new leech, bury its siblings until `bury_until`.

    The card is read inside the write transaction (which holds the write lock from its first
    statement), so an answer given in another session since the card was shown is the
    starting point of this one: both are recorded, in order, and neither overwrites the
    other. `shown_reps` (the card's answer count when shown) lets the result say so.
    `preview`, the outcomes shown with the card, is used when they are exactly what a
    fresh computation would give now.
    """
    if duration_ms is not None:
        duration_ms = max(0, min(duration_ms, MAX_ANSWER_MS))
    # Read under a row lock (FOR UPDATE; SQLite's write lock already covers it), so two
    # machines answering the same card queue, and the second answer is computed from the
    # first one's result: neither is lost nor counted from a stale state.
    card = conn.execute(_SELECT_CARD, {"card_id": card_id}).one_or_none()
    if card is None:
        raise PmcardsError("this card no longer exists (deleted by another process?)")
    before = cardstate.memory_of(card)
    table = None
    # A plan's caps depend on its horizon, booked by every answer since: never reused.
    if preview is not None and preview.card_id == card_id and not _planned(plan, card.deck_id):
        table = scheduling.moved(
            settings, preview.outcomes, preview.memory, preview.at, before, now
        )
    if table is None:
        table = outcomes(settings, plan, before, now, card_id, card.deck_id)
    after = table[rating].memory
    reviewed_at = scheduling.review_time(before, now)
    leeched = is_new_leech(settings, before, after)
    values = {**cardstate.memory_values(after), "suspended": card.suspended or leeched}
    conn.execute(_UPDATE_CARD, {"b_card": card_id, **{f"v_{k}": v for k, v in values.items()}})
    log = cardstate.log_values(
        before,
        after,
        rating=int(rating),
        reviewed_at=reviewed_at,
        duration_ms=duration_ms,
        source=source,
        leeched=leeched,
    )
    log_id = conn.execute(_INSERT_LOG, {"card_id": card_id, **log}).scalar_one()
    tagged = leeched and _tag_leech(conn, card.note_id)
    if record is not None:
        record(conn, log_id)
    siblings: tuple[int, ...] = ()
    # A note with one card (a reframe, a plain Q/A) has nothing to bury: the card's read
    # said whether it has a sibling, so its answer skips the statement.
    if card.has_siblings:
        siblings = tuple(
            conn.execute(
                _BURY_SIBLINGS,
                {"b_note": card.note_id, "b_card": card_id, "b_now": now, "b_until": bury_until},
            ).scalars()
        )
    return Answered(
        card_id=card_id,
        rating=rating,
        due=after.due,
        leeched=leeched,
        lapses=after.lapses,
        changed_meanwhile=shown_reps is not None and shown_reps != before.reps,
        log_id=log_id,
        state_before=before.state,
        buried_siblings=siblings,
        tagged_leech=tagged,
        deck_id=card.deck_id,
    )


def undo(conn: Connection, done: Answered, bury_until: datetime) -> None:
    """Take back an answer in the caller's write transaction: the card's memory restored
    from its log row, the row deleted, a leech it made un-made, the siblings it buried
    (still buried until `bury_until`) shown again.

    Refused when the card was answered again since (by another session): undoing an older
    answer would throw the newer one away.
    """
    latest = conn.scalar(
        select(L.id).where(L.card_id == done.card_id).order_by(L.id.desc()).limit(1)
    )
    log = conn.execute(select(schema.review_log).where(L.id == done.log_id)).first()
    card = conn.execute(_SELECT_CARD, {"card_id": done.card_id}).one_or_none()
    if log is None or card is None or latest != done.log_id:
        raise PmcardsError("cannot undo: this card was changed by another session since")
    values = cardstate.memory_values(cardstate.memory_before(log))
    if log.leeched:
        values["suspended"] = False
    conn.execute(update(schema.cards).where(C.id == done.card_id).values(**values))
    if done.tagged_leech:
        _untag_leech(conn, card.note_id)
    if done.buried_siblings:
        conn.execute(
            update(schema.cards)
            .where(C.id.in_(done.buried_siblings), C.buried_until == bury_until)
            .values(buried_until=None)
        )
    conn.execute(delete(schema.review_log).where(L.id == done.log_id))


def suspend(conn: Connection, card_ids: list[int]) -> list[int]:
    """Suspend these cards; returns those that were not suspended before."""
    return _set_flag(conn, card_ids, C.suspended.is_(False), {"suspended": True})


def bury(conn: Connection, card_ids: list[int], until: datetime, now: datetime) -> list[int]:
    """Hide these cards until `until` (the next day's start); returns those that were not
    buried before."""
    not_buried = or_(C.buried_until.is_(None), C.buried_until <= now)
    return _set_flag(conn, card_ids, not_buried, {"buried_until": until})


def unsuspend(conn: Connection, card_ids: list[int]) -> list[int]:
    """Bring suspended cards back; returns those that were suspended."""
    return _set_flag(conn, card_ids, C.suspended.is_(True), {"suspended": False})


def unbury(conn: Connection, card_ids: list[int], until: datetime | None = None) -> list[int]:
    """Show buried cards again (only those buried until `until`, when given: a later bury
    by another session stays); returns those that were buried."""
    buried = C.buried_until.is_not(None) if until is None else C.buried_until == until
    return _set_flag(conn, card_ids, buried, {"buried_until": None})


def _set_flag(
    conn: Connection, card_ids: list[int], unless: object, values: dict[str, object]
) -> list[int]:
    if not card_ids:
        return []
    stmt = (
        update(schema.cards)
        .where(C.id.in_(card_ids), unless)  # type: ignore[arg-type]
        .values(**values)
        .returning(C.id)
    )
    return sorted(conn.execute(stmt).scalars())


def _tag_leech(conn: Connection, note_id: int) -> bool:
    """Tag the note `leech`; False when it had the tag already."""
    tags = conn.scalar(select(N.tags).where(N.id == note_id)) or " "
    if f" {LEECH_TAG} " in tags:
        return False
    text = schema.tags_to_text([*tags.split(), LEECH_TAG])
    conn.execute(update(schema.notes).where(N.id == note_id).values(tags=text))
    return True


def _untag_leech(conn: Connection, note_id: int) -> None:
    tags = conn.scalar(select(N.tags).where(N.id == note_id)) or " "
    text = schema.tags_to_text([t for t in tags.split() if t != LEECH_TAG])
    conn.execute(update(schema.notes).where(N.id == note_id).values(tags=text))


# Core statements built once: an answer is on the path between a key press and the next
# card, so it skips rebuilding them.
_SIBLING = schema.cards.alias("sibling")
_SELECT_CARD = (
    select(
        C.note_id,
        C.deck_id,
        *(C[name] for name in cardstate.MEMORY_COLUMNS),
        C.suspended,
        # In the same read, so the answer of a note with one card skips the bury statement.
        exists()
        .where(_SIBLING.c.note_id == C.note_id, _SIBLING.c.id != C.id)
        .label("has_siblings"),
    )
    .where(C.id == bindparam("card_id"))
    .with_for_update()
)
_UPDATE_CARD = (
    update(schema.cards)
    .where(C.id == bindparam("b_card"))
    .values(
        {
            name: bindparam(f"v_{name}", type_=C[name].type)
            for name in (*cardstate.MEMORY_COLUMNS, "suspended")
        }
    )
)
_INSERT_LOG = insert(schema.review_log).returning(L.id)
# Siblings not yet studied or in review are hidden until the next day starts; learning
# siblings stay, as in Anki. RETURNING gives their ids for undo.
_BURY_SIBLINGS = (
    update(schema.cards)
    .where(
        C.note_id == bindparam("b_note"),
        C.id != bindparam("b_card"),
        # Two equalities, not IN: an IN list is re-rendered on every execution (SQLAlchemy's
        # "expanding" parameters), a third of this statement's cost on the answer path.
        or_(C.state == int(NEW), C.state == int(REVIEW)),
        C.suspended.is_(False),
        or_(
            C.buried_until.is_(None),
            C.buried_until <= bindparam("b_now", type_=C.due.type),
        ),
    )
    .values(buried_until=bindparam("b_until", type_=C.due.type))
    .returning(C.id)
)
