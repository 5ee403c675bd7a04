"""Typed ORM classes (SQLAlchemy 2.0 `Mapped[...]`) over the tables in `schema.py`."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.orm import DeclarativeBase, Mapped, relationship

from pmcards import schema
from pmcards.schema import (
    LEARNING,
    NEW,
    RELEARNING,
    REVIEW,
    STATE_NAMES,
    UTCDateTime,
    tags_to_text,
)

__all__ = [
    "LEARNING",
    "NEW",
    "RELEARNING",
    "REVIEW",
    "STATE_NAMES",
    "Base",
    "Card",
    "Deck",
    "Note",
    "ReviewLog",
    "Setting",
    "UTCDateTime",
    "tags_to_text",
]


class Base(DeclarativeBase):
    metadata = schema.metadata


class Deck(Base):
    __table__ = schema.decks

    id: Mapped[int]
    name: Mapped[str]
    description: Mapped[str]
    created_at: Mapped[datetime]

    notes: Mapped[list[Note]] = relationship(back_populates="deck")


class Note(Base):
    """One source item. `guid` is its stable id: it survives edits of the text."""

    __table__ = schema.notes

    id: Mapped[int]
    guid: Mapped[str]
    deck_id: Mapped[int]
    kind: Mapped[str]
    fields_json: Mapped[str] = schema.notes.c.fields  # type: ignore[assignment]
    tags_text: Mapped[str] = schema.notes.c.tags  # type: ignore[assignment]
    section: Mapped[str]
    checksum: Mapped[str]
    position: Mapped[int]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    deck: Mapped[Deck] = relationship(back_populates="notes")
    cards: Mapped[list[Card]] = relationship(back_populates="note", order_by="Card.ord")

    @property
    def fields(self) -> dict[str, str]:
        value: dict[str, str] = json.loads(self.fields_json)
        return value

    @property
    def tags(self) -> list[str]:
        return self.tags_text.split()

    def set_tags(self, tags: list[str]) -> None:
        self.tags_text = tags_to_text(tags)


class Card(Base):
    """One reviewable direction of a note, with its FSRS memory state."""

    __table__ = schema.cards

    id: Mapped[int]
    note_id: Mapped[int]
    deck_id: Mapped[int]
    ord: Mapped[int]
    state: Mapped[int]
    step: Mapped[int | None]
    stability: Mapped[float | None]
    difficulty: Mapped[float | None]
    due: Mapped[datetime]
    last_review: Mapped[datetime | None]
    reps: Mapped[int]
    lapses: Mapped[int]
    suspended: Mapped[bool]
    buried_until: Mapped[datetime | None]

    note: Mapped[Note] = relationship(back_populates="cards")


class ReviewLog(Base):
    """One answer, with the card's state before and after: enough to undo it and to fit FSRS."""

    __table__ = schema.review_log

    id: Mapped[int]
    card_id: Mapped[int]
    rating: Mapped[int]
    reviewed_at: Mapped[datetime]
    duration_ms: Mapped[int | None]
    source: Mapped[str]
    state_before: Mapped[int]
    step_before: Mapped[int | None]
    stability_before: Mapped[float | None]
    difficulty_before: Mapped[float | None]
    due_before: Mapped[datetime]
    last_review_before: Mapped[datetime | None]
    reps_before: Mapped[int]
    lapses_before: Mapped[int]
    state_after: Mapped[int]
    step_after: Mapped[int | None]
    stability_after: Mapped[float]
    difficulty_after: Mapped[float]
    due_after: Mapped[datetime]
    leeched: Mapped[bool]


class Setting(Base):
    __table__ = schema.settings

    key: Mapped[str]
    value_json: Mapped[str] = schema.settings.c.value  # type: ignore[assignment]

    @property
    def value(self) -> Any:
        return json.loads(self.value_json)
