"""What the deck-format writers share: the notes in scope, and the one deck of a file."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple

from pmcards import queries
from pmcards.errors import PmcardsError
from pmcards.rows import Deck, Note

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from pmcards.formats.options import ExportOptions


def batches(notes: Iterator[Note], size: int = 1000) -> Iterator[list[Note]]:
    """The notes `size` at a time, as they are read: what a streamed writer works on."""
    while batch := list(itertools.islice(notes, size)):
        yield batch


def deck_names(conn: Connection) -> dict[int, str]:
    return {deck.id: deck.name for deck in queries.decks(conn)}


def one_deck(conn: Connection, options: ExportOptions, what: str) -> tuple[Deck, Iterator[Note]]:
    """The one deck in scope and its notes, for formats that hold one deck per file: the
    notes as they are read, so a deck file of 100,000 notes is written as it is read."""
    scope = options.scope or queries.Scope()
    ids = queries.scoped_deck_ids(conn, scope)
    if not ids:
        raise PmcardsError("no notes to export")
    decks = {deck.id: deck for deck in queries.decks(conn)}
    if len(ids) > 1:
        names = sorted(decks[i].name for i in ids)
        raise PmcardsError(
            f"{what} holds one deck: choose one with --deck, or give -o DIR/ for a file "
            f"per deck (these notes are in {', '.join(names)})"
        )
    return decks[ids[0]], queries.iter_scoped_notes(conn, scope)


# Characters no file name on Windows, macOS or Linux may hold, and the control characters.
_UNSAFE_IN_NAME = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')


def deck_file_name(name: str, suffix: str, number: int = 1) -> str:
    """A file name for a deck, portable to every system: `Prep::Metrics` becomes
    `Prep -- Metrics.toml`, the `number`th of its name `Prep -- Metrics (2).toml`. (The
    deck's real name is written inside the file.)"""
    stem = " -- ".join(_UNSAFE_IN_NAME.sub("_", part).strip() for part in name.split("::"))
    stem = stem.strip(". ") or "deck"
    tail = f" ({number})" if number > 1 else ""
    return stem[: 120 - len(tail)].rstrip(". ") + tail + suffix


def per_deck(conn: Connection, options: ExportOptions, suffix: str) -> list[DeckFile]:
    """Each deck in scope as its own file: the export behind `export toml|md -o DIR/`. A
    deck's file holds its own notes, not its subdecks'. Each is written by the caller, one
    after the other, with the options given here."""
    scope = options.scope or queries.Scope()
    decks = {deck.id: deck for deck in queries.decks(conn)}
    ids = sorted(queries.scoped_deck_ids(conn, scope), key=lambda i: decks[i].name)
    if not ids:
        raise PmcardsError("no notes to export")
    out: list[DeckFile] = []
    taken: set[str] = set()
    for deck_id in ids:
        deck = decks[deck_id]
        own = replace(options, scope=replace(scope, deck=deck.name, subdecks=False))
        number = 1
        name = deck_file_name(deck.name, suffix)
        while name.casefold() in taken:  # names alike once cleaned, cut, or cased
            number += 1
            name = deck_file_name(deck.name, suffix, number)
        taken.add(name.casefold())
        out.append(DeckFile(name, deck, own))
    return out


class DeckFile(NamedTuple):
    """One deck's file of a folder export: its file name, the deck, the options that write
    it."""

    name: str
    deck: Deck
    options: ExportOptions
