"""SIGKILL at random moments: mid-answer, mid-undo, mid-bury, mid-import, mid-restore.

Each run copies one prepared collection and kills one real pmcards process; afterwards every
answer acknowledged on screen is in the database, every card's state is what its last
review-log row says, and SQLite's integrity check is ok (`faults.verify`). With the six
kills of test_ui_pty.py, the suite tries 60 kill points; bench/stress_kill.py tries more.
"""

from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path

import faults
import pexpect
import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty and SIGKILL")

REVIEW_KILLS = 40
IMPORT_KILLS = 8
RESTORE_KILLS = 6
BIG_DECK_NOTES = 3000


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return faults.prepare(tmp_path_factory.mktemp("crash"))


@pytest.fixture(scope="module")
def big_deck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("deck") / "big.toml"
    path.write_text(faults.deck_text("Big", BIG_DECK_NOTES, "big"), encoding="utf-8")
    return path


@pytest.mark.parametrize("seed", range(REVIEW_KILLS))
def test_kill_review_at_random_point(prepared: Path, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    home = faults.fresh_home(prepared, tmp_path / "home")
    result = faults.kill_review(home, rng)
    # A second session on the same collection after the crash works and sees every answer.
    again = faults.pmcards(home, "review", "--deck", "Mine", "--limit", "1", input=" 3q")
    assert again.returncode == 0, again.stderr
    assert faults.verify(home / faults.DB).logs == result.state.logs + 1


@pytest.mark.parametrize("seed", range(IMPORT_KILLS))
def test_kill_import_at_random_point(
    prepared: Path, big_deck: Path, tmp_path: Path, seed: int
) -> None:
    home = faults.fresh_home(prepared, tmp_path / "home")
    faults.kill_import(home, big_deck, BIG_DECK_NOTES, random.Random(seed))
    # The import can simply be run again: it finishes the job.
    done = faults.pmcards(home, "import", str(big_deck))
    assert done.returncode == 0, done.stderr
    assert faults.verify(home / faults.DB).notes >= BIG_DECK_NOTES


@pytest.mark.parametrize("seed", range(RESTORE_KILLS))
def test_kill_restore_at_random_point(prepared: Path, tmp_path: Path, seed: int) -> None:
    home = faults.fresh_home(prepared, tmp_path / "home")
    backup = tmp_path / "before.sqlite3"
    shutil.copyfile(home / faults.DB, backup)
    done = faults.pmcards(home, "review", "--deck", "Mine", input=" 3 3 1 4q")
    assert done.returncode == 0, done.stderr
    assert faults.verify(home / faults.DB).logs == 4
    faults.kill_restore(home, backup, random.Random(seed))


def test_keys_typed_ahead_are_never_dropped(prepared: Path, tmp_path: Path) -> None:
    """Keys pressed while the next card is being drawn are read in order, not flushed (as
    switching the terminal mode around every key did): an answer typed fast is an answer."""
    home = faults.fresh_home(prepared, tmp_path / "home")
    child = faults.spawn(home, "review", "--deck", "Mine")
    try:
        child.expect("show answer")
        child.send(" 3 3 3 4 1")
        child.expect("5 answered")
        child.send("q")
        child.expect("Cards answered: 5")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert faults.verify(home / faults.DB).logs == 5
