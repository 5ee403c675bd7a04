"""The printable study sheet: notes as contrasts, reframes and Q&A, ordered for study.

`--order weakest` ranks notes by FSRS-predicted recall on a chosen day (the interview),
weakest first, then by lapses; each note carries a small recall marker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time

from sqlalchemy.engine import Connection

from pmcards import queries, scheduling
from pmcards import settings as settings_mod
from pmcards.cardstate import NEW
from pmcards.clock import study_day
from pmcards.errors import PmcardsError
from pmcards.exporters import SHEET_ORDERS
from pmcards.exporters.templating import render
from pmcards.formats.options import ExportOptions
from pmcards.rows import Card


@dataclass
class Item:
    number: int
    guid: str
    deck: str
    section: str
    kind: str
    fields: dict[str, str]
    tags: list[str]
    recall: float | None  # None: never studied
    lapses: int
    due: datetime | None
    position: tuple[str, int]

    @property
    def recall_level(self) -> int:
        """0-5 filled segments of the recall marker."""
        return 0 if self.recall is None else round(self.recall * 5)


def export(conn: Connection, options: ExportOptions) -> bytes:
    cfg = settings_mod.load(conn)
    now: datetime = options.now
    on = options.on or study_day(now, cfg.rollover_hour).date
    # Predict recall at the middle of that day, local time: when an interview happens.
    at = datetime.combine(on, time(12)).astimezone().astimezone(UTC)
    if at < now:
        at = now
    items = _items(conn, options, cfg, at)
    if not items:
        raise PmcardsError("no notes to put on the sheet")
    _order(items, options.order)
    for number, item in enumerate(items, start=1):
        item.number = number
    groups = _groups(items) if options.order == "deck" else [("", "", items)]
    decks = sorted({i.deck for i in items})
    return render(
        "sheet.html",
        options.template,
        items=items,
        groups=groups,
        decks=decks,
        on=on,
        generated=study_day(now, cfg.rollover_hour).date,
        order=options.order,
        order_title=SHEET_ORDERS[options.order],
        mode=options.mode,
        paper=options.paper,
        scope=options.scope or queries.Scope(),
        studied=sum(1 for i in items if i.recall is not None),
    )


def _items(
    conn: Connection, options: ExportOptions, cfg: settings_mod.Settings, at: datetime
) -> list[Item]:
    notes = queries.scoped_notes(conn, options.scope or queries.Scope())
    deck_names = {d.id: d.name for d in queries.decks(conn)}
    by_note: dict[int, list[Card]] = {}
    for card in queries.cards_of_notes(conn, [n.id for n in notes]):
        by_note.setdefault(card.note_id, []).append(card)
    items = []
    for note in notes:
        cards = by_note.get(note.id, [])
        studied = [c for c in cards if c.state != NEW]
        recall = (
            min(scheduling.retrievability(cfg, c.memory, at) for c in studied) if studied else None
        )
        dues = [c.due for c in studied]
        items.append(
            Item(
                number=0,
                guid=note.guid,
                deck=deck_names[note.deck_id],
                section=note.section,
                kind=note.kind,
                fields=note.fields,
                tags=list(note.user_tags),
                recall=recall,
                lapses=sum(c.lapses for c in cards),
                due=min(dues) if dues else None,
                position=(deck_names[note.deck_id], note.position),
            )
        )
    return items


def _order(items: list[Item], order: str) -> None:
    if order == "weakest":
        # Never-studied notes first (nothing to recall yet), then lowest predicted recall.
        items.sort(key=lambda i: (-1.0 if i.recall is None else i.recall, -i.lapses, i.position))
    elif order == "due":
        far = datetime.max.replace(tzinfo=UTC)
        items.sort(key=lambda i: (i.due or far, i.position))
    else:
        items.sort(key=lambda i: i.position)


def _groups(items: list[Item]) -> list[tuple[str, str, list[Item]]]:
    """Consecutive runs of (deck, section) for headings."""
    groups: list[tuple[str, str, list[Item]]] = []
    for item in items:
        if groups and groups[-1][0] == item.deck and groups[-1][1] == item.section:
            groups[-1][2].append(item)
        else:
            groups.append((item.deck, item.section, [item]))
    return groups
