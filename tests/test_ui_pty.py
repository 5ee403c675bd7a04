"""Real key handling in a pseudo-terminal, and SIGKILL in the middle of a session."""

import os
import random
import re
import signal
import sys
from pathlib import Path

import pexpect
import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")


def spawn(home: Path, *args: str, command: str = "review") -> "pexpect.spawn[str]":
    env = dict(
        os.environ, PMCARDS_HOME=str(home), TZ="UTC", COLUMNS="100", LINES="40", TERM="xterm"
    )
    env.pop("NO_COLOR", None)
    return pexpect.spawn(
        sys.executable,
        ["-m", "pmcards", command, *args],
        env=env,
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 100),
    )


def check_db(url: str) -> tuple[int, list[tuple[int, int, str, str]]]:
    """The collection after the session, on SQLite or PostgreSQL (a killed client's open
    transaction is rolled back by the server)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            logs = conn.exec_driver_sql("SELECT count(*) FROM review_log").scalar()
            # Every reviewed card's state is exactly what its last log says: no half-written
            # answer.
            rows = conn.exec_driver_sql(
                "SELECT c.state, l.state_after, c.due, l.due_after FROM cards c JOIN review_log l "
                "ON l.id = (SELECT max(id) FROM review_log WHERE card_id = c.id)"
            ).all()
            return int(logs or 0), [tuple(row) for row in rows]
    finally:
        engine.dispose()


def test_keys_in_a_terminal(isolated_home: Path, collection_url: str) -> None:
    child = spawn(isolated_home)
    child.expect("0 answered")
    child.expect("show answer")
    child.send(" ")
    child.expect(r"3 Good")
    child.send("3")  # one keypress, no Enter
    child.expect("1 answered")
    child.send("\r")  # Enter reveals too
    child.expect("4 Easy")
    child.send("u")  # undo on the back of a card: the first card comes back
    child.expect("0 answered")
    child.expect("Undid the last answer")
    child.send("q")
    child.expect("Cards answered: 0")
    child.expect(pexpect.EOF)
    logs, _ = check_db(collection_url)
    assert logs == 0


def test_colour_in_terminal_and_ctrl_c(isolated_home: Path, collection_url: str) -> None:
    child = spawn(isolated_home)
    child.expect("show answer")
    child.send(" ")
    child.expect("Again")
    assert "\x1b[1m" in str(child.before)  # bold labels on a TTY
    child.send("4")
    child.expect("1 answered")
    child.sendintr()
    child.expect("Cards answered: 1")
    child.expect(pexpect.EOF)
    logs, _ = check_db(collection_url)
    assert logs == 1


@pytest.mark.parametrize("seed", range(6))
def test_sigkill_mid_session_loses_no_answer(
    isolated_home: Path, collection_url: str, seed: int
) -> None:
    rng = random.Random(seed)
    child = spawn(isolated_home)
    acknowledged = 0
    answers = rng.randint(1, 8)
    for _ in range(answers):
        child.expect("show answer")
        child.send(" ")
        child.expect("4 Easy")
        child.send(rng.choice("1234"))
        child.expect(f"{acknowledged + 1} answered")
        acknowledged += 1
    # One more answer, killed at a random moment around its commit.
    child.expect("show answer")
    child.send(" ")
    child.expect("4 Easy")
    child.send("3")
    if rng.random() < 0.7:
        import time

        time.sleep(rng.random() * 0.05)
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.expect(pexpect.EOF)
    logs, rows = check_db(collection_url)
    assert acknowledged <= logs <= acknowledged + 1
    assert all(
        state == state_after and due == due_after for state, state_after, due, due_after in rows
    )


def big_deck(path: Path, notes: int) -> Path:
    """A TOML deck over the 1 MB from which files are streamed (read as they are written)."""
    lines = ["[deck]", 'name = "Big"', ""]
    for n in range(1, notes + 1):
        lines += [
            "[[note]]",
            f'id = "big-{n:05d}"',
            f'front = "Question {n}: what would you measure first, and why that metric?"',
            f'back = "Answer {n}: the outcome the user feels, then the model metric that moves it."',
            "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")
    assert path.stat().st_size > 1_000_000
    return path


def spawn_import(home: Path, *args: str) -> "pexpect.spawn[str]":
    env = dict(os.environ, PMCARDS_HOME=str(home), TZ="UTC", TERM="xterm")
    return pexpect.spawn(
        sys.executable, ["-m", "pmcards", "import", *args], env=env, encoding="utf-8", timeout=60
    )


def test_import_progress_bar_on_a_streamed_file(isolated_home: Path, tmp_path: Path) -> None:
    deck = big_deck(tmp_path / "big.toml", 6000)
    child = spawn_import(isolated_home, str(deck))
    child.expect("Importing")
    child.expect("100%")
    child.expect(f"{deck}: deck 'Big': 6000 added, 0 updated, 0 unchanged, 0 missing")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    # An error near the end: the bar stops on its own line, the error follows, nothing new.
    text = deck.read_text().replace('id = "big-05999"', 'id = "big-00002"')
    deck.write_text(text.replace('id = "big-00001"', 'id = "big-09999"'))
    child = spawn_import(isolated_home, str(deck))
    child.expect("Importing")
    error = f"{deck}:29994: duplicate note id 'big-00002' (first at line 9)"
    child.expect(r"\r\nError: " + re.escape(error))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert "Traceback" not in (child.before or "")


def test_drill_keys_typed_ahead_and_ctrl_c(isolated_home: Path, collection_url: str) -> None:
    """The drill reads keys as the review screen does: calls typed ahead are kept in order,
    and Ctrl-C is a key that ends the drill after the answers already given."""
    child = spawn(isolated_home, "--count", "5", command="drill")
    child.expect("BAD or GOOD\\?")
    child.send("b g ")  # two calls and the key to move on between them, typed at once
    child.expect("Drill 3/5")
    child.sendintr()
    child.expect("Right: \\d of 2")
    child.expect(pexpect.EOF)
    logs, _ = check_db(collection_url)
    assert logs == 2


def test_mock_ctrl_c_records_nothing(isolated_home: Path, collection_url: str) -> None:
    child = spawn(isolated_home, "--minutes", "1,1,1", command="mock")
    child.expect("Phase 1 of 3")
    child.sendintr()
    child.expect("nothing recorded")
    child.expect(pexpect.EOF)
    logs, _ = check_db(collection_url)
    assert logs == 0


@pytest.mark.parametrize(
    ("key", "said", "undone"),
    [
        ("s", "Suspended that card (u undoes it).", "Undid the suspend: the card is back."),
        (
            "b",
            "Buried that card until tomorrow (u undoes it).",
            "Undid the bury: the card is back.",
        ),
    ],
)
def test_undo_a_suspend_or_a_bury_in_a_terminal(
    isolated_home: Path, collection_url: str, key: str, said: str, undone: str
) -> None:
    child = spawn(isolated_home)
    child.expect("show answer")
    first = str(child.before)
    child.send(key)
    child.expect(re.escape(said))
    child.expect("show answer")
    child.send("u")
    child.expect(re.escape(undone))
    child.expect("show answer")
    # The card it was about is on screen again: the same front as before the action.
    front = next(line for line in first.splitlines() if line.startswith("  ")).strip()
    assert front in str(child.before)
    child.send("q")
    child.expect(pexpect.EOF)
    engine = sa.create_engine(collection_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            flagged = conn.exec_driver_sql(
                "SELECT count(*) FROM cards WHERE suspended OR buried_until IS NOT NULL"
            ).scalar()
    finally:
        engine.dispose()
    assert flagged == 0


def test_undo_in_the_drill_and_the_mock_in_a_terminal(
    isolated_home: Path, collection_url: str
) -> None:
    """`u` on a verdict takes the call back and shows the same answer again; `u` after a
    mock's rating takes the whole mock back (issue 14)."""
    child = spawn(isolated_home, "--count", "2", command="drill")
    child.expect("BAD or GOOD\\?")
    situation = re.search(r"Situation: (.+?)\r\n", str(child.before))
    assert situation is not None
    child.send("b")
    child.expect("u undo")
    child.send("u")
    child.expect("Undid the last call: judge this answer again.")
    child.expect("BAD or GOOD\\?")
    assert situation.group(1) in str(child.before)  # the same answer, judged again
    child.send("g ")
    child.expect("Drill 2/2")
    child.send("q")
    child.expect(pexpect.EOF)
    logs, _ = check_db(collection_url)
    assert logs == 1
    child = spawn(isolated_home, "--minutes", "0.02,0.02,0.02", command="mock")
    child.expect("Phase 1 of 3")
    child.send("   ")
    child.expect("Enter when done")
    child.send("1\r")
    child.expect("u undo this mock's rating")
    child.send("u")
    child.expect("Undid the mock")
    child.expect(pexpect.EOF)
    logs, _ = check_db(collection_url)
    assert logs == 1  # the drill's call only
