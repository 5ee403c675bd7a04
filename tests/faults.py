"""Fault injection shared by the crash and concurrency tests and by bench/stress_kill.py:
real `pmcards` processes in a pseudo-terminal, killed with SIGKILL at random moments, and
the checks every collection must pass afterwards.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pexpect

ROOT = Path(__file__).resolve().parent.parent
DB = "collection.sqlite3"


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = dict(
        os.environ,
        PMCARDS_HOME=str(home),
        TZ="UTC",
        COLUMNS="100",
        LINES="40",
        TERM="xterm",
        PYTHONPATH=str(ROOT),
    )
    env.pop("NO_COLOR", None)
    env.pop("PMCARDS_DB", None)
    env.update(extra)
    return env


def pmcards(
    home: Path, *args: str, input: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pmcards", *args],
        input=input,
        capture_output=True,
        text=True,
        env=env_for(home, **env),
        cwd=ROOT,
        timeout=120,
    )


def spawn(home: Path, *args: str) -> pexpect.spawn[str]:
    return pexpect.spawn(
        sys.executable,
        ["-m", "pmcards", *args],
        env=env_for(home),
        cwd=str(ROOT),
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 100),
    )


def deck_text(name: str, count: int, prefix: str) -> str:
    lines = ["[deck]", f"name = {json.dumps(name)}", ""]
    for i in range(count):
        lines += [
            "[[note]]",
            f'id = "{prefix}-{i:05d}"',
            f'front = "Question {i} of {name}?"',
            f'back = "Answer {i}."',
            "",
        ]
    return "\n".join(lines)


def prepare(folder: Path) -> Path:
    """A collection with the built-in decks and a small deck of our own, settled into one
    file (no WAL), to be copied for each run. Returns its home folder."""
    home = folder / "prepared"
    home.mkdir(parents=True)
    deck = folder / "mine.toml"
    deck.write_text(deck_text("Mine", 30, "mine"), encoding="utf-8")
    # A collection's first import adds no built-in decks: they come first, on their own.
    done = pmcards(home, "import", "--builtin")
    assert done.returncode == 0, done.stderr
    done = pmcards(home, "import", str(deck))
    assert done.returncode == 0, done.stderr
    settle(home / DB)
    return home


def settle(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode = DELETE")
    finally:
        conn.close()


def fresh_home(prepared: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    shutil.copyfile(prepared / DB, target / DB)
    return target


# -- what must hold after any fault ----------------------------------------------------------


@dataclass
class State:
    logs: int
    notes: int
    cards: int


def verify(path: Path) -> State:
    """Everything a crash must never break: the file, the foreign keys, and every card's
    state equal to what its last review-log row left it as (no half-written answer)."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        cards = conn.execute("SELECT * FROM cards").fetchall()
        last = {
            row["card_id"]: row
            for row in conn.execute(
                "SELECT * FROM review_log WHERE id IN (SELECT max(id) FROM review_log GROUP BY card_id)"
            )
        }
        for card in cards:
            log = last.get(card["id"])
            if log is None:
                assert card["state"] == 0 and card["reps"] == 0, dict(card)
                continue
            assert card["state"] == log["state_after"], (dict(card), dict(log))
            assert card["step"] == log["step_after"], (dict(card), dict(log))
            assert card["stability"] == log["stability_after"], (dict(card), dict(log))
            assert card["difficulty"] == log["difficulty_after"], (dict(card), dict(log))
            assert card["due"] == log["due_after"], (dict(card), dict(log))
            assert card["last_review"] == log["reviewed_at"], (dict(card), dict(log))
            assert card["reps"] == log["reps_before"] + 1, (dict(card), dict(log))
        chain_ok(conn)
        return State(
            logs=conn.execute("SELECT count(*) FROM review_log").fetchone()[0],
            notes=conn.execute("SELECT count(*) FROM notes").fetchone()[0],
            cards=len(cards),
        )
    finally:
        conn.close()


