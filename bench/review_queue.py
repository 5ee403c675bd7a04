"""The review queue at 10,000 and 100,000 notes: what issue 12 added to it, in-process.

    python bench/review_queue.py                 # 10,000 and 100,000 notes, 7 runs each
    python bench/review_queue.py --sizes 10000 --runs 3

Measures, on `bench/run.py`'s synthetic collections (plus 24 prompt notes, as the built-in
decks have): the due counts per deck with and without the review scope (prompts left out),
and a session up to its first 50 new cards with `new_order` interleaved and in deck order.
Each pair is measured turn about, so a busy machine slows both alike. Prints a Markdown
table for bench/RESULTS.md. Never used as timed assertions in tests.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import DATA, collection, copy_db  # noqa: E402


def with_prompts(db: Path) -> Path:
    """A copy of the collection with 24 prompt notes (one card each) in deck 1."""
    import json

    out = DATA / f"{db.stem}-prompts.sqlite3"
    copy_db(db, out)
    from pmcards.store import Store

    Store(f"sqlite:///{out}").close()  # migrated to the current schema
    conn = sqlite3.connect(out)
    top = conn.execute("SELECT max(position) FROM notes").fetchone()[0]
    stamp = "2024-01-01 00:00:00.000000"
    for i in range(24):
        fields = json.dumps({"prompt": f"Design {i}.", "rubric": "- a\n- b"})
        note = conn.execute(
            "INSERT INTO notes (guid, deck_id, kind, fields, tags, section, checksum, position,"
            " created_at, updated_at, lint_ignore) VALUES (?, 1, 'prompt', ?, ' ', '', '', ?,"
            " ?, ?, ' ')",
            (f"bench-prompt-{i}", fields, top + i + 1, stamp, stamp),
        ).lastrowid
        conn.execute(
            "INSERT INTO cards (note_id, deck_id, ord, state, due, reps, lapses, suspended)"
            " VALUES (?, 1, 0, 0, ?, 0, 0, 0)",
            (note, stamp),
        )
    conn.commit()
    conn.close()
    return out


def measure(db: Path, runs: int) -> dict[str, float]:
    from pmcards import queries, settings
    from pmcards.clock import study_day
    from pmcards.review import ReviewSession
    from pmcards.store import Store

    url = f"sqlite:///{db}"
    now = datetime.now(UTC)
    times: dict[str, list[float]] = {}

    def timed(name: str, fn: Callable[[], object]) -> None:
        start = time.perf_counter()
        fn()
        times.setdefault(name, []).append((time.perf_counter() - start) * 1000)

    for _ in range(runs):
        store = Store(url)
        with store.read() as conn:
            cfg = settings.load(conn)
            day = study_day(now, cfg.rollover_hour)
            timed("counts, every card", partial(queries.due_counts_by_deck, conn, day, now))
            scope = queries.review_scope(cfg)
            timed(
                "counts, review scope", partial(queries.due_counts_by_deck, conn, day, now, scope)
            )
        for order in ("interleaved", "deck"):
            with store.write() as conn:
                settings.save(conn, "new_order", order)

            def first_new(session_store: Store = store) -> None:
                session = ReviewSession(session_store, extra_new=50)
                with session_store.read() as conn:
                    for _ in range(50):
                        session._next_new(conn, now)

            timed(f"session + 50 new cards, {order}", first_new)
        store.close()
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    now = datetime.now(UTC)
    results = {n: measure(with_prompts(collection(n, now)), args.runs) for n in args.sizes}
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"Machine: {os.cpu_count()} cores ({platform.machine()}), Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}; medians of "
        f"{args.runs} runs; load average at the end {load}.\n"
    )
    names = list(next(iter(results.values())))
    print("| what (in-process) | " + " | ".join(f"{n:,} notes" for n in args.sizes) + " |")
    print("|---|" + "---|" * len(args.sizes))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{results[n][name]:.1f} ms" for n in args.sizes) + " |")


if __name__ == "__main__":
    main()
