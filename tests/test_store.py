from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from pmcards import schema
from pmcards.errors import PmcardsError
from pmcards.store import Store

UTC = UTC


@pytest.mark.sqlite_only(reason="SQLite's PRAGMAs")
def test_sqlite_connection_settings(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    store.close()


@pytest.mark.sqlite_only(reason="a file that is not a SQLite database")
def test_not_a_database_gives_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello, this is not sqlite" * 100)
    with pytest.raises(PmcardsError) as info:
        Store(f"sqlite:///{bogus}")
    assert str(info.value).startswith(f"{bogus} is not a pmcards collection or is damaged")


def test_naive_datetime_is_refused(store: Store) -> None:
    with pytest.raises(Exception, match="naive datetime"), store.write() as conn:
        conn.execute(
            sa.insert(schema.decks).values(
                name="x", description="", created_at=datetime(2026, 1, 1)
            )
        )


def test_foreign_keys_enforced(store: Store) -> None:
    with pytest.raises(sa.exc.IntegrityError), store.write() as conn:
        conn.execute(
            sa.insert(schema.cards).values(
                note_id=999,
                ord=0,
                state=0,
                due=datetime(2026, 1, 1, tzinfo=UTC),
                reps=0,
                lapses=0,
                suspended=False,
            )
        )
