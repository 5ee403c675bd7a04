"""One collection used by several processes (machines) at once, on SQLite or PostgreSQL; and
moving a collection between the two engines.

Run with PMCARDS_TEST_DB set to a PostgreSQL server (see .ci/postgres.sh) to test the
server; without it, the same tests check SQLite's locking.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from fsrs import Rating
from helpers import FakeClock, NewDb, qa, write_deck

from pmcards import importer, migrations, queries, schema, settings, transfer
from pmcards.cli import cli
from pmcards.review import ReviewSession
from pmcards.store import Store

NOW = "2026-03-02T12:00:00+00:00"


def run(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli,
        list(args),
        env={"PMCARDS_NOW": NOW, **(env or {})},
        input=input,
        catch_exceptions=False,
    )
    return result.exit_code, result.output


def spawn(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(procs: list[subprocess.Popen[str]], timeout: float = 120) -> list[str]:
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err
        outputs.append(out)
    return outputs


# -- several sessions answering the same cards ------------------------------------------

HAMMER = """
    import random, sys, time
    from pathlib import Path
    from fsrs import Rating
    from pmcards.review import ReviewSession
    from pmcards.store import Store

    url, start, seed, rounds = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    ids = [int(i) for i in sys.argv[5].split(",")]
    store = Store(url)
    session = ReviewSession(store)
    rng = random.Random(seed)
    while not start.exists():  # every process starts answering at the same moment
        time.sleep(0.005)
    done = 0
    for _ in range(rounds):
        for card_id in ids:
            session.answer(card_id, rng.choice([Rating.Hard, Rating.Good, Rating.Easy]))
            done += 1
    store.close()
    print(done)
"""


def test_concurrent_sessions_lose_and_double_count_no_answer(store: Store, tmp_path: Path) -> None:
    """Four processes answer the same four cards over and over, at the same moments. Every
    answer must be in the log, and each card's log must be one chain: every answer computed
    from the state the previous answer left, whichever process gave it (a lost update shows
    as two answers starting from the same state, and a card whose reps fall short)."""
    path = write_deck(tmp_path / "d.toml", "Shared", [qa(i) for i in range(1, 5)])
    with store.write() as session:
        importer.apply(session, importer.parse_files([path]), datetime.now(UTC))
    with store.read() as session:
        ids = sorted(session.scalars(sa.select(schema.cards.c.id)))
    start = tmp_path / "start"
    rounds = 12
    procs = [
        spawn(HAMMER, store.url, str(start), str(seed), str(rounds), ",".join(map(str, ids)))
        for seed in range(4)
    ]
    time.sleep(1.0)  # let every process open the collection
    start.touch()
    answered = sum(int(out) for out in finish(procs))
    assert answered == 4 * rounds * len(ids)

    with store.read() as session:
        logs = queries.logs_of_cards(session, ids)
        assert len(logs) == answered
        for card_id in ids:
            chain = [log for log in logs if log.card_id == card_id]
            card = queries.card(session, card_id)
            assert card is not None
            assert card.reps == len(chain) == 4 * rounds
            for i, log in enumerate(chain):
                assert log.reps_before == i
                if i:
                    previous = chain[i - 1]
                    assert (log.state_before, log.due_before, log.stability_before) == (
                        previous.state_after,
                        previous.due_after,
                        previous.stability_after,
                    )
            assert (card.state, card.due, card.stability) == (
                chain[-1].state_after,
                chain[-1].due_after,
                chain[-1].stability_after,
            )


@pytest.mark.postgres_only(reason="PostgreSQL row locks")
def test_answer_waits_for_a_card_locked_by_another_machine(store: Store, tmp_path: Path) -> None:
    """The answer reads its card FOR UPDATE: while another connection holds the row, the
    answer waits, then builds on what that connection committed."""
    path = write_deck(tmp_path / "d.toml", "D", [qa(1)])
    with store.write() as session:
        importer.apply(session, importer.parse_files([path]), datetime.now(UTC))
    with store.read() as session:
        card_id = session.scalars(sa.select(schema.cards.c.id)).one()
    review = ReviewSession(store)
    other = sa.create_engine(store.url, poolclass=sa.pool.NullPool)
    result: list[object] = []
    with other.connect() as conn:
        conn.exec_driver_sql(f"SELECT id FROM cards WHERE id = {card_id} FOR UPDATE")
        conn.exec_driver_sql(f"UPDATE cards SET reps = 5 WHERE id = {card_id}")
        worker = threading.Thread(target=lambda: result.append(review.answer(card_id, Rating.Good)))
        worker.start()
        time.sleep(0.5)
        assert worker.is_alive() and not result  # waiting for the row
        conn.commit()
    worker.join(30)
    other.dispose()
    assert result
    with store.read() as session:
        (log,) = queries.logs_of_cards(session, [card_id])
        assert log.reps_before == 5  # computed from the committed state, not a stale read
        assert queries.card(session, card_id).reps == 6  # type: ignore[union-attr]


@pytest.mark.postgres_only(reason="a server ending the session's connection")
def test_session_reconnects_after_its_connection_was_dropped(store: Store, tmp_path: Path) -> None:
    """A connection the server dropped while the user read a card (a restart, a laptop
    asleep) is replaced before the next answer's transaction: the answer is saved."""
    path = write_deck(tmp_path / "d.toml", "D", [qa(1), qa(2)])
    with store.write() as session:
        importer.apply(session, importer.parse_files([path]), datetime.now(UTC))
    review = ReviewSession(store)
    shown = review.next_card()
    assert shown is not None
    admin = sa.create_engine(store.url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        ended = conn.exec_driver_sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).scalar()
    admin.dispose()
    assert ended == 1  # the session's pooled connection
    review.answer(shown.card_id, Rating.Good)
    with store.read() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(schema.review_log)) == 1


