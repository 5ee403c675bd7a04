"""Rows of the collection as small typed dataclasses: what a Core query returns, mapped once.

`from_row` takes any mapping of column names (a Core `Row._mapping`), so this module needs
no SQLAlchemy; the queries that produce the rows live in `queries.py`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pmcards.cardstate import Memory, memory_of
from pmcards.markup import fold

# The tag pmcards gives a note whose card became a leech; with any other tag pmcards adds
# itself, it survives a re-import and is left out of deck-file exports.
LEECH_TAG = "leech"
SYSTEM_TAGS = (LEECH_TAG,)


def search_text(fields: dict[str, str], tags: Iterable[str], section: str = "") -> str:
    """What `cards --search` looks in: every field, the tags and the section, folded."""
    mine = [t for t in tags if t not in SYSTEM_TAGS]
    return fold("\n".join([*fields.values(), " ".join(mine), section]))


@dataclass(frozen=True, slots=True)
class Deck:
    id: int
    name: str
    description: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Deck:
        return cls(row["id"], row["name"], row["description"], row["created_at"])


@dataclass(frozen=True, slots=True)
class Note:
    """One source item. `guid` is its stable id: it survives edits of the text."""

    id: int
    guid: str
    deck_id: int
    kind: str
    fields: dict[str, str]
    tags: tuple[str, ...]
    section: str
    checksum: str
    position: int
    created_at: datetime
    updated_at: datetime
    lint_ignore: tuple[str, ...] = ()  # the `pmcards lint` rules this note silences

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Note:
        return cls(
            id=row["id"],
            guid=row["guid"],
            deck_id=row["deck_id"],
            kind=row["kind"],
            fields=json.loads(row["fields"]),
            tags=tuple(row["tags"].split()),
            section=row["section"],
            checksum=row["checksum"],
            position=row["position"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            lint_ignore=tuple(row.get("lint_ignore", " ").split()),
        )

    @property
    def user_tags(self) -> tuple[str, ...]:
        """The tags the user gave, without those pmcards adds itself (leech)."""
        return tuple(t for t in self.tags if t not in SYSTEM_TAGS)


@dataclass(frozen=True, slots=True)
class Card:
    """One reviewable direction of a note, with its FSRS memory state."""

    id: int
    note_id: int
    deck_id: int
    ord: int
    state: int
    step: int | None
    stability: float | None
    difficulty: float | None
    due: datetime
    last_review: datetime | None
    reps: int
    lapses: int
    suspended: bool
    buried_until: datetime | None
    flag: int = 0  # Anki's flag colour, 0 for none

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Card:
        return cls(**{name: row[name] for name in cls.__slots__})

    @property
    def memory(self) -> Memory:
        return memory_of(self)


@dataclass(frozen=True, slots=True)
class ReviewLog:
    """One answer, with the card's state before and after: enough to undo it and to fit FSRS."""

    id: int
    card_id: int
    rating: int
    reviewed_at: datetime
    duration_ms: int | None
    source: str
    state_before: int
    step_before: int | None
    stability_before: float | None
    difficulty_before: float | None
    due_before: datetime
    last_review_before: datetime | None
    reps_before: int
    lapses_before: int
    state_after: int
    step_after: int | None
    stability_after: float
    difficulty_after: float
    due_after: datetime
    leeched: bool

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> ReviewLog:
        return cls(**{name: row[name] for name in cls.__slots__})


@dataclass(frozen=True, slots=True)
class AnkiNotetype:
    """An Anki note type notes came from: Anki's id, its name, and its definition as Anki's
    schema-11 JSON (what an export writes back)."""

    id: int
    anki_id: int
    name: str
    definition: dict[str, Any]

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> AnkiNotetype:
        return cls(row["id"], row["anki_id"], row["name"], json.loads(row["definition"]))
