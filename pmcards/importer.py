"""Applying parsed deck files to the collection: add, update in place, report what is missing.

Notes are matched by their stable id, so editing a note's text keeps its review history.
All files of one import are one transaction: any error and nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pmcards import formats, settings
from pmcards.errors import DeckFormatError
from pmcards.formats import ParsedDeck, ParsedNote
from pmcards.kinds import KINDS
from pmcards.models import NEW, Card, Deck, Note, tags_to_text

# Tags pmcards itself adds; a re-import keeps them even though the file does not list them.
SYSTEM_TAGS = ("leech",)
BUILTIN_FLAG = "builtin_decks_imported"


@dataclass
class DeckReport:
    deck: str
    path: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    decks: list[DeckReport] = field(default_factory=list)

    def total(self, what: str) -> int:
        return sum(len(getattr(d, what)) for d in self.decks)


def parse_files(paths: Sequence[Path]) -> list[ParsedDeck]:
    """Parse every file first, so a bad file stops the import before anything is written."""
    decks = [formats.parse(path) for path in paths]
    owner: dict[str, tuple[str, int | None]] = {}
    for deck in decks:
        for note in deck.notes:
            if note.guid in owner:
                other, line = owner[note.guid]
                at = f"{other}:{line}" if line else other
                raise DeckFormatError(
                    f"note id {note.guid!r} is also used in {at}", path=deck.path, line=note.line
                )
            owner[note.guid] = (deck.path, note.line)
    return decks


def apply(
    session: Session,
    decks: Sequence[ParsedDeck],
    now: datetime,
    *,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Add and update the notes of `decks` in the caller's transaction.

    With `dry_run`, nothing is changed; the report says what would be.
    """
    report = ImportReport()
    guids = [note.guid for deck in decks for note in deck.notes]
    existing: dict[str, Note] = {}
    for chunk in _chunks(guids, 500):
        for found in session.scalars(select(Note).where(Note.guid.in_(chunk))):
            existing[found.guid] = found
    position = (session.scalar(select(func.max(Note.position))) or 0) + 1
    deck_names = dict(session.execute(select(Deck.id, Deck.name)).all())

    for parsed_deck in decks:
        deck = session.scalar(select(Deck).where(Deck.name == parsed_deck.name))
        if deck is None and not dry_run:
            deck = Deck(name=parsed_deck.name, description=parsed_deck.description, created_at=now)
            session.add(deck)
            session.flush()
        elif deck is not None and not dry_run and parsed_deck.description:
            deck.description = parsed_deck.description
        result = DeckReport(deck=parsed_deck.name, path=parsed_deck.path)
        for parsed in parsed_deck.notes:
            note = existing.get(parsed.guid)
            if note is None:
                result.added.append(parsed.guid)
                if not dry_run:
                    assert deck is not None
                    _add(session, deck, parsed, position, now)
                position += 1
            else:
                _check_same_deck(note, parsed, parsed_deck, deck_names[note.deck_id])
                if note.checksum == parsed.checksum:
                    result.unchanged.append(parsed.guid)
                else:
                    result.updated.append(parsed.guid)
                    if not dry_run:
                        _update(note, parsed, now)
            if progress is not None:
                progress(1)
        if deck is not None and deck.id is not None:
            present = {n.guid for n in parsed_deck.notes}
            in_db = session.scalars(select(Note.guid).where(Note.deck_id == deck.id))
            result.missing = sorted(g for g in in_db if g not in present)
        report.decks.append(result)
    if not dry_run:
        session.flush()
    return report


def _add(session: Session, deck: Deck, parsed: ParsedNote, position: int, now: datetime) -> None:
    note = Note(
        guid=parsed.guid,
        deck_id=deck.id,
        kind=parsed.kind,
        fields_json=json.dumps(parsed.fields, ensure_ascii=False),
        tags_text=tags_to_text(list(parsed.tags)),
        section=parsed.section,
        checksum=parsed.checksum,
        position=position,
        created_at=now,
        updated_at=now,
    )
    note.cards = [
        Card(ord=ord, state=NEW, due=now, reps=0, lapses=0, suspended=False)
        for ord in range(len(KINDS[parsed.kind].cards))
    ]
    session.add(note)


def _update(note: Note, parsed: ParsedNote, now: datetime) -> None:
    note.fields_json = json.dumps(parsed.fields, ensure_ascii=False)
    kept = [t for t in note.tags if t in SYSTEM_TAGS]
    note.tags_text = tags_to_text([*parsed.tags, *kept])
    note.section = parsed.section
    note.checksum = parsed.checksum
    note.updated_at = now


def _check_same_deck(note: Note, parsed: ParsedNote, deck: ParsedDeck, current: str) -> None:
    if current != deck.name:
        raise DeckFormatError(
            f"note id {parsed.guid!r} already belongs to deck {current!r}; "
            "give this note a new id or move it there",
            path=deck.path,
            line=parsed.line,
        )
    if note.kind != parsed.kind:
        raise DeckFormatError(
            f"note {parsed.guid!r} changes kind from {note.kind!r} to {parsed.kind!r}; "
            "its cards would not match its history: give it a new id",
            path=deck.path,
            line=parsed.line,
        )


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def builtin_deck_paths() -> list[Path]:
    from pmcards.resources import decks_dir

    return sorted(decks_dir().glob("*.toml"))


def ensure_builtin_decks(session: Session, now: datetime) -> ImportReport | None:
    """Import the built-in decks into a collection that has never had them."""
    if settings.get_raw(session, BUILTIN_FLAG):
        return None
    report = None
    if session.scalar(select(func.count()).select_from(Note)) == 0:
        report = apply(session, parse_files(builtin_deck_paths()), now)
    settings.set_raw(session, BUILTIN_FLAG, True)
    return report