def test_first_use_by_several_processes_at_once(new_db: NewDb) -> None:
    """Four commands open one new, empty collection at the same moment: it is migrated once
    and gets the built-in decks once."""
    url = new_db("shared")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "pmcards", "--db", url, "decks", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = finish(procs)
    counts = [sum(d["notes"] for d in json.loads(out)) for out in outputs]
    assert len(set(counts)) == 1 and counts[0] >= 150
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        names = conn.exec_driver_sql("SELECT name FROM pmcards_migrations").scalars().all()
        notes = conn.exec_driver_sql("SELECT count(*) FROM notes").scalar()
    engine.dispose()
    assert sorted(names) == [name for name, _ in migrations.MIGRATIONS]  # each exactly once
    assert notes == counts[0]


# -- a server that cannot be reached ----------------------------------------------------


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("postgresql+psycopg://me:secret@127.0.0.1:1/pm", "127.0.0.1:1"),
        ("postgresql+psycopg://me@/pm?host=/nonexistent/socket/dir", "socket /nonexistent"),
    ],
)
def test_unreachable_server_is_a_one_line_error_and_no_local_fork(
    url: str, where: str, isolated_home: Path
) -> None:
    env = {**os.environ, "PMCARDS_DB": url}
    for args in (["status"], ["review"], ["import", "nothing.toml"], ["db", "copy", "--to", "x"]):
        done = subprocess.run(
            [sys.executable, "-m", "pmcards", *args], capture_output=True, text=True, env=env
        )
        if args[0] == "import":
            continue  # the file is checked before the database is opened
        assert done.returncode == 1, done.stderr
        assert done.stdout == ""
        (line,) = done.stderr.splitlines()
        assert line.startswith(f"Error: cannot reach the database server at {where}")
        assert "pmcards keeps no local copy" in line and "secret" not in line
    # Nothing fell back to a local collection.
    assert not (isolated_home / "collection.sqlite3").exists()


# -- moving a collection between engines -------------------------------------------------


def build_history(url: str, tmp_path: Path) -> None:
    """A collection with decks, notes of every kind, reviews (a leech among them),
    suspended and buried cards and changed settings."""
    deck = write_deck(
        tmp_path / "mine.toml",
        "Mine::Sub",
        [
            qa(1),
            qa(2, kind="qa_reversed"),
            {"id": "c1", "kind": "contrast", "situation": "S", "bad": "B", "good": "G"},
            {"id": "z1", "kind": "cloze", "text": "A {{c1::one}} and {{c2::two}} — ü 中"},
        ],
    )
    # The built-in decks first: a collection's first import adds none.
    assert run("--db", url, "import", "--builtin")[0] == 0
    assert run("--db", url, "import", str(deck))[0] == 0
    assert run("--db", url, "config", "leech_threshold", "2")[0] == 0
    assert run("--db", url, "config", "desired_retention", "0.85")[0] == 0
    store = Store(url)
    try:
        clock_times = [datetime(2026, 3, d, 12, 0, tzinfo=UTC) for d in (2, 3, 5, 9)]
        with store.write() as session:
            settings.save(session, "fuzz", False)
        for now in clock_times:
            review = ReviewSession(store, clock=FakeClock(now))
            for i in range(12):
                shown = review.next_card()
                if shown is None:
                    break
                review.answer(shown.card_id, Rating.Again if i % 3 == 0 else Rating.Good, 1500)
            shown = review.next_card()
            if shown is not None:
                review.bury(shown.card_id)
    finally:
        store.close()
    # A drill, a mock and a forgotten card: every table holds rows to copy.
    assert run("--db", url, "drill", "--count", "2", input="bgq")[0] == 0
    assert run("--db", url, "mock", "--minutes", "1,1,1", input="   1\n")[0] == 0
    assert run("--db", url, "forget", "--state", "review")[0] == 0


