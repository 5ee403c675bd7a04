"""Changes of cards' memory that no answer made, written with their record.

An interview plan capping or releasing due dates, a mock interview making cards due, a fit
of FSRS rescheduling every card, the user forgetting or rescheduling a card: each changes a
card's memory without a review-log row. `apply` writes the change and a `card_changes` row
with the memory before and after, in the caller's transaction, so that every card's state is
explained by what is stored and `pmcards check` can tell a planned due date from damage.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from pmcards import cardstate, schema
from pmcards.cardstate import Memory

C = schema.cards.c
L = schema.review_log.c
CHUNK = 500


def apply(
    conn: Connection,
    source: str,
    now: datetime,
    changes: Sequence[tuple[int, Memory, Memory]],
) -> int:
    """Give each card (id, memory before, memory after) its new memory, and record why.
    Cards whose memory would not change are left alone. Returns how many changed."""
    changed = [(card_id, a, b) for card_id, a, b in changes if a != b]
    if not changed:
        return 0
    ids = [card_id for card_id, _, _ in changed]
    latest: dict[int, int] = {}
    for start in range(0, len(ids), CHUNK):
        stmt = (
            select(L.card_id, func.max(L.id))
            .where(L.card_id.in_(ids[start : start + CHUNK]))
            .group_by(L.card_id)
        )
        latest.update({card_id: log_id for card_id, log_id in conn.execute(stmt)})
    schema.update_rows(
        conn,
        schema.cards,
        [{"id": card_id, **cardstate.memory_values(after)} for card_id, _, after in changed],
    )
    conn.execute(
        insert(schema.card_changes),
        [
            {
                "card_id": card_id,
                "changed_at": now,
                "source": source,
                "after_log_id": latest.get(card_id),
                **cardstate.change_values(before, after),
            }
            for card_id, before, after in changed
        ],
    )
    return len(changed)
