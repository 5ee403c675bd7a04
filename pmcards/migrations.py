"""Schema migrations: an append-only list of named functions, each run once, in order.

Why not Alembic: the schema is small, the collection is a user's file rather than a server
we deploy, and a migration must run silently on open (no `alembic upgrade` step, no config
files, no revision graph). A plain list, recorded in `pmcards_migrations`, gives exactly that,
as in `llm` and `sqlite-utils`, and costs no import time. Never edit a migration once released:
add a new one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pmcards.errors import SchemaError

MIGRATIONS_TABLE = "pmcards_migrations"
# PostgreSQL advisory lock key of a collection's write lock ("pmcards" as a number), taken by
# every write transaction (store.py) and by the migrations. Advisory locks belong to one
# database, so collections in different databases never contend.
WRITE_LOCK_KEY = 0x706D6361726473


def m001_initial(conn: Connection) -> None:
    """The first schema: decks, notes, cards with FSRS state, the review log, settings."""
    md = sa.MetaData()
    ts = sa.DateTime(timezone=True)
    sa.Table(
        "decks",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", ts, nullable=False),
    )
    sa.Table(
        "notes",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("guid", sa.String(200), nullable=False, unique=True),
        sa.Column(
            "deck_id", sa.Integer, sa.ForeignKey("decks.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("section", sa.Text, nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("updated_at", ts, nullable=False),
    )
    sa.Table(
        "cards",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "note_id", sa.Integer, sa.ForeignKey("notes.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("ord", sa.Integer, nullable=False),
        sa.Column("state", sa.Integer, nullable=False),
        sa.Column("step", sa.Integer),
        sa.Column("stability", sa.Float),
        sa.Column("difficulty", sa.Float),
        sa.Column("due", ts, nullable=False),
        sa.Column("last_review", ts),
        sa.Column("reps", sa.Integer, nullable=False),
        sa.Column("lapses", sa.Integer, nullable=False),
        sa.Column("suspended", sa.Boolean, nullable=False),
        sa.Column("buried_until", ts),
        sa.UniqueConstraint("note_id", "ord"),
    )
    sa.Table(
        "review_log",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "card_id", sa.Integer, sa.ForeignKey("cards.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("rating", sa.Integer, nullable=False),
        sa.Column("reviewed_at", ts, nullable=False),
        sa.Column("duration_ms", sa.Integer),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("state_before", sa.Integer, nullable=False),
        sa.Column("step_before", sa.Integer),
        sa.Column("stability_before", sa.Float),
        sa.Column("difficulty_before", sa.Float),
        sa.Column("due_before", ts, nullable=False),
        sa.Column("last_review_before", ts),
        sa.Column("reps_before", sa.Integer, nullable=False),
        sa.Column("lapses_before", sa.Integer, nullable=False),
        sa.Column("state_after", sa.Integer, nullable=False),
        sa.Column("step_after", sa.Integer),
        sa.Column("stability_after", sa.Float, nullable=False),
        sa.Column("difficulty_after", sa.Float, nullable=False),
        sa.Column("due_after", ts, nullable=False),
        sa.Column("leeched", sa.Boolean, nullable=False),
    )
    sa.Table(
        "settings",
        md,
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    md.create_all(conn)


def m002_queue_indexes(conn: Connection) -> None:
    """Indexes for what runs on every start and every answer: the queue, the counts, today's log."""
    statements = [
        "CREATE INDEX ix_cards_queue ON cards (suspended, state, due)",
        "CREATE INDEX ix_cards_note ON cards (note_id)",
        "CREATE INDEX ix_notes_deck ON notes (deck_id, position)",
        "CREATE INDEX ix_review_log_time ON review_log (reviewed_at)",
        "CREATE INDEX ix_review_log_card ON review_log (card_id, id)",
    ]
    for statement in statements:
        conn.exec_driver_sql(statement)


def m003_card_decks(conn: Connection) -> None:
    """Each card records its deck, as Anki's do, so the daily counts per deck are index scans
    of one table instead of a join over every card (400 ms down to a few at 100,000 notes)."""
    conn.exec_driver_sql(
        "ALTER TABLE cards ADD COLUMN deck_id INTEGER REFERENCES decks (id) ON DELETE CASCADE"
    )
    conn.exec_driver_sql(
        "UPDATE cards SET deck_id = "
        "(SELECT notes.deck_id FROM notes WHERE notes.id = cards.note_id)"
    )
    conn.exec_driver_sql("DROP INDEX ix_cards_queue")
    # Covering for the counts: the state and due ranges, then what they group and filter by.
    conn.exec_driver_sql(
        "CREATE INDEX ix_cards_queue ON cards (suspended, state, due, deck_id, buried_until)"
    )
    # Per deck: cards counted by an index-only scan, due counts by a skip-scan of the same.
    conn.exec_driver_sql(
        "CREATE INDEX ix_cards_deck ON cards (deck_id, suspended, state, due, buried_until)"
    )
    conn.exec_driver_sql("CREATE INDEX ix_notes_position ON notes (position)")