def chain_ok(conn: sqlite3.Connection) -> None:
    """Each card's answers follow on from each other: no answer scheduled from a stale state
    (the double scheduling two sessions could cause)."""
    previous: dict[int, sqlite3.Row] = {}
    for log in conn.execute("SELECT * FROM review_log ORDER BY id"):
        before = previous.get(log["card_id"])
        if before is not None:
            assert log["state_before"] == before["state_after"], (dict(before), dict(log))
            assert log["due_before"] == before["due_after"], (dict(before), dict(log))
            assert log["reps_before"] == before["reps_before"] + 1, (dict(before), dict(log))
            assert log["reviewed_at"] >= before["reviewed_at"], (dict(before), dict(log))
        else:
            assert log["reps_before"] == 0 and log["state_before"] == 0, dict(log)
        previous[log["card_id"]] = log


# -- killing a review at random -----------------------------------------------------------------

_ANSWERED = re.compile(r"(\d+) answered")


@dataclass
class KillResult:
    acknowledged: int  # answers on screen ("N answered") when the kill came
    last_action: str  # what was in flight: "answer", "undo", "bury", "suspend", "idle"
    state: State


def kill_review(home: Path, rng: random.Random, *, actions: int | None = None) -> KillResult:
    """Drive `pmcards review` with random keys, then SIGKILL it in the middle of a random
    action (or between actions), and check the collection."""
    child = spawn(home, "review", "--deck", "Mine")
    # What the terminal showed, kept beside the collection for a failure's post-mortem.
    child.logfile_read = (home / "pty.log").open("w", encoding="utf-8")
    acknowledged = 0
    last = "idle"
    # `u` undoes the last action of any kind: an answer, a bury or a suspend.
    done: list[str] = []
    try:
        steps = actions if actions is not None else rng.randint(0, 6)
        for n in range(steps + 1):
            final = n == steps
            child.expect("show answer")
            action = rng.choices(["answer", "undo", "bury", "suspend"], [10, 3, 1, 1])[0]
            if action == "undo" and not done:
                action = "answer"
            if action == "undo" and done[-1] != "answer":
                action = "undo other"
            if action == "answer":
                child.send(" ")
                child.expect("4 Easy")
                child.send(rng.choice("1234"))
            else:
                child.send({"undo": "u", "undo other": "u", "bury": "b", "suspend": "s"}[action])
            if final:
                last = action
                # Kill while the action is written, or just before or after it.
                if rng.random() < 0.8:
                    time.sleep(rng.random() * 0.04)
                break
            if action == "answer":
                acknowledged += 1
            elif action == "undo":
                acknowledged -= 1
            if action.startswith("undo"):
                done.pop()
            else:
                done.append(action)
            child.expect(f"{acknowledged} answered")
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
        child.logfile_read.close()
    state = verify(home / DB)
    if last == "answer":
        assert acknowledged <= state.logs <= acknowledged + 1, (acknowledged, state)
    elif last == "undo":
        assert acknowledged - 1 <= state.logs <= acknowledged, (acknowledged, state)
    else:
        assert state.logs == acknowledged, (acknowledged, state)
    return KillResult(acknowledged, last, state)


def kill_import(home: Path, deck: Path, notes: int, rng: random.Random) -> State:
    """Kill an import at a random moment: afterwards it is all in or not in at all."""
    before = verify(home / DB)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pmcards", "import", str(deck)],
        env=env_for(home),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(rng.random() * 0.9)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    after = verify(home / DB)
    assert after.notes in (before.notes, before.notes + notes), (before, after)
    assert after.logs == before.logs
    return after


def kill_restore(home: Path, backup: Path, rng: random.Random) -> State:
    """Kill a restore at a random moment: the collection is the old one or the backup."""
    before = verify(home / DB)
    wanted = verify(backup)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pmcards", "restore", "--yes", str(backup)],
        env=env_for(home),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(rng.random() * 0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    after = verify(home / DB)
    assert after in (before, wanted), (before, wanted, after)
    # No half-written backup ever carries a backup's name.
    for made in (home / "backups").glob("collection-*.sqlite3"):
        verify(made)
    return after