def summary(url: str) -> list[transfer.TableSummary]:
    store = Store(url)
    try:
        with store.read() as conn:
            return transfer.summarize(conn)
    finally:
        store.close()


def test_copy_round_trip_keeps_every_note_card_and_review(new_db: NewDb, tmp_path: Path) -> None:
    """SQLite → the test engine (PostgreSQL on the server run) → SQLite: every table equal,
    row for row; the copy is usable (new rows get fresh ids) and a second copy is refused."""
    source = f"sqlite:///{tmp_path / 'laptop.sqlite3'}"
    build_history(source, tmp_path)
    original = summary(source)
    by_name = {t.name: t for t in original}
    assert by_name["review_log"].rows >= 20 and by_name["settings"].rows >= 3
    # Every table is copied (the schema's, not a list that can fall behind it).
    assert set(by_name) == set(schema.metadata.tables)
    assert [name for name, t in by_name.items() if not t.rows] == [
        "anki_notetypes",
        "mock_red_flags",
    ]

    shared = new_db("shared")
    code, output = run("--db", source, "db", "copy", "--to", shared)
    assert code == 0, output
    for table in original:
        assert f"{table.name:<14} {table.rows:>8} rows  sha256 {table.checksum[:16]}  ok" in output
    assert summary(shared) == original

    # Refused when the target holds a collection; --force replaces it.
    code, output = run("--db", source, "db", "copy", "--to", shared)
    assert code == 1 and "already holds a collection: nothing was copied (--force" in output
    assert run("--db", source, "db", "copy", "--to", shared, "--force")[0] == 0
    assert summary(shared) == original

    back = f"sqlite:///{tmp_path / 'desktop.sqlite3'}"
    code, output = run("--db", shared, "db", "copy", "--to", back)
    assert code == 0, output
    assert summary(back) == original

    # The copy is a working collection: answers and imports add rows after the copied ids.
    engine = sa.create_engine(shared, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        max_log = conn.exec_driver_sql("SELECT max(id) FROM review_log").scalar()
        max_note = conn.exec_driver_sql("SELECT max(id) FROM notes").scalar()
    code, output = run("--db", shared, "review", "--limit", "2", input=" 3 3")
    assert "Cards answered: 2" in output, output
    more = write_deck(tmp_path / "more.toml", "More", [qa(9, prefix="m")])
    assert run("--db", shared, "import", str(more))[0] == 0
    with engine.connect() as conn:
        new_logs = conn.exec_driver_sql(
            f"SELECT count(*) FROM review_log WHERE id > {max_log}"
        ).scalar()
        new_note = conn.exec_driver_sql("SELECT id FROM notes WHERE guid = 'm-009'").scalar()
    engine.dispose()
    assert new_logs == 2 and new_note == (max_note or 0) + 1


def test_copy_onto_itself_is_refused(new_db: NewDb) -> None:
    url = new_db("one")
    code, output = run("--db", url, "db", "copy", "--to", url)
    assert code == 2 and "--to names the collection being copied" in output


# -- backups ----------------------------------------------------------------------------


def test_backup_says_how_it_was_made_and_restores(
    new_db: NewDb, tmp_path: Path, collection_url: str
) -> None:
    build_history(collection_url, tmp_path)
    original = summary(collection_url)
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    code, output = run("backup", "--to", str(tmp_path / "b"))
    assert code == 0, output
    (made,) = (tmp_path / "b").iterdir()
    if collection_url.startswith("sqlite"):
        assert output.endswith(f" to {made}\n") and made.suffix == ".sqlite3"
    else:
        assert output.endswith(f" to {made} (pg_dump custom format; restore with pg_restore)\n")
        assert made.suffix == ".dump"
        restored = new_db("restored")
        libpq_url = sa.make_url(restored).set(drivername="postgresql")
        subprocess.run(
            ["pg_restore", "--no-owner", "-d", libpq_url.render_as_string(False), str(made)],
            check=True,
        )
        assert summary(restored) == original
        # Without pg_dump, pmcards' own copy: a SQLite collection that db copy restores.
        code, output = run("backup", "--to", str(tmp_path / "c"), env={"PATH": ""})
        assert code == 0, output
        (made,) = (tmp_path / "c").iterdir()
        assert output.endswith(
            f" to {made} (pg_dump is not installed; a SQLite copy made by pmcards; "
            "restore with pmcards db copy)\n"
        )
    assert made.suffix == ".sqlite3"
    restored = new_db("from-copy")
    assert run("--db", str(made), "db", "copy", "--to", restored)[0] == 0
    assert summary(restored) == original
