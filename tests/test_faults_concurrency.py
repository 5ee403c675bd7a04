"""Several pmcards processes on one collection at once: two or three review sessions, a
review during a large import, `status` while a review runs. No "database is locked" reaches
the user, no answer is lost, and a card answered in two sessions has both answers recorded
in order, the second scheduled from the first's result (`faults.chain_ok`)."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import faults
import pytest
from fsrs import Rating
from helpers import FakeClock, qa, write_deck

from pmcards import importer
from pmcards.formats import toml_deck
from pmcards.review import ReviewSession
from pmcards.store import Store

SESSIONS_RUNS = 4
IMPORT_RUNS = 2
STATUS_RUNS = 2


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return faults.prepare(tmp_path_factory.mktemp("concurrency"))


def start_review(home: Path, keys: str) -> subprocess.Popen[str]:
    """A scripted review (keys from standard input) running in the background."""
    script = home / f"keys-{time.monotonic_ns()}.txt"
    script.write_text(keys)
    with script.open() as stdin:
        return subprocess.Popen(
            [sys.executable, "-m", "pmcards", "review", "--deck", "Mine"],
            env=faults.env_for(home),
            cwd=faults.ROOT,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    """Wait for a scripted review; returns how many answers it printed as recorded."""
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "locked" not in (out + err).lower()
    assert "Traceback" not in err
    return out.count("→ "), out


@pytest.mark.parametrize("seed", range(SESSIONS_RUNS))
def test_review_sessions_at_once_lose_nothing(prepared: Path, tmp_path: Path, seed: int) -> None:
    home = faults.fresh_home(prepared, tmp_path / "home")
    sessions = 2 + seed % 2
    keys = [" " + "1234"[(seed + i) % 4] + " 3 3 4 2 3 3 1 3 4 3 3" + "q" for i in range(sessions)]
    procs = [start_review(home, k) for k in keys]
    answered = [finish(p)[0] for p in procs]
    state = faults.verify(home / faults.DB)  # includes the per-card chain of answers
    assert state.logs == sum(answered) and all(answered)


@pytest.mark.parametrize("seed", range(IMPORT_RUNS))
def test_review_during_a_large_import(prepared: Path, tmp_path: Path, seed: int) -> None:
    home = faults.fresh_home(prepared, tmp_path / "home")
    deck = tmp_path / "big.toml"
    deck.write_text(faults.deck_text("Big", 4000, "big"), encoding="utf-8")
    importing = subprocess.Popen(
        [sys.executable, "-m", "pmcards", "import", str(deck)],
        env=faults.env_for(home),
        cwd=faults.ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.1 * seed)
    review = start_review(home, " 3 3 1 4 2 3 3q")
    answered, _ = finish(review)
    out, err = importing.communicate(timeout=120)
    assert importing.returncode == 0 and "locked" not in err.lower(), err
    state = faults.verify(home / faults.DB)
    assert state.logs == answered == 7 and state.notes >= 4000


@pytest.mark.parametrize("seed", range(STATUS_RUNS))
def test_status_while_reviewing(prepared: Path, tmp_path: Path, seed: int) -> None:
    home = faults.fresh_home(prepared, tmp_path / "home")
    review = start_review(home, " 3 3 1 4 2 3 3 3 3 3 3 3 3 3 3 3q")
    for _ in range(4):
        status = faults.pmcards(home, "status", "--json")
        assert status.returncode == 0 and "locked" not in status.stderr.lower(), status.stderr
        check = faults.pmcards(home, "check")
        assert check.returncode == 0, check.stdout + check.stderr
    answered, _ = finish(review)
    assert faults.verify(home / faults.DB).logs == answered == 16


@pytest.mark.sqlite_only(
    reason="reads the collection's SQLite file directly (test_shared_store.py covers PostgreSQL)"
)
def test_card_on_screen_in_two_sessions_is_not_double_scheduled(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    """Both sessions show the same card; the first answers it; the second's answer is read
    against the card as the first left it (under the write lock), not as it was shown."""
    path = write_deck(tmp_path / "d.toml", "D", [qa(1)])
    with store.write() as session:
        importer.apply(session, [toml_deck.parse_deck(path)], clock.now)
    one = ReviewSession(store, clock=clock)
    two = ReviewSession(store, clock=clock)
    a, b = one.next_card(), two.next_card()
    assert a is not None and b is not None and a.card_id == b.card_id
    first = one.answer(a.card_id, Rating.Good, shown_reps=a.reps)
    clock.advance(seconds=5)
    second = two.answer(b.card_id, Rating.Good, shown_reps=b.reps)
    assert not first.changed_meanwhile and second.changed_meanwhile
    # Scheduled from the first answer's result: one learning step further, not the same one.
    assert second.due > first.due + timedelta(minutes=5)
    store.close()
    state = faults.verify(Path(store.url.removeprefix("sqlite:///")))
    assert state.logs == 2
    # The second session's undo takes back only its own answer.
    two.undo()
    assert faults.verify(Path(store.url.removeprefix("sqlite:///"))).logs == 1
    # The first session's undo is refused: its answer is no longer the card's last... it is
    # again, since the second was undone; so it works and the card is new once more.
    one.undo()
    assert faults.verify(Path(store.url.removeprefix("sqlite:///"))).logs == 0


def test_opening_a_rollback_mode_file_while_another_process_writes(tmp_path: Path) -> None:
    """A collection not yet in WAL mode (a backup copied into place by hand) switches to it
    on open; with another connection writing, SQLite refuses the switch at once ("database
    is locked", no busy wait), so the switch is retried until the busy timeout."""
    import sqlite3
    import threading

    path = tmp_path / "c.sqlite3"
    Store(f"sqlite:///{path}").close()
    faults.settle(path)  # back to rollback mode, as a backup file is
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE settings SET value = value")
    threading.Timer(0.3, lambda: writer.execute("COMMIT")).start()
    started = time.monotonic()
    store = Store(f"sqlite:///{path}")
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.close()
    writer.close()
    assert time.monotonic() - started >= 0.25
