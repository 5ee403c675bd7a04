"""What the deck-format writers share: the notes in scope, and the one deck of a file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pmcards import queries
from pmcards.errors import PmcardsError
from pmcards.rows import Deck, Note

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from pmcards.formats.options import ExportOptions


def notes_in_scope(conn: Connection, options: ExportOptions) -> list[Note]:
    """The notes to export, in deck order; refuses an export with none."""
    notes = queries.scoped_notes(conn, options.scope or queries.Scope())
    if not notes:
        raise PmcardsError("no notes to export")
    return notes


def deck_names(conn: Connection) -> dict[int, str]:
    return {deck.id: deck.name for deck in queries.decks(conn)}


def one_deck(conn: Connection, options: ExportOptions, what: str) -> tuple[Deck, list[Note]]:
    """The one deck in scope and its notes, for formats that hold one deck per file."""
    notes = notes_in_scope(conn, options)
    decks = {deck.id: deck for deck in queries.decks(conn)}
    ids = sorted({note.deck_id for note in notes})
    if len(ids) > 1:
        names = sorted(decks[i].name for i in ids)
        raise PmcardsError(
            f"{what} holds one deck: choose one with --deck (these notes are in {', '.join(names)})"
        )
    return decks[ids[0]], notes
