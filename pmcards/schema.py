"""The collection's current tables, in SQLAlchemy Core: the one data path.

Every module reads and writes through these tables with Core statements on the caller's
connection; `rows.py` turns result rows into small typed dataclasses. The schema itself is
created and changed only by `migrations.py`; a test checks that the two agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    bindparam,
    update,
)
from sqlalchemy.engine import Dialect

from pmcards.cardstate import NEW

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


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

    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        # SQLite: the text SQLAlchemy's DateTime stores, made in one step (formatting it was
        # most of the cost of binding a card row). A bulk write binds one `now` for every
        # row: the last value's text is kept.
        last: list[Any] = [None, None]

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value is last[0]:
                return last[1]  # type: ignore[no-any-return]
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            text = value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
            last[0], last[1] = value, text
            return text

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData()

decks = Table(
    "decks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
)

# An Anki note type that notes came from, kept so that they go back into Anki under it:
# Anki's id for it, its name, and the note type as Anki's schema-11 JSON (fields, templates,
# CSS, stock kind, modification time), as it was in the package.
anki_notetypes = Table(
    "anki_notetypes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("anki_id", BigInteger, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("definition", Text, nullable=False),
)

notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True),
    # The stable id: it survives edits of the text (like Anki's note GUID).
    Column("guid", String(200), nullable=False, unique=True),
    Column("deck_id", ForeignKey("decks.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("fields", Text, nullable=False),  # JSON object of the kind's fields
    # Space-delimited with a space at each end (" a b "), so one tag matches LIKE '% a %'.
    Column("tags", Text, nullable=False, default=" "),
    Column("section", Text, nullable=False, default=""),
    # Every field and tag, case folded and without accents, for `cards --search`.
    Column("search", Text, nullable=False, default=""),
    Column("checksum", String(64), nullable=False),
    Column("position", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # A note from Anki: its note type, and the note as Anki had it, JSON: {"fields": its
    # fields' HTML in the note type's order (those pmcards has no place for go back from
    # here), "mod": Anki's modification time, "checksum": this note's checksum then (an edit
    # in pmcards since changes it)}. NULL for pmcards' own notes.
    Column("anki_notetype_id", ForeignKey("anki_notetypes.id", ondelete="SET NULL")),
    Column("anki_note", Text),
    # The `pmcards lint` rules this note silences, stored as tags are: " rule rule ".
    Column("lint_ignore", Text, nullable=False, default=" "),
)

cards = Table(
    "cards",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("note_id", ForeignKey("notes.id", ondelete="CASCADE"), nullable=False),
    # Always the note's deck. Nullable only because SQLite cannot add a NOT NULL column
    # without a default (migration m003).
    Column("deck_id", ForeignKey("decks.id", ondelete="CASCADE"), nullable=True),
    Column("ord", Integer, nullable=False),
    Column("state", Integer, nullable=False, default=int(NEW)),
    Column("step", Integer),
    Column("stability", Float),
    Column("difficulty", Float),
    Column("due", UTCDateTime, nullable=False),
    Column("last_review", UTCDateTime),
    Column("reps", Integer, nullable=False, default=0),
    Column("lapses", Integer, nullable=False, default=0),
    Column("suspended", Boolean, nullable=False, default=False),
    # Buried until this instant (the next day rollover); NULL when not buried.
    Column("buried_until", UTCDateTime),
    # Anki's flag: 0 none, 1 red, 2 orange, 3 green, 4 blue, 5 pink, 6 turquoise, 7 purple.
    Column("flag", Integer, nullable=False, default=0, server_default="0"),
    UniqueConstraint("note_id", "ord"),
)

review_log = Table(
    "review_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("card_id", ForeignKey("cards.id", ondelete="CASCADE"), nullable=False),
    Column("rating", Integer, nullable=False),
    Column("reviewed_at", UTCDateTime, nullable=False),
    Column("duration_ms", Integer),
    Column("source", String(20), nullable=False, default="review"),
    Column("state_before", Integer, nullable=False),
    Column("step_before", Integer),
    Column("stability_before", Float),
    Column("difficulty_before", Float),
    Column("due_before", UTCDateTime, nullable=False),
    Column("last_review_before", UTCDateTime),
    Column("reps_before", Integer, nullable=False),
    Column("lapses_before", Integer, nullable=False),
    Column("state_after", Integer, nullable=False),
    Column("step_after", Integer),
    Column("stability_after", Float, nullable=False),
    Column("difficulty_after", Float, nullable=False),
    Column("due_after", UTCDateTime, nullable=False),
    # True when this answer made the card a leech (tagged and suspended), so undo reverses it.
    Column("leeched", Boolean, nullable=False, default=False),
)

# A change of a card's memory that no answer made: an interview plan capping or releasing due
# dates, a mock interview making cards due, a fit of FSRS rescheduling, the user forgetting or
# rescheduling a card. With the review log, it explains every card's state (`pmcards check`).
card_changes = Table(
    "card_changes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("card_id", ForeignKey("cards.id", ondelete="CASCADE"), nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
    Column("source", String(20), nullable=False),  # plan, plan-release, mock, optimize, ...
    # The card's newest review-log row when the change was made (NULL: none): the change
    # comes after that answer and before any later one.
    Column("after_log_id", Integer),
    Column("state_before", Integer, nullable=False),
    Column("step_before", Integer),
    Column("stability_before", Float),
    Column("difficulty_before", Float),
    Column("due_before", UTCDateTime, nullable=False),
    Column("last_review_before", UTCDateTime),
    Column("reps_before", Integer, nullable=False),
    Column("lapses_before", Integer, nullable=False),
    Column("state_after", Integer, nullable=False),
    Column("step_after", Integer),
    Column("stability_after", Float),
    Column("difficulty_after", Float),
    Column("due_after", UTCDateTime, nullable=False),
    Column("last_review_after", UTCDateTime),
    Column("reps_after", Integer, nullable=False),
    Column("lapses_after", Integer, nullable=False),
)

# One call in `pmcards drill`: which answer of a contrast was shown, what the user said.
drill_results = Table(
    "drill_results",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("note_id", ForeignKey("notes.id", ondelete="CASCADE"), nullable=False),
    Column("card_id", ForeignKey("cards.id", ondelete="CASCADE"), nullable=False),
    Column("shown", String(4), nullable=False),  # "bad" or "good"
    Column("answer", String(4), nullable=False),
    Column("correct", Boolean, nullable=False),
    Column("answered_at", UTCDateTime, nullable=False),
    # The answer's review-log row (NULL once that answer is undone or the log pruned).
    Column("review_log_id", ForeignKey("review_log.id", ondelete="SET NULL")),
)

# One timed mock interview on a prompt note, and the rubric points it missed.
mock_attempts = Table(
    "mock_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("note_id", ForeignKey("notes.id", ondelete="CASCADE"), nullable=False),
    Column("card_id", ForeignKey("cards.id", ondelete="CASCADE"), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("phases", Text, nullable=False),  # JSON: [{"name", "planned_s", "spent_s"}]
    Column("covered", Integer, nullable=False),
    Column("total", Integer, nullable=False),
    Column("rating", Integer, nullable=False),
    Column("review_log_id", ForeignKey("review_log.id", ondelete="SET NULL")),
)

mock_missed = Table(
    "mock_missed",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("attempt_id", ForeignKey("mock_attempts.id", ondelete="CASCADE"), nullable=False),
    Column("point", Integer, nullable=False),  # the point's number in the rubric, from 1
    Column("text", Text, nullable=False),
    Column("tags", Text, nullable=False),  # as notes.tags: " a b "
    Column("cards_raised", Integer, nullable=False),  # matching cards made due by the miss
)

# A red flag (something a strong answer avoids) the learner ticked as said in a mock.
mock_red_flags = Table(
    "mock_red_flags",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("attempt_id", ForeignKey("mock_attempts.id", ondelete="CASCADE"), nullable=False),
    Column("flag", Integer, nullable=False),  # the red flag's number in the rubric, from 1
    Column("text", Text, nullable=False),
    Column("tags", Text, nullable=False),  # as notes.tags: " a b "
)

settings = Table(
    "settings",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),  # JSON
)


def tags_to_text(tags: Sequence[str]) -> str:
    """Tags as stored: space-delimited with a space at each end, so one tag matches
    LIKE '% tag %'."""
    unique = sorted(set(tags))
    return " " + " ".join(unique) + " " if unique else " "


def update_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Update many rows of `table` by id in one executemany: each row is {"id": ..., column:
    value, ...}, all with the same columns. (A bound name may not be a column's own name in
    an UPDATE, hence the "b_" names; each takes its column's type, so datetimes go through
    UTCDateTime.)"""
    if not rows:
        return
    columns = [name for name in rows[0] if name != "id"]
    statement = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values({name: bindparam(f"b_{name}", type_=table.c[name].type) for name in columns})
    )
    conn.execute(statement, [{f"b_{key}": value for key, value in row.items()} for row in rows])