def m004_practice(conn: Connection) -> None:
    """Contrast drills and timed mock interviews: their results, kept beside the review log."""
    md = sa.MetaData()
    ts = sa.DateTime(timezone=True)
    # Reflected so the foreign keys below resolve against the existing tables.
    for name in ("notes", "cards", "review_log"):
        sa.Table(name, md, autoload_with=conn)

    sa.Table(
        "drill_results",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "note_id", sa.Integer, sa.ForeignKey("notes.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "card_id", sa.Integer, sa.ForeignKey("cards.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("shown", sa.String(4), nullable=False),
        sa.Column("answer", sa.String(4), nullable=False),
        sa.Column("correct", sa.Boolean, nullable=False),
        sa.Column("answered_at", ts, nullable=False),
        sa.Column("review_log_id", sa.Integer, sa.ForeignKey("review_log.id", ondelete="SET NULL")),
    )
    sa.Table(
        "mock_attempts",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "note_id", sa.Integer, sa.ForeignKey("notes.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "card_id", sa.Integer, sa.ForeignKey("cards.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("started_at", ts, nullable=False),
        sa.Column("phases", sa.Text, nullable=False),
        sa.Column("covered", sa.Integer, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("rating", sa.Integer, nullable=False),
        sa.Column("review_log_id", sa.Integer, sa.ForeignKey("review_log.id", ondelete="SET NULL")),
    )
    sa.Table(
        "mock_missed",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "attempt_id",
            sa.Integer,
            sa.ForeignKey("mock_attempts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("point", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("cards_raised", sa.Integer, nullable=False),
    )
    for name in ("drill_results", "mock_attempts", "mock_missed"):
        md.tables[name].create(conn)
    conn.exec_driver_sql("CREATE INDEX ix_drill_results_note ON drill_results (note_id, id)")
    conn.exec_driver_sql("CREATE INDEX ix_mock_attempts_note ON mock_attempts (note_id, id)")
    conn.exec_driver_sql("CREATE INDEX ix_mock_missed_attempt ON mock_missed (attempt_id)")


def m005_card_changes(conn: Connection) -> None:
    """Changes of a card's memory that no answer made (a plan, a mock, a fit, the user), kept
    so that every card's state is explained by what is stored."""
    md = sa.MetaData()
    ts = sa.DateTime(timezone=True)
    sa.Table("cards", md, autoload_with=conn)
    memory: list[tuple[str, Any, bool]] = [
        ("state", sa.Integer, False),
        ("step", sa.Integer, True),
        ("stability", sa.Float, True),
        ("difficulty", sa.Float, True),
        ("due", ts, False),
        ("last_review", ts, True),
        ("reps", sa.Integer, False),
        ("lapses", sa.Integer, False),
    ]
    sa.Table(
        "card_changes",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "card_id", sa.Integer, sa.ForeignKey("cards.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("changed_at", ts, nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("after_log_id", sa.Integer),
        *[
            sa.Column(f"{name}_{when}", kind, nullable=nullable)
            for when in ("before", "after")
            for name, kind, nullable in memory
        ],
    ).create(conn)
    conn.exec_driver_sql("CREATE INDEX ix_card_changes_card ON card_changes (card_id, id)")


def m006_lint_ignore(conn: Connection) -> None:
    """The rules of `pmcards lint` a note silences (`lint_ignore`), kept with the note so the
    collection lints as its files do; the red flags a mock interview's learner said, kept
    beside the points they missed; and an index of notes by kind, through which daily review
    leaves out the prompts' cards while its counts stay index scans (all from issue 12)."""
    conn.exec_driver_sql("ALTER TABLE notes ADD COLUMN lint_ignore TEXT NOT NULL DEFAULT ' '")
    conn.exec_driver_sql("CREATE INDEX ix_notes_kind ON notes (kind)")
    md = sa.MetaData()
    sa.Table("mock_attempts", md, autoload_with=conn)
    sa.Table(
        "mock_red_flags",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "attempt_id",
            sa.Integer,
            sa.ForeignKey("mock_attempts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("flag", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
    ).create(conn)
    conn.exec_driver_sql("CREATE INDEX ix_mock_red_flags_attempt ON mock_red_flags (attempt_id)")


def m007_anki(conn: Connection) -> None:
    """What Anki holds that pmcards had no place for: the Anki note type a note came from
    (with its fields as Anki had them, so it goes back under that note type, field for
    field), and each card's flag."""
    md = sa.MetaData()
    sa.Table(
        "anki_notetypes",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("anki_id", sa.BigInteger, nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("definition", sa.Text, nullable=False),
    ).create(conn)
    conn.exec_driver_sql(
        "ALTER TABLE notes ADD COLUMN anki_notetype_id INTEGER "
        "REFERENCES anki_notetypes (id) ON DELETE SET NULL"
    )
    conn.exec_driver_sql("ALTER TABLE notes ADD COLUMN anki_note TEXT")
    conn.exec_driver_sql("ALTER TABLE cards ADD COLUMN flag INTEGER NOT NULL DEFAULT 0")


def m008_note_search(conn: Connection) -> None:
    """A note's fields, tags and section, case folded and without accents, so `cards
    --search` is one indexed-free scan of short text on any database."""
    import json
    import unicodedata

    conn.exec_driver_sql("ALTER TABLE notes ADD COLUMN search TEXT NOT NULL DEFAULT ''")

    def fold(text: str) -> str:  # frozen here: the migration must not change with the code
        decomposed = unicodedata.normalize("NFKD", text)
        return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()

    rows = conn.exec_driver_sql("SELECT id, fields, tags, section FROM notes").all()
    values = []
    for note_id, fields, tags, section in rows:
        try:
            parts = [str(v) for v in json.loads(fields).values()]
        except (ValueError, AttributeError):
            parts = [fields]
        # The user's tags only, as `rows.search_text` has it (not the `leech` tag).
        mine = " ".join(t for t in tags.split() if t != "leech")
        values.append({"id": note_id, "search": fold("\n".join([*parts, mine, section]))})
    if values:
        conn.execute(sa.text("UPDATE notes SET search = :search WHERE id = :id"), values)


def m009_queue_covers_risk(conn: Connection) -> None:
    """The queue index also holds what ranks today's reviews by risk (last review and
    stability), so the first card of a session reads the index alone: at 1,000,000 notes
    with 265,000 reviews due, one row lookup each took 2.5 s. The same index, wider (every
    answer rewrites its entry anyway), not another one for every card write to keep."""
    conn.exec_driver_sql("DROP INDEX ix_cards_queue")
    conn.exec_driver_sql(
        "CREATE INDEX ix_cards_queue ON cards "
        "(suspended, state, due, deck_id, buried_until, last_review, stability)"
    )


Migration = Callable[[Connection], None]
MIGRATIONS: list[tuple[str, Migration]] = [
    ("m001_initial", m001_initial),
    ("m002_queue_indexes", m002_queue_indexes),
    ("m003_card_decks", m003_card_decks),
    ("m004_practice", m004_practice),
    ("m005_card_changes", m005_card_changes),
    ("m006_lint_ignore", m006_lint_ignore),
    ("m007_anki", m007_anki),
    ("m008_note_search", m008_note_search),
    ("m009_queue_covers_risk", m009_queue_covers_risk),
]
SCHEMA_VERSION = len(MIGRATIONS)


def _migrations_table() -> sa.Table:
    return sa.Table(
        MIGRATIONS_TABLE,
        sa.MetaData(),
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
    )


def sqlite_objects(version: int | None = None) -> set[tuple[str, str]]:
    """The (type, name) of every table, index, trigger and view the migrations up to
    `version` (all, by default) make in a SQLite database: anything else in a collection was
    put there by someone else (`restore` and `check` refuse or drop it)."""
    engine = sa.create_engine("sqlite://")
    try:
        with engine.begin() as conn:
            run(conn, up_to=version)
            rows = conn.exec_driver_sql("SELECT type, name FROM sqlite_master").all()
    finally:
        engine.dispose()
    return {(kind, name) for kind, name in rows}


def applied(conn: Connection) -> list[str]:
    """Names of the migrations this database has, in the order they were applied."""
    if not sa.inspect(conn).has_table(MIGRATIONS_TABLE):
        return []
    table = _migrations_table()
    rows = conn.execute(sa.select(table.c.name).order_by(table.c.applied_at, table.c.name))
    return [row[0] for row in rows]


def pending(conn: Connection) -> list[tuple[str, Migration]]:
    """The migrations still to run; refuses a database written by a newer pmcards."""
    done = applied(conn)
    known = [name for name, _ in MIGRATIONS]
    unknown = [name for name in done if name not in known]
    if unknown:
        raise SchemaError(
            f"this collection has schema version {len(done)}, written by a newer pmcards "
            f"(this one knows up to version {SCHEMA_VERSION}; unknown migration {unknown[0]}). "
            "Upgrade pmcards to open it."
        )
    return [(name, fn) for name, fn in MIGRATIONS if name not in done]


def run(conn: Connection, up_to: int | None = None) -> list[str]:
    """Apply pending migrations (all, or up to version `up_to`) in the caller's transaction.

    Two processes opening a new collection at once must not both migrate it. On SQLite the
    caller's BEGIN IMMEDIATE already serialises them; on PostgreSQL the collection's write
    lock (a transaction-level advisory lock, re-entrant within the transaction) is taken
    here, before anything is read, so the second process waits, then finds nothing to do.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
    table = _migrations_table()
    table.create(conn, checkfirst=True)
    names = []
    for name, fn in pending(conn):
        if up_to is not None and [n for n, _ in MIGRATIONS].index(name) >= up_to:
            break
        fn(conn)
        conn.execute(table.insert().values(name=name, applied_at=datetime.now(UTC)))
        names.append(name)
    return names
