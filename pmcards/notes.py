"""Notes made and changed one at a time: add, edit, remove, move to another deck.

A note written or edited by hand goes through the same checks and the same import path as
a deck file (`importer.apply`), so an edit keeps the cards' history exactly as re-importing
an edited file does. Each function works in the caller's write transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection

from pmcards import importer, queries, schema
from pmcards.errors import BadValueError, DeckFormatError
from pmcards.formats.parsed import ParsedDeck, ParsedNote
from pmcards.kinds import KINDS
from pmcards.rows import Note

C = schema.cards.c
N = schema.notes.c
D = schema.decks.c


def new_id(conn: Connection) -> str:
    """A note id no note has: `note-` and eight random hex digits."""
    while True:
        guid = f"note-{secrets.token_hex(4)}"
        if queries.note_by_guid(conn, guid) is None:
            return guid


def parse(raw: Mapping[str, Any], where: str) -> ParsedNote:
    """A note from a table shaped as in a TOML deck file (id, kind, tags, section and the
    kind's fields), checked by the same rules."""
    from pmcards.formats.toml_deck import note_from_table

    note = note_from_table(dict(raw), where)
    # What an import asks of any note (section and tag limits, no NUL), here so that the
    # editor reopens on it rather than the write failing after.
    importer.check_note(note, ParsedDeck(path=where, name=""))
    return note


def add(
    conn: Connection, deck: str, note: ParsedNote, now: datetime, *, new_deck: bool = False
) -> str:
    """Add a note to `deck` (an existing deck, named as `--deck` names one, or a new deck
    of that name: `decks.target`). Returns the deck's name."""
    from pmcards import decks

    if queries.note_by_guid(conn, note.guid) is not None:
        raise BadValueError(f"a note with id {note.guid!r} exists already")
    name = decks.target(conn, deck, now, new_deck=new_deck)
    importer.apply(conn, [ParsedDeck(path="pmcards add", name=name, notes=[note])], now)
    return name


def find(conn: Connection, guid: str) -> tuple[Note, str]:
    """A note and its deck's name, or a clear error."""
    note = queries.note_by_guid(conn, guid)
    if note is None:
        raise BadValueError(f"no note with id {guid!r} (pmcards cards lists note ids)")
    deck = conn.scalar(select(D.name).where(D.id == note.deck_id))
    assert deck is not None
    return note, deck


def to_toml(note: Note) -> str:
    """A note as the TOML table a deck file would hold, for editing."""
    import tomli_w

    from pmcards.formats.toml_deck import note_table

    return tomli_w.dumps(note_table(note), multiline_strings=True)


def template(kind: str, guid: str, deck: str) -> str:
    """The TOML a new note of `kind` is written in: its fields empty, with what each is."""
    found = KINDS.get(kind)
    if found is None:
        raise BadValueError(f"unknown kind {kind!r} (known: {', '.join(KINDS)})")
    lines = [
        f"# A new {kind} note for the deck {deck!r}. Fill in the fields and save;",
        "# close without saving to add nothing. Fields marked (optional) may be left empty.",
        f'id = "{guid}"',
        f'kind = "{kind}"',
        "tags = []",
        'section = ""',
    ]
    for field in found.fields:
        optional = "  # (optional)" if field not in found.required else ""
        lines.append(f'{field} = ""{optional}')
    return "\n".join(lines) + "\n"


def edit(conn: Connection, guid: str, note: ParsedNote, now: datetime) -> bool:
    """Write an edited note over the note `guid`, keeping its cards' history (as an edited
    deck file does). Returns False when nothing changed."""
    if note.guid != guid:
        raise DeckFormatError(f"the id must stay {guid!r} (use pmcards add for a new note)")
    _, deck = find(conn, guid)
    report = importer.apply(conn, [ParsedDeck(path="pmcards edit", name=deck, notes=[note])], now)
    return bool(report.total("updated"))


def remove(conn: Connection, guids: Sequence[str]) -> int:
    """Delete notes, their cards and their review history. Returns how many."""
    ids = [find(conn, guid)[0].id for guid in dict.fromkeys(guids)]
    conn.execute(delete(schema.notes).where(N.id.in_(ids)))
    return len(ids)


def move(
    conn: Connection, guids: Sequence[str], to: str, now: datetime, *, new_deck: bool = False
) -> tuple[str, int]:
    """Move notes (and their cards, with their history) to the deck `to`, made if it does
    not exist (`decks.target`). Returns the deck's name and how many notes moved."""
    from pmcards import decks

    notes = [find(conn, guid)[0] for guid in dict.fromkeys(guids)]  # unknown ids first
    name = decks.target(conn, to, now, new_deck=new_deck)
    deck_id = conn.scalar(select(D.id).where(D.name == name))
    moving = [note.id for note in notes if note.deck_id != deck_id]
    if moving:
        # Moved to the end of their new deck, in the order they had.
        start = (conn.scalar(select(func.max(N.position))) or 0) + 1
        order = sorted(moving, key=lambda i: next(n.position for n in notes if n.id == i))
        schema.update_rows(
            conn,
            schema.notes,
            [
                {"id": note_id, "deck_id": deck_id, "position": start + i, "updated_at": now}
                for i, note_id in enumerate(order)
            ],
        )
        conn.execute(update(schema.cards).where(C.note_id.in_(moving)).values(deck_id=deck_id))
    return name, len(moving)
