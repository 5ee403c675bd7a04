"""The collection's tables as typed SQLAlchemy 2.0 models.

The schema itself is created and changed only by `migrations.py`; these classes describe the
current schema for the ORM, and a test checks the two agree.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Our card states. FSRS has no "new" state (py-fsrs starts a card in Learning, step 0),
# so 0 is ours; 1-3 are the same numbers as fsrs.State (and as Anki's queue types).
NEW, LEARNING, REVIEW, RELEARNING = 0, 1, 2, 3
STATE_NAMES = {NEW: "new", LEARNING: "learning", REVIEW: "review", RELEARNING: "relearning"}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, returns UTC-aware datetimes; refuses naive ones so no local time slips in."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        # SQLite has no time zones: store naive UTC text, which also sorts correctly.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Deck(Base):
    __tablename__ = "decks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    notes: Mapped[list[Note]] = relationship(back_populates="deck")


class Note(Base):
    """One source item. `guid` is its stable id: it survives edits of the text."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guid: Mapped[str] = mapped_column(String(200), unique=True)
    deck_id: Mapped[int] = mapped_column(ForeignKey("decks.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    fields_json: Mapped[str] = mapped_column("fields", Text)
    # Space-delimited with a space at each end (" a b "), so one tag matches LIKE '% a %'.
    tags_text: Mapped[str] = mapped_column("tags", Text, default=" ")
    section: Mapped[str] = mapped_column(Text, default="")
    checksum: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

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


def tags_to_text(tags: list[str]) -> str:
    unique = sorted(set(tags))
    return " " + " ".join(unique) + " " if unique else " "


class Card(Base):
    """One reviewable direction of a note, with its FSRS memory state."""

    __tablename__ = "cards"
    __table_args__ = (UniqueConstraint("note_id", "ord"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    note_id: Mapped[int] = mapped_column(ForeignKey("notes.id", ondelete="CASCADE"))
    ord: Mapped[int] = mapped_column(Integer)
    state: Mapped[int] = mapped_column(Integer, default=NEW)
    step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    stability: Mapped[float | None] = mapped_column(Float, nullable=True)
    difficulty: Mapped[float | None] = mapped_column(Float, nullable=True)
    due: Mapped[datetime] = mapped_column(UTCDateTime)
    last_review: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reps: Mapped[int] = mapped_column(Integer, default=0)
    lapses: Mapped[int] = mapped_column(Integer, default=0)
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    # Buried until this instant (the next day rollover); NULL when not buried.
    buried_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    note: Mapped[Note] = relationship(back_populates="cards")


class ReviewLog(Base):
    """One answer, with the card's state before and after: enough to undo it and to fit FSRS."""

    __tablename__ = "review_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id", ondelete="CASCADE"))
    rating: Mapped[int] = mapped_column(Integer)
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    source: Mapped[str] = mapped_column(String(20), default="review")
    state_before: Mapped[int] = mapped_column(Integer)
    step_before: Mapped[int | None] = mapped_column(Integer, nullable=True)
    stability_before: Mapped[float | None] = mapped_column(Float, nullable=True)
    difficulty_before: Mapped[float | None] = mapped_column(Float, nullable=True)
    due_before: Mapped[datetime] = mapped_column(UTCDateTime)
    last_review_before: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reps_before: Mapped[int] = mapped_column(Integer)
    lapses_before: Mapped[int] = mapped_column(Integer)
    state_after: Mapped[int] = mapped_column(Integer)
    step_after: Mapped[int | None] = mapped_column(Integer, nullable=True)
    stability_after: Mapped[float] = mapped_column(Float)
    difficulty_after: Mapped[float] = mapped_column(Float)
    due_after: Mapped[datetime] = mapped_column(UTCDateTime)
    # True when this answer made the card a leech (tagged and suspended), so undo can reverse it.
    leeched: Mapped[bool] = mapped_column(Boolean, default=False)


class Setting(Base):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value_json: Mapped[str] = mapped_column("value", Text)

    @property
    def value(self) -> Any:
        return json.loads(self.value_json)
