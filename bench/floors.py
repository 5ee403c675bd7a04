"""Floors for issue 18's rows that pmcards misses: how fast the same work can be done in
CPython at all, without pmcards' code or SQLAlchemy, beside pmcards and Anki's engine.

    python bench/floors.py                     # imports of 10,000 and 100,000 notes, answers
    python bench/floors.py --tiny --no-write   # keep the script working (CI): times nothing
    python bench/floors.py --optimize          # also the optimizer's peak memory, both engines

- **Import floor**: a process that reads the side-by-side's CSV with the `csv` module, does
  the least per-note work any importer of pmcards' schema must (fields, an id and a checksum
  hashed, the fields as JSON, the folded search text) and inserts notes and cards with bare
  `sqlite3.executemany` into pmcards' own schema and indexes, in one synced transaction. No
  validation, no sanitising, no lint hint, no SQLAlchemy. Timed as a whole process beside
  `pmcards import` of the same file and, with `anki` installed, Anki's CSV import.
- **Status floor**: a process that pays what pmcards' one data path must (Python's start-up
  and `import sqlalchemy`) and runs, with bare `sqlite3`, every statement `pmcards status`
  runs (captured, with their parameters, from the real command on the same collection),
  beside `pmcards status` and Anki's deck tree.
- **Answer floor**: the statements pmcards runs for real answers (captured, with their
  parameters, from `ReviewSession.answer` on one copy of the 10,000-note collection) replayed
  with bare `sqlite3` on a second copy, the same pragmas, one synced commit per answer. The
  difference from pmcards' own time is what SQLAlchemy Core and pmcards' Python cost.

- **The optimizer's memory** (`--optimize`, minutes): `pmcards optimize` on the 100,000-note
  collection's log (1.5 million answers) and Anki's own `compute_fsrs_params` on the same
  log copied into an Anki collection, each the peak of a process of its own.

These floors are bench-only code: pmcards itself has one data path (SQLAlchemy Core).
Never a timed assertion; figures go to RESULTS.md.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
PMCARDS = [sys.executable, "-m", "pmcards"]
# The floor's own process imports nothing of the bench's (run.py imports more than it needs).
sys.path.insert(0, str(HERE))


def import_floor(source: Path, target: Path) -> None:
    """The floor's process: the CSV into `target` (an empty pmcards collection)."""
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
    conn = sqlite3.connect(target, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    deck = source.stem
    notes = []
    with source.open(newline="", encoding="utf-8") as f:
        rows = csv.reader(line for line in f if not line.startswith("#"))  # Anki's header
        for position, (front, back) in enumerate(rows, start=1):
            front, back = front.strip(), back.strip()
            fields = json.dumps({"front": front, "back": back}, ensure_ascii=False)
            first = f"{deck}\x1fqa\x1f{front}".encode()
            guid = "csv-" + hashlib.sha256(first).hexdigest()[:12]
            checksum = hashlib.sha256(fields.encode()).hexdigest()
            search = unicodedata.normalize("NFKC", f"{front}\n{back}\n\n").casefold()
            notes.append((guid, "qa", fields, " ", "", checksum, position, now, now, search))
    conn.execute("BEGIN IMMEDIATE")
    deck_id = conn.execute(
        "INSERT INTO decks (name, description, created_at) VALUES (?, '', ?) RETURNING id",
        (deck, now),
    ).fetchone()[0]
    first_id = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM notes").fetchone()[0]
    conn.executemany(
        "INSERT INTO notes (guid, deck_id, kind, fields, tags, section, checksum, position, "
        f"created_at, updated_at, search) VALUES (?, {deck_id}, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        notes,
    )
    conn.executemany(
        "INSERT INTO cards (note_id, deck_id, ord, state, due, reps, lapses, suspended) "
        f"VALUES (?, {deck_id}, 0, 0, ?, 0, 0, 0)",
        ((first_id + i, now) for i in range(len(notes))),
    )
    conn.execute("COMMIT")
    conn.close()


def imports(sizes: list[int], runs: int, anki: bool) -> list[dict[str, Any]]:
    from run import fresh_db, paired, run_process
    from synth import write_qa_deck

    home = Path(tempfile.mkdtemp(prefix="pmcards-floors-"))
    env = dict(os.environ, PMCARDS_HOME=str(home), NO_COLOR="1")
    empty = fresh_db(home / "empty.sqlite3")
    anki_py = [sys.executable, str(HERE / "anki_side.py")]
    if anki:
        subprocess.run([*anki_py, "status", str(home / "empty.anki2")], check=True)
    rows = []
    for n in sizes:
        deck = write_qa_deck(home / f"qa{n}.csv", n, "csv")
        target = home / "target.sqlite3"

        def fresh(target: Path = target) -> None:
            for suffix in ("-wal", "-shm"):
                Path(str(target) + suffix).unlink(missing_ok=True)
            shutil.copy(empty, target)

        floor = [sys.executable, __file__, "_floor", str(deck), str(target)]
        pm = partial(
            run_process, [*PMCARDS, "import", str(deck)], dict(env, PMCARDS_DB=str(target))
        )
        row: dict[str, Any] = {"notes": n}
        row["floor_vs_pmcards"] = paired(
            partial(run_process, floor, env), pm, runs, setup_a=fresh, setup_b=fresh
        )
        if anki:
            anki_target = home / "import.anki2"

            def fresh_anki(anki_target: Path = anki_target) -> None:
                for suffix in ("", "-wal"):
                    Path(str(anki_target) + suffix).unlink(missing_ok=True)
                shutil.copy(home / "empty.anki2", anki_target)

            row["floor_vs_anki"] = paired(
                partial(run_process, floor, env),
                partial(run_process, [*anki_py, "csv", str(anki_target), str(deck)], env),
                runs,
                setup_a=fresh,
                setup_b=fresh_anki,
            )
        print(f"import {n}: {row}", file=sys.stderr)
        rows.append(row)
    shutil.rmtree(home, ignore_errors=True)
    return rows


def status_statements(db: Path, out: Path) -> None:
    """Every statement `pmcards status` runs on `db` (opening included), with its
    parameters, as JSON for the floor's process."""
    from click.testing import CliRunner
    from sqlalchemy import Engine, event

    from pmcards.cli import cli

    captured: list[tuple[str, Any]] = []

    def keep(_c: Any, _cur: Any, statement: str, parameters: Any, _x: Any, _m: Any) -> None:
        captured.append((statement, list(parameters) if parameters else []))

    event.listen(Engine, "before_cursor_execute", keep)
    try:
        result = CliRunner().invoke(cli, ["--db", str(db), "status"])
    finally:
        event.remove(Engine, "before_cursor_execute", keep)
    assert result.exit_code == 0, result.output
    out.write_text(json.dumps(captured))


def status_floor(statements: Path, db: Path) -> None:
    """The floor's process for `status`: the one data path's import, then the statements."""
    import sqlalchemy  # noqa: F401  (what every pmcards process pays)

    conn = sqlite3.connect(db, isolation_level=None)
    rows = 0
    for statement, parameters in json.loads(statements.read_text()):
        if statement.split(None, 1)[0].upper() in ("BEGIN", "COMMIT", "ROLLBACK"):
            continue  # the driver's transactions were not captured whole: each runs alone
        rows += len(conn.execute(statement, parameters).fetchall())
    conn.close()
    print(rows)


def status(sizes: list[int], runs: int, anki: bool) -> list[dict[str, Any]]:
    from run import collection, paired, run_process

    home = Path(tempfile.mkdtemp(prefix="pmcards-floors-"))
    env = dict(os.environ, PMCARDS_HOME=str(home), NO_COLOR="1")
    os.environ["PMCARDS_HOME"] = str(home)  # the capture's daily backup goes there too
    anki_py = [sys.executable, str(HERE / "anki_side.py")]
    rows = []
    for n in sizes:
        db = collection(n, datetime.now(UTC))
        statements = home / f"status{n}.json"
        status_statements(db, statements)
        floor = partial(
            run_process, [sys.executable, __file__, "_status", str(statements), str(db)], env
        )
        pm = partial(run_process, [*PMCARDS, "--db", str(db), "status"], env)
        row: dict[str, Any] = {"notes": n, "statements": len(json.loads(statements.read_text()))}
        row["floor_vs_pmcards"] = paired(floor, pm, runs)
        anki_db = DATA / f"anki{n}.anki2"
        if anki and anki_db.exists():
            row["floor_vs_anki"] = paired(
                floor, partial(run_process, [*anki_py, "status", str(anki_db)], env), runs
            )
        print(f"status {n}: {row}", file=sys.stderr)
        rows.append(row)
    shutil.rmtree(home, ignore_errors=True)
    return rows


def anki_fit(target: Path) -> None:
    """The process that runs Anki's fit (its peak is read by the caller)."""
    from anki.collection import Collection

    col = Collection(str(target))
    fit = col._backend.compute_fsrs_params(
        search="", current_params=[], ignore_revlogs_before_ms=0, num_of_relearning_steps=1,
        health_check=False,
    )  # fmt: skip
    print(fit.fsrs_items)
    col.close()


def optimizer(notes: int) -> dict[str, Any]:
    from anki_side import copy_log
    from run import collection, run_process

    db = collection(notes, datetime.now(UTC))
    home = Path(tempfile.mkdtemp(prefix="pmcards-floors-"))
    env = dict(os.environ, PMCARDS_HOME=str(home), NO_COLOR="1")
    work = home / "c.sqlite3"
    shutil.copy(db, work)
    answers = copy_log(work, home / "anki.anki2")
    pm_s, pm_mb = run_process([*PMCARDS, "--db", str(work), "optimize", "--json"], env)
    anki_s, anki_mb = run_process(
        [sys.executable, __file__, "_anki_fit", str(home / "anki.anki2")], env
    )
    shutil.rmtree(home, ignore_errors=True)
    return {"notes": notes, "answers": answers, "pmcards": [pm_s, pm_mb], "anki": [anki_s, anki_mb]}


def answers(notes: int, count: int) -> dict[str, Any]:
    """pmcards' answers on one copy, their statements replayed with bare sqlite3 on another."""
    import random

    from fsrs import Rating
    from run import collection
    from sqlalchemy import event

    from pmcards.review import ReviewSession
    from pmcards.store import Store

    source = collection(notes, datetime.now(UTC))
    work = Path(tempfile.mkdtemp(prefix="pmcards-floors-"))
    copies = []
    for name in ("pmcards", "replay"):
        copy = work / f"{name}.sqlite3"
        shutil.copy(source, copy)
        copies.append(copy)
    store = Store(f"sqlite:///{copies[0]}", checkpoint_when_idle=True)
    captured: list[tuple[str, Any]] = []
    event.listen(
        store.engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, parameters, _ctx, _many: captured.append(
            (statement, parameters)
        ),
    )
    session = ReviewSession(store, extra_new=count)
    rng = random.Random(7)
    groups: list[list[tuple[str, Any]]] = []
    pm_times = []
    for _ in range(count):
        shown = session.next_card()
        if shown is None:
            break
        session.idle()
        rating = rng.choices(list(Rating), (10, 15, 65, 10))[0]
        captured.clear()
        start = time.perf_counter()
        session.answer(shown.card_id, rating, 3000)
        pm_times.append(time.perf_counter() - start)
        groups.append(list(captured))
    store.close()
    # The replay: pmcards' pragmas, its statements, a commit per answer, the WAL checkpointed
    # between answers as the review screen does while a card is read.
    conn = sqlite3.connect(copies[1], isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    replay_times = []
    for group in groups:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        start = time.perf_counter()
        for statement, parameters in group:
            conn.execute(statement, parameters).fetchall()
        conn.execute("COMMIT")
        replay_times.append(time.perf_counter() - start)
    conn.close()
    shutil.rmtree(work, ignore_errors=True)
    statements = statistics.median(len(g) for g in groups) if groups else 0

    def p(times: list[float], q: float) -> float:
        ordered = sorted(times)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000 if ordered else 0.0

    return {
        "notes": notes,
        "answers": len(groups),
        "statements_per_answer": statements,
        "pmcards_p50_ms": p(pm_times, 0.5),
        "pmcards_p99_ms": p(pm_times, 0.99),
        "floor_p50_ms": p(replay_times, 0.5),
        "floor_p99_ms": p(replay_times, 0.99),
    }


def report(result: dict[str, Any]) -> str:
    m = result["machine"]
    out = [
        f"### Issue 18: floors: {result['date']}",
        "",
        f"Machine: {m['cores']} cores ({m['cpu']}), Python {m['python']}, SQLite {m['sqlite']}; "
        f"commit {m['commit']}; medians of {result['runs']} runs, in turn (`python "
        "bench/floors.py`).",
        "",
        "| whole process | notes | floor | pmcards | Anki |",
        "|---|---|---|---|---|",
    ]
    rows = [(f"`status` ({row['statements']} statements)", row) for row in result["status"]]
    rows += [("import of new notes (CSV)", row) for row in result["imports"]]
    for what, row in rows:
        fp = row["floor_vs_pmcards"]
        anki = row.get("floor_vs_anki")
        anki_s = f"{anki['b_s'] * 1000:.0f} ms (floor {anki['a_s'] * 1000:.0f})" if anki else "-"
        out.append(
            f"| {what} | {row['notes']:,} | {fp['a_s'] * 1000:.0f} ms "
            f"| {fp['b_s'] * 1000:.0f} ms | {anki_s} |"
        )
    a = result["answers"]
    out += [
        "",
        f"One answer committed, in-process, {a['answers']} answers on {a['notes']:,} notes "
        f"({a['statements_per_answer']} statements an answer, one synced commit):",
        "",
        "| | p50 | p99 |",
        "|---|---|---|",
        f"| pmcards (`ReviewSession.answer`) | {a['pmcards_p50_ms']:.2f} ms "
        f"| {a['pmcards_p99_ms']:.2f} ms |",
        f"| the same statements, bare sqlite3 | {a['floor_p50_ms']:.2f} ms "
        f"| {a['floor_p99_ms']:.2f} ms |",
    ]
    if "optimize" in result:
        o = result["optimize"]
        out += [
            "",
            f"The optimizer, {o['notes']:,} notes, {o['answers']:,} answers, whole process:",
            "",
            "| | time | peak memory |",
            "|---|---|---|",
            f"| `pmcards optimize --json` | {o['pmcards'][0]:.1f} s | {o['pmcards'][1]} MB |",
            f"| Anki's `compute_fsrs_params` (collection opened, fit) | {o['anki'][0]:.1f} s "
            f"| {o['anki'][1]} MB |",
        ]
    return "\n".join(out) + "\n"


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "_floor":
        import_floor(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    if len(sys.argv) == 3 and sys.argv[1] == "_anki_fit":
        anki_fit(Path(sys.argv[2]))
        return
    if len(sys.argv) == 4 and sys.argv[1] == "_status":
        status_floor(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: keep it working")
    parser.add_argument("--no-write", action="store_true", help="print, do not write JSON")
    parser.add_argument("--optimize", action="store_true", help="also the optimizer's memory")
    args = parser.parse_args()
    from run import machine

    try:
        import anki  # noqa: F401

        has_anki = True
    except ImportError:
        has_anki = False
    sizes, notes, count = ([200], 200, 20) if args.tiny else ([10_000, 100_000], 10_000, 400)
    status_sizes = sizes
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "runs": 1 if args.tiny else args.runs,
        "status": status(status_sizes, 1 if args.tiny else args.runs, has_anki and not args.tiny),
        "imports": imports(sizes, 1 if args.tiny else args.runs, has_anki and not args.tiny),
        "answers": answers(notes, count),
    }
    if args.optimize and has_anki:
        result["optimize"] = optimizer(100_000)
    text = report(result)
    print(text)
    if not args.no_write:
        (DATA / "floors.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
