"""Export one deck as a TOML deck file: the format `pmcards import` reads."""

from __future__ import annotations

from typing import Any

import tomli_w
from sqlalchemy import select
from sqlalchemy.orm import Session

from pmcards.errors import PmcardsError
from pmcards.exporters import ExportOptions
from pmcards.models import Deck, Note
from pmcards.queue import scoped_notes


def one_deck(session: Session, options: ExportOptions, what: str) -> tuple[Deck, list[Note]]:
    """The one deck in scope and its notes, for formats that hold one deck per file."""
    notes = scoped_notes(session, options.scope)
    deck_ids = sorted({note.deck_id for note in notes})
    if len(deck_ids) > 1:
        names = [d.name for d in session.scalars(select(Deck).where(Deck.id.in_(deck_ids)))]
        raise PmcardsError(
            f"{what} holds one deck: choose one with --deck "
            f"(these notes are in {', '.join(sorted(names))})"
        )
    if not notes:
        raise PmcardsError("no notes to export")
    deck = session.get(Deck, deck_ids[0])
    assert deck is not None
    return deck, notes


def export(session: Session, options: ExportOptions) -> bytes:
    deck, notes = one_deck(session, options, "a TOML deck file")
    head: dict[str, Any] = {"name": deck.name}
    if deck.description:
        head["description"] = deck.description
    doc = {"deck": head, "note": [_note(note) for note in notes]}
    return tomli_w.dumps(doc, multiline_strings=True).encode("utf-8")


def _note(note: Note) -> dict[str, Any]:
    out: dict[str, Any] = {"id": note.guid, "kind": note.kind}
    if note.section:
        out["section"] = note.section
    tags = [t for t in note.tags if t != "leech"]
    out["tags"] = tags
    out.update(note.fields)
    return out
