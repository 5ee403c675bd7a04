"""Real key handling in a pseudo-terminal, and SIGKILL in the middle of a session."""

import os
import random
import signal
import sys
from pathlib import Path

import pexpect
import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")


def spawn(home: Path, *args: str) -> pexpect.spawn:
    env = dict(
        os.environ, PMCARDS_HOME=str(home), TZ="UTC", COLUMNS="100", LINES="40", TERM="xterm"
    )
    env.pop("NO_COLOR", None)
    return pexpect.spawn(
        sys.executable,
        ["-m", "pmcards", "review", *args],
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
    assert "\x1b[1m" in child.before  # bold labels on a TTY
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
    os.kill(child.pid, signal.SIGKILL)
    child.expect(pexpect.EOF)
    logs, rows = check_db(collection_url)
    assert acknowledged <= logs <= acknowledged + 1
    assert all(
        state == state_after and due == due_after for state, state_after, due, due_after in rows
    )
