"""Hostile surroundings: what the environment, the paths given, another program's database
or a backup file can do. Each gets a one-line error and changes nothing, or is handled."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
import time
from pathlib import Path

import faults
import pytest
from click.testing import CliRunner
from helpers import NewDb

from pmcards.cli import cli

NOW = "2026-03-02T12:00:00+00:00"


def run(*args: str, **env: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"PMCARDS_NOW": NOW, **env})
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yesterday", "PMCARDS_NOW='yesterday' is not a time: give an ISO 8601 time"),
        ("2026-03-02T12:00", "PMCARDS_NOW='2026-03-02T12:00' has no UTC offset: add one"),
        ("0001-01-01T00:00:00+00:00", "the year must be from 1970 to 2999, got 1"),
        ("9999-12-31T23:59:59+00:00", "the year must be from 1970 to 2999, got 9999"),
    ],
)
def test_a_bad_pinned_clock_is_one_line(value: str, message: str) -> None:
    code, out = run("status", PMCARDS_NOW=value)
    assert code == 1 and out.count("\n") == 1 and message in out, out


def test_paths_too_long_and_a_home_with_a_tilde(tmp_path: Path) -> None:
    long = tmp_path / ("a" * 5000) / "c.sqlite3"
    code, out = run("--db", str(long), "status")
    assert code == 1 and "File name too long" in out and out.count("\n") == 1
    assert len(out) < 300  # the path is cut, not printed whole
    result = CliRunner().invoke(
        cli,
        ["db", "path"],
        # No PMCARDS_DB (a PostgreSQL run sets one): the path comes from the home.
        env={"PMCARDS_HOME": "~/pm-home", "HOME": str(tmp_path), "PMCARDS_DB": None},
    )
    assert result.output == f"{tmp_path / 'pm-home' / 'collection.sqlite3'}\n"


@pytest.mark.sqlite_only(reason="another program's SQLite file")
def test_another_programs_database_is_refused_untouched(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE col (id INTEGER PRIMARY KEY, crt INTEGER)")
    conn.execute("INSERT INTO col VALUES (1, 2)")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    code, out = run("--db", str(other), "status")
    assert code == 1
    assert f"{other} is not a pmcards collection: it holds other tables (col)" in out
    assert other.read_bytes() == before  # not even switched to WAL mode
    assert not Path(f"{other}-wal").exists() and not Path(f"{other}-shm").exists()


@pytest.mark.postgres_only(reason="another program's tables in a PostgreSQL database")
def test_another_programs_server_database_is_refused(new_db: NewDb) -> None:
    import sqlalchemy as sa

    url = new_db("foreign")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE invoices (id integer)")
    code, out = run("--db", url, "status")
    with engine.connect() as conn:
        tables = sa.inspect(conn).get_table_names()
    engine.dispose()
    assert code == 1 and "is not a pmcards collection: it holds other tables (invoices)" in out
    assert tables == ["invoices"]


def test_the_server_message_does_not_deny_what_was_saved() -> None:
    import sqlalchemy as sa

    from pmcards.store import _explain_server

    lost = sa.exc.OperationalError("SELECT 1", {}, Exception("connection failed: refused"))
    assert "nothing was read or written" in (_explain_server("db:5432", lost) or "")
    after = _explain_server("db:5432", lost, committed=3) or ""
    assert "nothing was read or written" not in after
    assert "what this command saved before is kept on the server" in after


# -- writing through what a path names ----------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="replacing /dev/null needs root to be possible")
def test_export_to_dev_null_writes_through(tmp_path: Path) -> None:
    code, out = run("export", "toml", "--deck", "BAD vs GOOD answers", "-o", "/dev/null")
    assert code == 0, out
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_export_through_a_symlink_and_a_fifo(tmp_path: Path) -> None:
    real = tmp_path / "real.toml"
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "link.toml"
    link.symlink_to(real)
    code, out = run("export", "toml", "--deck", "BAD vs GOOD", "-o", str(link))
    assert code == 0, out
    assert link.is_symlink() and real.read_text().startswith("[deck]")
    assert stat.S_IMODE(real.stat().st_mode) == 0o640  # its permissions kept
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    code, out = run("export", "csv", "--deck", "BAD vs GOOD", "-o", str(fifo))
    reader.join(30)
    assert code == 0, out
    assert stat.S_ISFIFO(fifo.stat().st_mode) and received[0].startswith(b"#separator:Comma\r\n")


@pytest.mark.sqlite_only(reason="SQLite's online backup into a file")
def test_backup_through_a_symlink(tmp_path: Path) -> None:
    run("status")
    real = tmp_path / "real.sqlite3"
    link = tmp_path / "backup.sqlite3"
    link.symlink_to(real)
    code, out = run("backup", "--to", str(link))
    assert code == 0, out
    assert link.is_symlink() and real.stat().st_size > 0
    with sqlite3.connect(real) as conn:
        assert conn.execute("SELECT count(*) FROM notes").fetchone()[0] > 0


def test_write_ids_keeps_a_link_its_mode_and_its_bom(tmp_path: Path) -> None:
    real = tmp_path / "real.md"
    real.write_bytes("\ufeff# D\n\nQ: one\nA: first\n".encode())
    real.chmod(0o644)
    link = tmp_path / "deck.md"
    link.symlink_to(real)
    code, out = run("import", str(link), "--write-ids")
    assert code == 0, out
    assert link.is_symlink()
    data = real.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf# D\n") and b"<!-- id: md-" in data
    assert stat.S_IMODE(real.stat().st_mode) == 0o644


def test_import_of_a_device_or_a_pipe_is_refused(tmp_path: Path) -> None:
    code, out = run("import", "/dev/zero", "--format", "md")
    assert code == 1 and "/dev/zero: not a deck file: a device or a pipe" in out
    code, out = run("import", str(tmp_path), "--format", "toml")
    assert code == 1 and "not a deck file: a folder" in out


# -- leftovers and restores ---------------------------------------------------------------------


@pytest.mark.sqlite_only(reason="the backups folder of a SQLite collection")
def test_leftovers_of_killed_processes_are_removed(isolated_home: Path, tmp_path: Path) -> None:
    import tempfile

    run("status")
    backups = isolated_home / "backups"
    backups.mkdir(exist_ok=True)
    old_partial = backups / ".collection-x.sqlite3.partial"
    young_partial = backups / ".collection-y.sqlite3.partial"
    old_temp = Path(tempfile.mkdtemp(prefix="pmcards-apkg-"))
    for path in (old_partial, young_partial):
        path.write_bytes(b"half a backup")
    hours_ago = time.time() - 2 * 3600
    os.utime(old_partial, (hours_ago, hours_ago))
    os.utime(old_temp, (hours_ago, hours_ago))
    try:
        run("status")
        assert not old_partial.exists() and not old_temp.exists()
        assert young_partial.exists()  # maybe another process is writing it right now
    finally:
        young_partial.unlink(missing_ok=True)
        if old_temp.exists():
            old_temp.rmdir()


@pytest.mark.sqlite_only(reason="backups and restores of the collection's SQLite file")
def test_a_backup_with_a_foreign_trigger_is_refused_and_check_drops_one(
    isolated_home: Path, tmp_path: Path
) -> None:
    run("status")
    saved = tmp_path / "evil.sqlite3"
    assert run("backup", "--to", str(saved))[0] == 0
    with sqlite3.connect(saved) as conn:
        conn.execute(
            "CREATE TRIGGER eat AFTER INSERT ON review_log BEGIN "
            "DELETE FROM review_log WHERE id = new.id; END"
        )
    code, out = run("restore", "--yes", str(saved))
    assert code == 1 and "it holds a trigger 'eat' that pmcards does not make" in out
    # The same trigger put into the live collection: check finds it, --repair drops it.
    db = isolated_home / faults.DB
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TRIGGER eat AFTER INSERT ON review_log BEGIN "
            "DELETE FROM review_log WHERE id = new.id; END"
        )
    code, out = run("check")
    assert code == 1 and "holds a trigger 'eat' that pmcards does not make" in out
    code, out = run("check", "--repair", "--yes")
    assert code == 0 and "The collection is now sound." in out
    result = CliRunner().invoke(
        cli, ["review", "--limit", "1"], input=" 3", env={"PMCARDS_NOW": NOW}
    )
    assert result.exit_code == 0
    stats = json.loads(run("stats", "--json")[1])
    assert stats["time"]["reviews_total"] == 1  # the answer stayed
