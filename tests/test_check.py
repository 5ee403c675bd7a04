"""`pmcards check` on copies of a collection damaged on purpose, and `--repair`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import faults
import pytest
from click.testing import CliRunner

from pmcards.cli import cli

# These tests work on the collection's SQLite file itself (damage it, fill its disk, back
# it up or check it page by page), so they run in the SQLite pass of the suite only.
pytestmark = pytest.mark.sqlite_only(reason="damages the collection's SQLite file on purpose")


@pytest.fixture(scope="module")
def studied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A collection with some history: 12 answers in the deck Mine."""
    home = faults.prepare(tmp_path_factory.mktemp("check"))
    done = faults.pmcards(home, "review", "--deck", "Mine", input=" 3 3 1 4 3 2 3 3 4 4 1 3q")
    assert done.returncode == 0, done.stderr
    faults.settle(home / faults.DB)
    return home


def run(home: Path, *args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), input=input, env={"PMCARDS_HOME": str(home)})
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def damage(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA foreign_keys = OFF")
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


REVIEWED = "(SELECT card_id FROM review_log ORDER BY id LIMIT 1)"
NEW_CARD = "(SELECT id FROM cards WHERE state = 0 ORDER BY id LIMIT 1)"

DAMAGE = {
    "infinite stability": (
        [f"UPDATE cards SET stability = 9e999 WHERE id = {REVIEWED}"],
        "stability is inf",
        "set it to what its last answer left",
    ),
    "NaN difficulty (stored as NULL)": (
        [f"UPDATE cards SET difficulty = NULL WHERE id = {REVIEWED}"],
        "difficulty is None",
        "set it to what its last answer left",
    ),
    "state differs from its last answer": (
        [f"UPDATE cards SET due = '2099-01-01 00:00:00.000000' WHERE id = {REVIEWED}"],
        "but its last answer set",
        "set it to what its last answer left",
    ),
    "unknown state without history": (
        [f"UPDATE cards SET state = 7 WHERE id = {NEW_CARD}"],
        "unknown state 7",
        "make it a new card",
    ),
    "learning card without a step": (
        [f"UPDATE cards SET step = NULL WHERE id = {REVIEWED}"],
        "without a learning step",
        "set it to what its last answer left",
    ),
    "stale burial": (
        [f"UPDATE cards SET buried_until = '2099-01-01 00:00:00.000000' WHERE id = {NEW_CARD}"],
        "longer than a day",
        "clear the burial",
    ),
    "suspended is not a flag": (
        [f"UPDATE cards SET suspended = 5 WHERE id = {NEW_CARD}"],
        "suspended is 5",
        "mark it suspended",
    ),
    "card in the wrong deck": (
        [
            f"UPDATE cards SET deck_id = (SELECT min(id) FROM decks) + 1000 WHERE id = {NEW_CARD}",
        ],
        "points at a deck that no longer exists",
        "point it at its note's deck",
    ),
    "review of a deleted card": (
        [
            "INSERT INTO review_log SELECT 99999, 424242, rating, reviewed_at, duration_ms, source,"
            " state_before, step_before, stability_before, difficulty_before, due_before,"
            " last_review_before, reps_before, lapses_before, state_after, step_after,"
            " stability_after, difficulty_after, due_after, leeched FROM review_log LIMIT 1"
        ],
        "review 99999 belongs to card that no longer exists",
        "delete the review",
    ),
    "note whose deck is gone": (
        ["DELETE FROM decks WHERE name = 'Mine'"],
        "belongs to a deck that no longer exists",
        "move it (and its cards) to the deck 'Recovered'",
    ),
    "note without cards": (
        ["DELETE FROM cards WHERE note_id = (SELECT id FROM notes WHERE guid = 'mine-00029')"],
        "note 'mine-00029' has no cards",
        "create its 1 new card(s)",
    ),
    "invalid setting": (
        ["INSERT INTO settings VALUES ('desired_retention', '7.5')"],
        "setting 'desired_retention' holds an invalid value",
        "reset it to its default",
    ),
}


@pytest.mark.parametrize("name", list(DAMAGE))
def test_check_finds_and_repairs(studied: Path, tmp_path: Path, name: str) -> None:
    statements, found, repair = DAMAGE[name]
    home = faults.fresh_home(studied, tmp_path / "home")
    db = home / faults.DB
    logs_before = faults.verify(db).logs
    damage(db, *statements)
    code, output = run(home, "check")
    assert code == 1, output
    assert found in output and f"can repair: {repair}" in output, output
    assert "(pmcards check --repair)" in output
    code, output = run(home, "check", "--repair", input="n\n")
    assert code == 1 and "Repair " in output  # declined: nothing changed
    code, output = run(home, "check", "--repair", "--yes")
    assert code == 0, output
    assert "Repaired" in output and "The collection is now sound." in output
    assert list((home / "backups").glob("collection-*-repair.sqlite3"))
    assert (
        run(home, "check")
        == (0, f"Checked {db}: {output.split(': ', 1)[1].split(chr(10))[0]}\nNo problems found.\n")
        or run(home, "check")[0] == 0
    )
    state = faults.verify(db)
    if name != "review of a deleted card":
        assert state.logs == logs_before  # a repair never drops an answer


def test_clean_collection_and_json(studied: Path, tmp_path: Path) -> None:
    home = faults.fresh_home(studied, tmp_path / "home")
    code, output = run(home, "check", "--json")
    assert code == 0
    data = json.loads(output)
    assert data["ok"] is True and data["problems"] == [] and data["reviews"] == 12
    damage(home / faults.DB, f"UPDATE cards SET stability = -1 WHERE id = {REVIEWED}")
    code, output = run(home, "check", "--json")
    data = json.loads(output)
    assert code == 1 and data["ok"] is False
    assert data["problems"][0]["kind"] == "card" and data["problems"][0]["repair"]
    code, output = run(home, "check", "--repair", "--yes", "--json")
    data = json.loads(output)
    assert code == 0 and len(data["repaired"]) == 1 and data["remaining"] == []
    assert run(home, "check", "--yes")[0] == 2  # --yes only with --repair


def test_damaged_file_is_reported_not_repaired(studied: Path, tmp_path: Path) -> None:
    home = faults.fresh_home(studied, tmp_path / "home")
    db = home / faults.DB
    data = bytearray(db.read_bytes())
    page = 4096
    # Overwrite a page in the middle (a table or index b-tree page) with garbage.
    middle = (len(data) // page // 2) * page
    data[middle + 8 : middle + page] = b"\xde\xad\xbe\xef" * ((page - 8) // 4)
    db.write_bytes(bytes(data))
    code, output = run(home, "check")
    assert code == 1
    assert "damaged" in output or "malformed" in output, output
    assert "Traceback" not in output


def test_damaged_history_is_reported_and_the_card_rebuilt_from_ratings(
    studied: Path, tmp_path: Path
) -> None:
    home = faults.fresh_home(studied, tmp_path / "home")
    damage(
        home / faults.DB,
        f"UPDATE cards SET stability = 9e999 WHERE id = {REVIEWED}",
        f"UPDATE review_log SET stability_after = 9e999 WHERE card_id = {REVIEWED}",
    )
    code, output = run(home, "check", "--repair", "--yes")
    assert "rebuild its state by replaying its 1 answers through FSRS" in output
    assert "records an impossible state after the answer: stability is inf" in output
    assert code == 1 and "1 problem(s) remain." in output  # the history is not rewritten
    code, output = run(home, "check")
    assert code == 1 and output.count("→ cannot repair") == 1
