"""The printable study sheet: every note in scope, laid out for paper and for the screen.

Modes (`exporters.SHEET_MODES`): the full sheet, a compact cheat sheet, a quiz with its
answer key, and one page for the morning of the interview (`onepage.py`). Orders
(`exporters.SHEET_ORDERS`): by deck, weakest first, soonest due first. "Weakest" is FSRS's
predicted recall at one moment: `--on`, else the interview of the plan in force, else now.
Notes never studied have no recall to predict; they follow the studied ones under their own
heading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from sqlalchemy.engine import Connection

from pmcards import queries, scheduling
from pmcards import settings as settings_mod
from pmcards.cardstate import NEW
from pmcards.clock import day_start, study_day
from pmcards.errors import PmcardsError
from pmcards.exporters.entries import Entry, entry
from pmcards.exporters.templating import render
from pmcards.formats.options import ExportOptions
from pmcards.kinds import KINDS
from pmcards.rows import Card

# A date given alone to --on means the middle of that day, local time.
MIDDAY = time(12)
_ORDER_TITLES = {"deck": "in deck order", "weakest": "weakest first", "due": "soonest due first"}


@dataclass
class Item:
    """One note on the sheet."""

    number: int
    guid: str
    deck: str
    section: str
    kind: str
    fields: dict[str, str]
    entry: Entry
    tags: list[str]
    recall: float | None  # the lowest predicted recall of its studied cards; None: never studied
    lapses: int
    due: datetime | None
    position: tuple[str, int]

    @property
    def studied(self) -> bool:
        return self.recall is not None


@dataclass
class Run:
    """Notes under one small heading (a section, or a deck among the notes never studied)."""

    heading: str
    items: list[Item] = field(default_factory=list)


@dataclass
class Part:
    """Notes under one large heading: a deck, or the studied and never-studied notes."""

    heading: str
    note: str = ""
    runs: list[Run] = field(default_factory=list)

    @property
    def items(self) -> list[Item]:
        return [i for r in self.runs for i in r.items]


@dataclass(frozen=True)
class Moment:
    """When recall is predicted for, and why that moment."""

    at: datetime  # UTC
    source: str  # "on" (given), "interview" (the plan's), "now"
    label: str  # for the page: "the interview, 14 December 2026, 09:30"


def export(conn: Connection, options: ExportOptions) -> bytes:
    cfg = settings_mod.load(conn)
    now: datetime = options.now
    scope = options.scope or queries.Scope()
    moment = prediction_moment(conn, cfg, now, options.on)
    items = _items(conn, scope, cfg, moment.at)
    if not items:
        raise PmcardsError("no notes to put on the sheet")
    made = study_day(now, cfg.rollover_hour).date
    if options.mode == "onepage":
        from pmcards.exporters import onepage

        return onepage.export(conn, options, items, moment, made)
    parts = _parts(items, options.order)
    ordered = [i for p in parts for i in p.items]
    for number, item in enumerate(ordered, start=1):
        item.number = number
    return render(
        "sheet.html",
        options.template,
        title="pmcards quiz" if options.mode == "quiz" else "pmcards study sheet",
        scope=scope,
        made=made,
        made_label=long_date(made),
        items=ordered,
        parts=parts,
        decks=sorted({i.deck for i in items}),
        moment=moment,
        order=options.order,
        order_title=_ORDER_TITLES[options.order],
        mode=options.mode,
        paper=options.paper,
        studied=sum(1 for i in items if i.studied),
    )


def prediction_moment(
    conn: Connection, cfg: settings_mod.Settings, now: datetime, on: date | None
) -> Moment:
    """The moment recall is predicted for: `on` (a date means its midday, local time), else
    the interview of the plan in force, else now. Never earlier than now."""
    if on is not None:
        local = on if isinstance(on, datetime) else datetime.combine(on, MIDDAY)
        at = local.astimezone().astimezone(UTC)  # naive: local time
        if at > now:
            return Moment(at, "on", when(at))
        given = f"{on:%Y-%m-%d %H:%M}" if isinstance(on, datetime) else on.isoformat()
        return Moment(now, "now", f"now ({when(now)}; {given} is past)")
    from pmcards import interview

    plan = interview.load(conn)
    if plan is not None:
        at = plan.starts_at(cfg)
        if at > now:
            # A plan without a time of day starts at its study day's start: say the day.
            day = at.astimezone().date()
            shown = long_date(day) if at == day_start(day, cfg.rollover_hour) else when(at)
            return Moment(at, "interview", f"the interview, {shown}")
    return Moment(now, "now", f"now, {when(now)}")


def long_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def when(at: datetime) -> str:
    local = at.astimezone()
    return f"{long_date(local.date())}, {local:%H:%M}"


def _items(
    conn: Connection, scope: queries.Scope, cfg: settings_mod.Settings, at: datetime
) -> list[Item]:
    notes = queries.scoped_notes(conn, scope)
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
        deck = deck_names[note.deck_id]
        items.append(
            Item(
                number=0,
                guid=note.guid,
                deck=deck,
                section=note.section,
                kind=note.kind,
                fields=note.fields,
                entry=entry(KINDS[note.kind], note.fields),
                tags=list(note.user_tags),
                recall=recall,
                lapses=sum(c.lapses for c in cards),
                due=min(c.due for c in studied) if studied else None,
                position=(deck, note.position),
            )
        )
    return items


def _parts(items: list[Item], order: str) -> list[Part]:
    """The notes in print order, under their headings."""
    if order == "deck":
        # A deck's sections in the order they first appear, its notes in order within each:
        # a section whose notes are scattered through the file prints once.
        opens: dict[tuple[str, str], int] = {}
        for item in sorted(items, key=lambda i: i.position):
            opens.setdefault((item.deck, item.section), item.position[1])
        return _by_deck(
            sorted(items, key=lambda i: (i.deck, opens[(i.deck, i.section)], i.position)),
            sections=True,
        )
    studied = [i for i in items if i.studied]
    fresh = sorted((i for i in items if not i.studied), key=lambda i: i.position)
    if order == "weakest":
        studied.sort(key=lambda i: (i.recall or 0.0, -i.lapses, i.position))
        first = Part("Studied, weakest first", _count(studied))
    else:
        far = datetime.max.replace(tzinfo=UTC)
        studied.sort(key=lambda i: (i.due or far, i.position))
        first = Part("Studied, soonest due first", _count(studied))
    parts = []
    if studied:
        first.runs.append(Run("", studied))
        parts.append(first)
    if fresh:
        later = Part("Never studied", f"{_count(fresh)}, in deck order")
        later.runs = [Run(p.heading, p.items) for p in _by_deck(fresh, sections=False)]
        parts.append(later)
    return parts


def _count(items: list[Item]) -> str:
    return f"{len(items)} note" + ("" if len(items) == 1 else "s")


def _by_deck(items: list[Item], *, sections: bool) -> list[Part]:
    """Consecutive runs of one deck (and of one section in it, with `sections`)."""
    parts: list[Part] = []
    for item in items:
        if not parts or parts[-1].heading != item.deck:
            parts.append(Part(item.deck))
        runs = parts[-1].runs
        heading = item.section if sections else ""
        if not runs or runs[-1].heading != heading:
            runs.append(Run(heading))
        runs[-1].items.append(item)
    return parts
