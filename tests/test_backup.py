"""Backups: automatic (daily, before prune, migrations, restores, repairs) and by hand,
rotation, `pmcards backups`, and `pmcards restore` with its checks."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import faults
import pytest
from click.testing import CliRunner
from helpers import content

from pmcards import backup, migrations
from pmcards.cli import cli

# These tests work on the collection's SQLite file itself (damage it, fill its disk, back
# it up or check it page by page), so they run in the SQLite pass of the suite only.
pytestmark = pytest.mark.sqlite_only(
    reason="backups, restores and rotation of the collection's SQLite file"
)


def run(*args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), input=input)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def backups(home: Path, reason: str = "*") -> list[Path]:
    return sorted((home / "backups").glob(f"collection-*-{reason}.sqlite3"))


def test_daily_backup_on_first_use_of_the_day(isolated_home: Path) -> None:
    assert run("status")[0] == 0
    assert backups(isolated_home) == []  # a brand-new collection has nothing to back up
    assert run("status")[0] == 0
    daily = backups(isolated_home, "daily")
    assert len(daily) == 1
    assert run("review", input=" 3q")[0] == 0
    assert backups(isolated_home) == daily  # under a day old: no second one
    old = time.time() - 25 * 3600
    os.utime(daily[0], (old, old))
    assert run("decks")[0] == 0
    assert len(backups(isolated_home, "daily")) == 2
    # Each is a complete collection, made with the online backup API.
    with sqlite3.connect(backups(isolated_home, "daily")[-1]) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT count(*) FROM review_log").fetchone() == (1,)


def test_rotation_keeps_the_newest(isolated_home: Path) -> None:
    assert run("config", "backups_keep", "3")[0] == 0
    assert run("config", "backups_keep", "0")[0] == 2  # at least one is kept
    made = []
    for _ in range(5):
        code, output = run("backup")
        assert code == 0
        made.append(Path(output.rsplit(" to ", 1)[1].strip()))
    assert backups(isolated_home) == made[-3:]
    code, output = run("backups", "--json")
    data = json.loads(output)
    assert [b["path"] for b in data["backups"]] == [str(p) for p in made[-3:]]
    assert {b["reason"] for b in data["backups"]} == {"manual"}
    code, output = run("backups")
    assert code == 0 and str(made[-1]) in output and "manual" in output


def test_backup_to_a_file_and_restore_it(isolated_home: Path, tmp_path: Path) -> None:
    db = isolated_home / faults.DB
    assert run("review", "--limit", "2", input=" 3 1q")[0] == 0
    saved = tmp_path / "saved.db"
    assert run("backup", "--to", str(saved)) == (0, f"Backed up {db} to {saved}\n")
    snapshot = content(db)
    assert content(saved) == snapshot
    assert run("review", "--limit", "3", input=" 4 4 4q")[0] == 0
    changed = content(db)
    assert changed != snapshot
    code, output = run("restore", str(saved), input="y\n")
    assert code == 0, output
    assert content(db) == snapshot
    # The collection as it was before the restore was backed up first.
    before = backups(isolated_home, "restore")
    assert len(before) == 1 and content(before[0]) == changed
    faults.verify(db)
    assert run("restore", str(saved), input="n\n")[0] == 1  # declined: nothing happens
    assert len(backups(isolated_home, "restore")) == 1


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_text("hello"), "not a pmcards collection (file is not a database)"),
        (
            lambda p: sqlite3.connect(p).execute("CREATE TABLE x (a)"),
            "not a pmcards collection (no 'decks' table)",
        ),
        ("future", "written by a newer pmcards (unknown migration m999_future)"),
        ("truncated", "not a pmcards collection"),
        (None, "no such file"),
    ],
    ids=["text", "other-sqlite", "newer", "truncated", "missing"],
)
def test_restore_refuses_what_is_not_a_collection(
    isolated_home: Path, tmp_path: Path, make: object, message: str
) -> None:
    assert run("status")[0] == 0
    db = isolated_home / faults.DB
    bad = tmp_path / "bad.sqlite3"
    if make == "future":
        assert run("backup", "--to", str(bad))[0] == 0
        with sqlite3.connect(bad) as conn:
            conn.execute(
                "INSERT INTO pmcards_migrations VALUES ('m999_future', '2030-01-01 00:00:00')"
            )
    elif make == "truncated":
        assert run("backup", "--to", str(bad))[0] == 0
        bad.write_bytes(bad.read_bytes()[:10000])
    elif callable(make):
        make(bad)
    before = content(db)
    code, output = run("restore", "--yes", str(bad))
    assert code == 1
    assert output.startswith(f"Error: {bad}: ") and message in output, output
    assert len(output.splitlines()) == 1
    assert content(db) == before and backups(isolated_home, "restore") == []


def test_restore_an_older_schema_migrates_it(isolated_home: Path, tmp_path: Path) -> None:
    old = tmp_path / "old.sqlite3"
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{old}")
    with engine.begin() as conn:
        migrations.run(conn, up_to=1)
    engine.dispose()
    assert run("status")[0] == 0
    code, output = run("restore", "--yes", str(old))
    assert code == 0, output
    assert run("db", "version") == (
        0,
        f"schema version {migrations.SCHEMA_VERSION} (this pmcards: {migrations.SCHEMA_VERSION})\n",
    )


def test_migration_is_backed_up_first(isolated_home: Path) -> None:
    import sqlalchemy as sa

    db = isolated_home / faults.DB
    db.parent.mkdir(parents=True)
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        migrations.run(conn, up_to=2)
    engine.dispose()
    assert run("db", "version")[0] == 0
    made = backups(isolated_home, "migration")
    assert len(made) == 1
    with sqlite3.connect(made[0]) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM pmcards_migrations")] == [
            "m001_initial",
            "m002_queue_indexes",
        ]


def test_backups_of_other_databases_are_listed_and_restored_with_their_own_tools() -> None:
    # `pmcards backup` itself works on PostgreSQL (pg_dump): see test_shared_store.py.
    url = "postgresql+psycopg://me:secret@db.example/pm"
    for command in (["backups"], ["restore", "x.sqlite3"]):
        code, output = run("--db", url, *command)
        assert code == 1
        assert output == (
            "Error: postgresql+psycopg://me:***@db.example/pm is a postgresql database, not a "
            "SQLite file: `pmcards backup` saves a copy of it on request; restore it with the "
            "database's own tools (for PostgreSQL, pg_restore) or `pmcards db copy`\n"
        )


def test_interrupted_backup_never_looks_complete(
    isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pmcards.errors import PmcardsError
    from pmcards.store import Store

    assert run("status")[0] == 0
    store = Store(f"sqlite:///{isolated_home / faults.DB}")

    def full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("pmcards.backup.os.fsync", full)
    target = tmp_path / "out" / "b.sqlite3"
    try:
        with pytest.raises(PmcardsError) as info:
            backup.backup_to_file(store, target)
    finally:
        store.close()
    assert str(info.value) == f"backup to {target} failed: the disk is full"
    assert list(target.parent.iterdir()) == []  # the partial copy is gone
