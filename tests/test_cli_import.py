"""`pmcards import` options: --format, --deck, --prune (with its backup), --dry-run."""

import sqlite3
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import qa, write_deck

from pmcards.backup import backup
from pmcards.cli import cli
from pmcards.store import Store


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_format_option_overrides_the_extension(tmp_path: Path) -> None:
    path = tmp_path / "cards.data"
    path.write_text("front,back\nq,a\n")
    code, output = run("import", str(path))
    assert code == 1 and "unknown deck format '.data'" in output
    code, output = run("import", str(path), "--format", "csv")
    assert code == 0 and "deck 'cards': 1 added" in output


def test_deck_option(tmp_path: Path) -> None:
    path = write_deck(tmp_path / "d.toml", "Named in file", [qa(1)])
    code, output = run("import", str(path), "--deck", "Mine")
    assert code == 0 and "deck 'Mine': 1 added" in output
    many = tmp_path / "many.csv"
    many.write_text("deck,front,back\nA,q1,a\nB::C,q2,a\n")
    code, output = run("import", str(many), "--deck", "Top")
    assert "deck 'Top::A': 1 added" in output and "deck 'Top::B::C': 1 added" in output


def test_prune_backs_up_then_deletes_missing_notes(tmp_path: Path, isolated_home: Path) -> None:
    path = write_deck(tmp_path / "d.toml", "D", [qa(1), qa(2), qa(3)])
    assert run("import", str(path))[0] == 0
    write_deck(path, "D", [qa(1)])
    code, output = run("import", str(path), "--prune", "--dry-run")
    assert "2 missing" in output and "(would be deleted): n-002, n-003" in output
    assert not list((isolated_home / "backups").glob("**/*-prune.*"))  # only the daily one
    code, output = run("import", str(path))
    assert "(kept): n-002, n-003" in output
    code, output = run("import", str(path), "--prune")
    assert code == 0 and "(deleted): n-002, n-003" in output
    # SQLite: an online-backup copy; PostgreSQL: a pg_dump archive (or pmcards' own copy).
    backups = list((isolated_home / "backups").glob("**/collection-*-prune.*"))
    assert len(backups) == 1 and f"Backup before pruning: {backups[0]}" in output
    assert notes_in_deck(backups[0], "D") == 3
    code, output = run("cards", "--deck", "D")
    assert "n-001" in output and "n-002" not in output


def notes_in_deck(backup_file: Path, deck: str) -> int:
    """Notes of a deck in a backup: a SQLite file, or a pg_dump archive read by pg_restore."""
    if backup_file.suffix == ".dump":
        sql = subprocess.run(
            [
                "pg_restore",
                "--data-only",
                "--table=notes",
                "--table=decks",
                "-f",
                "-",
                str(backup_file),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        decks = sql.split("COPY public.decks", 1)[1].split("\\.", 1)[0].splitlines()[1:]
        (deck_id,) = [line.split("\t")[0] for line in decks if line.split("\t")[1] == deck]
        notes = sql.split("COPY public.notes", 1)[1].split("\\.", 1)[0].splitlines()[1:]
        return sum(1 for line in notes if line.split("\t")[2] == deck_id)
    with sqlite3.connect(backup_file) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM notes WHERE deck_id = (SELECT id FROM decks WHERE name = ?)",
            (deck,),
        ).fetchone()
        return int(count)


@pytest.mark.sqlite_only(reason="SQLite's online backup into a file")
def test_backup_to_a_file(store: Store, tmp_path: Path) -> None:
    made = backup(store, tmp_path / "copy.sqlite3")
    assert made == tmp_path / "copy.sqlite3"
    with sqlite3.connect(made) as conn:
        assert conn.execute("SELECT count(*) FROM pmcards_migrations").fetchone()[0] >= 1
        assert conn.execute("SELECT value FROM settings WHERE key = 'fuzz'").fetchone() == (
            "false",
        )


def test_notes_of_one_deck_in_two_files_are_not_missing(tmp_path: Path) -> None:
    a = write_deck(tmp_path / "a.toml", "Shared", [qa(1)])
    b = write_deck(tmp_path / "b.toml", "Shared", [qa(2)])
    code, output = run("import", str(a), str(b))
    code, output = run("import", str(a), str(b), "--prune")
    assert "0 missing" in output and "deleted" not in output
