"""The printable study sheet: notes as contrasts, reframes and Q&A, ordered for study.

`--order weakest` ranks notes by FSRS-predicted recall on a chosen day (the interview),
weakest first, then by lapses; each note carries a small recall marker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from pmcards import scheduling
from pmcards import settings as settings_mod
from pmcards.clock import now_utc, study_day
from pmcards.errors import PmcardsError
from pmcards.exporters import ExportOptions
from pmcards.exporters.templating import render
from pmcards.models import NEW, Card, Deck
from pmcards.queue import scoped_notes

ORDER_TITLES = {
    "weakest": "weakest first",
    "deck": "in deck order",
    "due": "soonest due first",
}


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


def export(session: Session, options: ExportOptions) -> bytes:
    cfg = settings_mod.load(session)
    now = now_utc()
    on = options.on or study_day(now, cfg.rollover_hour).date
    # Predict recall at the middle of that day, local time: when an interview happens.
    at = datetime.combine(on, time(12)).astimezone().astimezone(UTC)
    if at < now:
        at = now
    items = _items(session, options, cfg, at)
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
        order_title=ORDER_TITLES[options.order],
        mode=options.mode,
        paper=options.paper,
        scope=options.scope,
        studied=sum(1 for i in items if i.recall is not None),
    )


def _items(
    session: Session, options: ExportOptions, cfg: settings_mod.Settings, at: datetime
) -> list[Item]:
    notes = scoped_notes(session, options.scope)
    deck_names = {d.id: d.name for d in session.scalars(select(Deck))}
    by_note: dict[int, list[Card]] = {}
    note_ids = [n.id for n in notes]
    for start in range(0, len(note_ids), 900):
        chunk = note_ids[start : start + 900]
        for card in session.scalars(select(Card).where(Card.note_id.in_(chunk))):
            by_note.setdefault(card.note_id, []).append(card)
    items = []
    for note in notes:
        cards = by_note.get(note.id, [])
        studied = [c for c in cards if c.state != NEW]
        recall = (
            min(scheduling.retrievability(cfg, scheduling.memory_of(c), at) for c in studied)
            if studied
            else None
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
                tags=[t for t in note.tags if t != "leech"],
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
