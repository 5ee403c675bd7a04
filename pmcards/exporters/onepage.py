"""The one-page sheet for the morning of the interview (`pmcards export html --mode onepage`).

One A4 or Letter page: the opening in three moves, the four-part answer on its clock, the
reframes as a NOT | BUT table, and the contrasts you are most likely to get wrong, as many
as fit. The browser decides what fits: the contrasts fill a box of fixed height in two
columns, and those that would start a third column are not shown (they come last, being the
least likely to go wrong), so the sheet is one page on any paper and with any font.

The opening, the parts and the clock are the built-in notes that teach them (the deck
"Answer structure and preparation"; `tests/test_content.py` holds them to that shape), read
from the collection whatever the scope, so an edited note prints as edited; a block whose
notes are gone is left out. The phases and their minutes are `pmcards mock`'s. The scope
chooses the reframes and contrasts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.engine import Connection

from pmcards import queries
from pmcards.exporters.entries import text
from pmcards.exporters.html_sheet import Item, Moment, long_date
from pmcards.exporters.templating import render
from pmcards.formats.options import ExportOptions
from pmcards.kinds import CONTRAST, REFRAME
from pmcards.kinds.cloze import deletions
from pmcards.mock import DEFAULT_MINUTES, PHASES

OPENING = "prep-042"  # cloze: the opening's three moves, in order
PARTS = "prep-043"  # cloze: the four parts, in order
CLOCK = "prep-045"  # cloze: what fills each phase of the clock, in order
PART_NOTES = ("prep-005", "prep-006", "prep-007", "prep-008")  # Q/A: what goes into each part
# The reframes table holds at most this many rows (the weakest first, if there are more).
MAX_REFRAMES = 36
# The page's content box (paper less the margins), in mm: the contrasts fill what is left.
MARGIN_MM = 8.0
PAPER_MM = {"a4": (210.0, 297.0), "letter": (215.9, 279.4)}


@dataclass(frozen=True)
class Part:
    number: int
    name: str
    what: str | None  # what goes into it (as entries.Block.text)


@dataclass(frozen=True)
class Phase:
    name: str
    start: float  # minutes
    end: float
    what: str  # what fills it
    span: int  # how many of the parts it covers (0: unknown, the phases stand alone)


def export(
    conn: Connection,
    options: ExportOptions,
    items: list[Item],
    moment: Moment,
    made: date,
) -> bytes:
    parts, phases = structure(conn)
    opening = _deletions(conn, OPENING)
    reframes = [i for i in items if i.kind == REFRAME.name]
    if len(reframes) > MAX_REFRAMES:
        keep = {id(i) for i in sorted(reframes, key=_likely_wrong)[:MAX_REFRAMES]}
        reframes = [i for i in reframes if id(i) in keep]
    contrasts = sorted((i for i in items if i.kind == CONTRAST.name), key=_likely_wrong)
    for number, item in enumerate(contrasts, start=1):
        item.number = number
    width, height = PAPER_MM[options.paper]
    return render(
        "onepage.html",
        options.template,
        title="pmcards · the morning of the interview",
        made_label=long_date(made),
        moment=moment,
        opening=opening,
        parts=parts,
        phases=phases,
        reframes=reframes,
        contrasts=contrasts,
        paper=options.paper,
        margin=MARGIN_MM,
        # A hair under the content box, so rounding never spills onto a second page.
        box_width=round(width - 2 * MARGIN_MM, 1),
        box_height=round(height - 2 * MARGIN_MM - 0.6, 1),
    )


def _likely_wrong(item: Item) -> tuple[float, tuple[str, int]]:
    """Lowest predicted recall first; a note never studied counts as 0 (FSRS gives a card
    never reviewed no chance of recall), then deck order."""
    return (item.recall or 0.0, item.position)


def _notes(conn: Connection, guids: tuple[str, ...]) -> dict[str, dict[str, str]]:
    found = {}
    for guid in guids:
        note = queries.note_by_guid(conn, guid)
        if note is not None:
            found[guid] = note.fields
    return found


def _deletions(conn: Connection, guid: str) -> list[str]:
    fields = _notes(conn, (guid,)).get(guid)
    return deletions(fields.get("text", "")) if fields else []


def structure(conn: Connection) -> tuple[list[Part], list[Phase]]:
    """The four parts (with what goes into each) and the phases of the clock, each phase
    spanning the parts it covers when every part falls in exactly one phase, in order."""
    names = _deletions(conn, PARTS)
    answers = _notes(conn, PART_NOTES)
    parts = []
    for number, name in enumerate(names, start=1):
        guid = PART_NOTES[number - 1] if number <= len(PART_NOTES) else ""
        back = answers.get(guid, {}).get("back")
        parts.append(Part(number, name, text(back) if back else None))
    fills = _deletions(conn, CLOCK)
    if len(fills) != len(PHASES):
        return parts, []
    spans = []
    left = [p.name.lower() for p in parts]
    for fill in fills:
        covered = 0
        while covered < len(left) and left[covered] in fill.lower():
            covered += 1
        spans.append(covered)
        left = left[covered:]
    if left or 0 in spans:
        spans = [0] * len(fills)  # the clock does not map onto the parts: shown apart
    phases = []
    start = 0.0
    for name, minutes, fill, span in zip(PHASES, DEFAULT_MINUTES, fills, spans, strict=True):
        phases.append(Phase(name, start, start + minutes, fill, span))
        start += minutes
    return parts, phases
