"""Export notes as CSV or TSV with a header row: the columns `pmcards import` reads back.

One row per note: id, deck, section, kind, tags, then the fields the exported kinds use.
Opens in any spreadsheet; fields keep their line breaks (quoted).
"""

from __future__ import annotations

import csv
import io

from sqlalchemy import select
from sqlalchemy.orm import Session

from pmcards.errors import PmcardsError
from pmcards.exporters import ExportOptions
from pmcards.formats.csv_deck import FIELD_ORDER
from pmcards.kinds import KINDS
from pmcards.models import Deck
from pmcards.queue import scoped_notes


def export(session: Session, options: ExportOptions, *, delimiter: str = ",") -> bytes:
    notes = scoped_notes(session, options.scope)
    if not notes:
        raise PmcardsError("no notes to export")
    deck_ids = {note.deck_id for note in notes}
    names = dict(session.execute(select(Deck.id, Deck.name).where(Deck.id.in_(deck_ids))).all())
    used = {f for note in notes for f in KINDS[note.kind].fields}
    columns = [f for f in FIELD_ORDER if f in used]
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(["id", "deck", "section", "kind", "tags", *columns])
    for note in notes:
        fields = note.fields
        tags = " ".join(t for t in note.tags if t != "leech")
        writer.writerow(
            [note.guid, names[note.deck_id], note.section, note.kind, tags]
            + [fields.get(c, "") for c in columns]
        )
    return out.getvalue().encode("utf-8")
