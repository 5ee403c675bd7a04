"""Migrations: a blank database, every earlier schema upgraded with its history, a newer
schema refused, and the tables in `schema.py` matching what the migrations build."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import NewDb

from pmcards import migrations, queries, schema
from pmcards.collection import opened
from pmcards.errors import SchemaError
from pmcards.store import Store

UTC = UTC


def test_fresh_database_is_at_current_version(new_db: NewDb) -> None:
    store = Store(new_db("c"))
    with store.engine.connect() as conn:
        assert migrations.applied(conn) == [name for name, _ in migrations.MIGRATIONS]
    store.close()


def test_schema_matches_the_migrated_database(new_db: NewDb) -> None:
    store = Store(new_db("c"))
    inspector = sa.inspect(store.engine)
    for table in schema.metadata.sorted_tables:
        in_db = {c["name"]: c for c in inspector.get_columns(table.name)}
        assert set(in_db) == {c.name for c in table.columns}, table.name
        for column in table.columns:
            assert bool(in_db[column.name]["nullable"]) == column.nullable or column.primary_key, (
                table.name,
                column.name,
            )
    store.close()


def test_upgrade_from_first_schema_keeps_history(new_db: NewDb) -> None:
    url = new_db("old")
    engine = sa.create_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    # As the first pmcards wrote them: naive UTC text and 0/1 booleans on SQLite.
    false = "0" if sqlite else "false"

    def ts(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
        naive = datetime(year, month, day, hour, minute)
        return naive if sqlite else naive.replace(tzinfo=UTC)

    t = ts(2026, 1, 1, 10, 0)
    with engine.begin() as conn:
        assert migrations.run(conn, up_to=1) == ["m001_initial"]
        conn.execute(
            sa.text(
                "INSERT INTO decks (id, name, description, created_at) VALUES (1, 'D', '', :t)"
            ),
            {"t": t},
        )
        conn.execute(
            sa.text(
                "INSERT INTO notes (id, guid, deck_id, kind, fields, tags, section, checksum,"
                " position, created_at, updated_at) VALUES (1, 'g1', 1, 'qa',"
                """ '{"front": "F", "back": "B"}', ' t ', '', 'x', 1, :t, :t)"""
            ),
            {"t": t},
        )
        conn.execute(
            sa.text(
                "INSERT INTO cards (id, note_id, ord, state, step, stability, difficulty, due,"
                " last_review, reps, lapses, suspended) VALUES (1, 1, 0, 2, NULL, 5.0, 4.0, :due,"
                f" :t, 1, 0, {false})"
            ),
            {"due": ts(2026, 1, 6, 10, 0), "t": t},
        )
        conn.execute(
            sa.text(
                "INSERT INTO review_log (card_id, rating, reviewed_at, duration_ms, source,"
                " state_before, due_before, reps_before, lapses_before, state_after,"
                " stability_after, difficulty_after, due_after, leeched) VALUES (1, 3, :t, 1000,"
                f" 'review', 0, :t, 0, 0, 2, 5.0, 4.0, :due, {false})"
            ),
            {"due": ts(2026, 1, 6, 10, 0), "t": t},
        )
    engine.dispose()

    store = Store(url)
    with store.engine.connect() as conn:
        assert migrations.applied(conn) == [name for name, _ in migrations.MIGRATIONS]
        assert migrations.applied(conn) == [
            "m001_initial",
            "m002_queue_indexes",
            "m003_card_decks",
            "m004_practice",
            "m005_card_changes",
            "m006_lint_ignore",
            "m007_anki",
            "m008_note_search",
            "m009_queue_covers_risk",
        ]
        indexes = {ix["name"]: ix["column_names"] for ix in sa.inspect(conn).get_indexes("cards")}
        # m009: the queue index also covers the risk ranking of today's reviews.
        assert indexes["ix_cards_queue"] == [
            "suspended", "state", "due", "deck_id", "buried_until", "last_review", "stability"
        ]  # fmt: skip
    with store.read() as conn:
        card = queries.card(conn, 1)
        assert card is not None
        assert card.due == datetime(2026, 1, 6, 10, 0, tzinfo=UTC)
        assert card.stability == 5.0
        assert card.deck_id == 1  # m003 filled in each card's deck from its note
        assert card.flag == 0  # m007: no flag
        note = queries.note(conn, 1)
        assert note is not None
        count = sa.select(sa.func.count()).select_from(schema.review_log)
        assert conn.scalar(count) == 1
        assert queries.note(conn, 1).fields == {"front": "F", "back": "B"}  # type: ignore[union-attr]
        assert queries.note(conn, 1).lint_ignore == ()  # type: ignore[union-attr]  # m006
        assert [d.name for d in queries.decks(conn)] == ["D"]
    store.close()


def test_newer_schema_is_refused(new_db: NewDb) -> None:
    url = new_db("new")
    Store(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO pmcards_migrations (name, applied_at) "
                "VALUES ('m999_from_the_future', :t)"
            ),
            {"t": datetime(2030, 1, 1, tzinfo=UTC)},
        )
    engine.dispose()
    with pytest.raises(SchemaError) as info:
        Store(url)
    assert str(info.value) == (
        f"this collection has schema version {migrations.SCHEMA_VERSION + 1}, written by a "
        f"newer pmcards (this one knows up to version {migrations.SCHEMA_VERSION}; unknown "
        "migration m999_from_the_future). Upgrade pmcards to open it."
    )


def _history_at(conn: sa.Connection, version: int) -> None:
    """A deck, a note, two cards and three answers, written in the columns that schema
    `version` has (every column of m001 exists in all later versions)."""
    t = datetime(2026, 1, 1, 10, 0)
    conn.exec_driver_sql(
        "INSERT INTO decks (id, name, description, created_at) VALUES (1, 'D', 'd', ?)", (t,)
    )
    conn.exec_driver_sql(
        "INSERT INTO notes (id, guid, deck_id, kind, fields, tags, section, checksum, position,"
        " created_at, updated_at) VALUES (1, 'g1', 1, 'qa_reversed',"
        " '{\"front\": \"F\", \"back\": \"B\"}', ' t leech ', 'S', 'x', 1, ?, ?)",
        (t, t),
    )
    for card_id, ord in ((1, 0), (2, 1)):
        conn.exec_driver_sql(
            "INSERT INTO cards (id, note_id, ord, state, step, stability, difficulty, due,"
            " last_review, reps, lapses, suspended, buried_until) VALUES"
            " (?, 1, ?, 2, NULL, 5.0, 4.0, ?, ?, 3, 1, ?, ?)",
            (card_id, ord, datetime(2026, 1, 6, 10, 0), t, card_id == 2, t),
        )
    for n in range(3):
        conn.exec_driver_sql(
            "INSERT INTO review_log (card_id, rating, reviewed_at, duration_ms, source,"
            " state_before, step_before, stability_before, difficulty_before, due_before,"
            " last_review_before, reps_before, lapses_before, state_after, step_after,"
            " stability_after, difficulty_after, due_after, leeched)"
            " VALUES (1, ?, ?, 1000, 'review', 2, NULL, 5.0, 4.0, ?, ?, ?, 1, 2, NULL, 5.0, 4.0,"
            " ?, ?)",
            (n + 1, t, t, t, n, datetime(2026, 1, 6, 10, 0), n == 2),
        )
    if version >= 3:  # m003 gave cards their deck; pmcards fills it in when it writes a card
        conn.exec_driver_sql("UPDATE cards SET deck_id = 1")
    conn.exec_driver_sql("INSERT INTO settings (key, value) VALUES ('new_per_day', '35')")


@pytest.mark.parametrize(
    "version", range(1, migrations.SCHEMA_VERSION), ids=lambda v: migrations.MIGRATIONS[v - 1][0]
)
def test_upgrade_from_every_earlier_schema_keeps_everything(
    tmp_path: Path, isolated_home: Path, version: int
) -> None:
    """Each released schema (every prefix of MIGRATIONS), holding review history, upgrades
    to the current one with nothing lost, after a backup; the result passes `check`."""
    import sqlite3

    from pmcards import check

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        migrations.run(conn, up_to=version)
        _history_at(conn, version)
    engine.dispose()

    def rows(path: Path, table: str, columns: str) -> list[tuple[object, ...]]:
        with sqlite3.connect(path) as c:
            return c.execute(f"SELECT {columns} FROM {table} ORDER BY 1").fetchall()

    m001 = {
        "decks": "id, name, description, created_at",
        "notes": "id, guid, deck_id, kind, fields, tags, section, checksum, position",
        "cards": "id, note_id, ord, state, step, stability, difficulty, due, last_review, reps,"
        " lapses, suspended, buried_until",
        "review_log": "*",
        "settings": "*",
    }
    before = {table: rows(tmp_path / "old.db", table, cols) for table, cols in m001.items()}
    with opened(url, datetime(2026, 1, 2, tzinfo=UTC), builtins=False) as result:
        store = result.store
        with store.engine.connect() as conn:
            assert migrations.applied(conn) == [name for name, _ in migrations.MIGRATIONS]
        with store.read() as conn:
            report = check.run(conn, store.location, datetime(2026, 1, 2, tzinfo=UTC))
    after = {table: rows(tmp_path / "old.db", table, cols) for table, cols in m001.items()}
    assert after == before
    assert [r[0] for r in rows(tmp_path / "old.db", "cards", "deck_id")] == [1, 1]
    # m008 filled in each note's search text: its fields, its own tags (not `leech`, as
    # `rows.search_text` leaves it out) and section, folded.
    if version < 8:  # (a note made at schema 8 or later by hand has no search text)
        assert rows(tmp_path / "old.db", "notes", "search") == [("f\nb\nt\ns",)]
    saved = list((isolated_home / "backups").glob("old-*/collection-*-migration.sqlite3"))
    assert len(saved) == 1
    assert len(rows(saved[0], "pmcards_migrations", "name")) == version
    # The hand-made history is not FSRS-consistent; the schema itself must raise nothing.
    assert not [p for p in report.problems if p.kind in ("integrity", "orphan", "schema")]
