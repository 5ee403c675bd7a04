"""Anki's own engine (its Rust backend, through the `anki` package) on the same workloads,
so the ratios are measured in one run rather than quoted. Bench-only: `pip install anki`.

Each size runs in a fresh process (`python anki_side.py N`), which prints JSON: the time to
import anki.collection, to add N notes (Basic and reversed: 2 cards each), to build the
review queue, to compute due counts, one answer including its commit (p50/p99), and the
process's peak memory. Cards are put into review with FSRS memory states by SQL, about 7%
due today, like the pmcards synthetic collections.
"""

from __future__ import annotations

import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _note_requests(col: Any, notes: int) -> tuple[Any, list[Any]]:
    """FSRS on, and `notes` Basic (and reversed) notes to add to deck "Bench": the deck's id
    and the requests (adding them is what `measure` times)."""
    from anki.collection import AddNoteRequest

    col.set_config("fsrs", True)
    model = col.models.by_name("Basic (and reversed card)")
    deck = col.decks.id("Bench")
    assert model is not None and deck is not None and col.db is not None
    requests = []
    for n in range(notes):
        note = col.new_note(model)
        note["Front"] = f"Synthetic situation {n}: the interviewer asks about metric {n % 97}."
        note["Back"] = f"A strong answer {n} that defines failure and the metric first."
        requests.append(AddNoteRequest(note=note, deck_id=deck))
    return deck, requests


def _study(col: Any) -> random.Random:
    """80% of cards studied, FSRS memory in cards.data, ~7% of those due today; the random
    generator, drawn on, for whatever comes next."""
    rng = random.Random(1)
    today = col.sched.today
    rows = []
    for cid in col.db.list("select id from cards"):
        if rng.random() < 0.2:
            continue
        stability = rng.lognormvariate(3.0, 1.2)
        elapsed = rng.uniform(0.5, min(730, stability * 1.08))
        data = json.dumps({"s": round(stability, 2), "d": round(rng.uniform(2, 9), 2), "dr": 0.9})
        rows.append((max(1, round(stability)), today + round(stability - elapsed), data, cid))
    col.db.executemany(
        "update cards set type=2, queue=2, ivl=?, due=?, reps=8, data=? where id=?", rows
    )
    return rng


def measure(notes: int) -> dict[str, float]:
    start = time.perf_counter()
    from anki.collection import Collection
    from anki.scheduler.v3 import Scheduler

    import_s = time.perf_counter() - start
    folder = Path(tempfile.mkdtemp(prefix="anki-bench-"))
    col = Collection(str(folder / "collection.anki2"))
    deck, requests = _note_requests(col, notes)
    start = time.perf_counter()
    col.add_notes(requests)
    add_s = time.perf_counter() - start

    rng = _study(col)
    col.close()

    col = Collection(str(folder / "collection.anki2"))
    col.decks.select(deck)
    assert isinstance(col.sched, Scheduler)
    start = time.perf_counter()
    col.sched.get_queued_cards(fetch_limit=1)
    queue_s = time.perf_counter() - start
    start = time.perf_counter()
    col.sched.deck_due_tree()
    counts_s = time.perf_counter() - start
    answers = []
    for _ in range(200):
        card = col.sched.getCard()
        if card is None:
            break
        start = time.perf_counter()
        col.sched.answerCard(card, rng.choice((1, 2, 3, 3, 3, 4)))
        answers.append(time.perf_counter() - start)
    col.close()
    answers.sort()
    return {
        "import_s": import_s,
        "add_s": add_s,
        "queue_s": queue_s,
        "counts_s": counts_s,
        "answer_p50_ms": answers[len(answers) // 2] * 1000,
        "answer_p99_ms": answers[int(len(answers) * 0.99)] * 1000,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def anki_bench(sizes: list[int], runs: int, ours: dict[str, Any]) -> str:
    """Run Anki's side in fresh processes and return a markdown table beside ours."""
    rows = []
    for n in sizes:
        samples = []
        for _ in range(runs):
            out = subprocess.run(
                [sys.executable, __file__, str(n)], capture_output=True, text=True, check=True
            )
            samples.append(json.loads(out.stdout))
        med = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
        med["peak_mb"] = max(s["peak_mb"] for s in samples)
        mine = ours.get(str(n), {})
        rows.append((n, med, mine))
    lines = [
        "Side by side with Anki's engine (anki "
        + _anki_version()
        + "), in-process, medians; ratio = pmcards / Anki:",
        "",
        "| what | notes | Anki | pmcards | ratio |",
        "|---|---|---|---|---|",
    ]
    for n, med, mine in rows:
        pairs = [
            (
                "one answer incl. commit, p50",
                med["answer_p50_ms"],
                mine.get("answer", {}).get("p50_ms"),
                "ms",
            ),
            (
                "one answer incl. commit, p99",
                med["answer_p99_ms"],
                mine.get("answer", {}).get("p99_ms"),
                "ms",
            ),
            (
                "build the review queue",
                med["queue_s"] * 1000,
                _get(mine, "queue", "median_ms"),
                "ms",
            ),
            ("due counts", med["counts_s"] * 1000, _get(mine, "counts", "median_ms"), "ms"),
            (
                "peak memory of the process",
                med["peak_mb"],
                _get(mine, "first_card", "peak_mb"),
                "MB",
            ),
        ]
        imports = ours.get(f"import_{n}")
        if imports:
            pairs.append(
                (f"add {n:,} notes", med["add_s"] * 1000, imports["median_s"] * 1000, "ms")
            )
        for label, anki, pm, unit in pairs:
            ratio = f"{pm / anki:.1f}x" if pm and anki else "–"
            pm_text = f"{pm:.2f} {unit}" if pm is not None else "–"
            lines.append(f"| {label} | {n:,} | {anki:.2f} {unit} | {pm_text} | {ratio} |")
        lines.append(f"| `import anki.collection` | {n:,} | {med['import_s'] * 1000:.0f} ms | | |")
    lines.append("")
    lines.append(
        "pmcards' queue and count figures are in-process too; its add figure is the whole "
        "`pmcards import` process, so that ratio flatters Anki. pmcards' peak memory is the whole "
        "`pmcards review` process up to the first card."
    )
    return "\n".join(lines)


def _get(mine: dict[str, Any], key: str, field: str) -> float | None:
    value = mine.get(key, {}).get(field)
    return float(value) if value is not None else None


def _anki_version() -> str:
    from importlib.metadata import version

    return version("anki")


def build_collection(notes: int, path: Path) -> Path:
    """An Anki collection of `notes` Basic (and reversed) notes, studied as `measure`'s:
    what `status` and the first card are timed on, beside pmcards' synthetic collection."""
    from anki.collection import Collection

    col = Collection(str(path))
    deck, requests = _note_requests(col, notes)
    col.add_notes(requests)
    _study(col)
    col.decks.select(deck)
    col.close()
    return path


def export_package(collection: Path, out: Path) -> Path:
    """An .apkg of the collection's notes, as Anki writes it (without scheduling)."""
    from anki.collection import Collection
    from anki.import_export_pb2 import ExportAnkiPackageOptions

    col = Collection(str(collection))
    col.export_anki_package(
        out_path=str(out),
        options=ExportAnkiPackageOptions(with_scheduling=False, with_media=False, legacy=False),
        limit=None,
    )
    col.close()
    return out


def copy_log(db: Path, target: Path) -> int:
    """pmcards' review log as an Anki collection's: a Basic note per card, a revlog row per
    answer (Anki's kind from the card's state before it), in the collection at `target` (made
    if missing, left closed). Returns the answers written."""
    import sqlite3
    from datetime import UTC, datetime

    from anki.collection import AddNoteRequest, Collection

    col = Collection(str(target))
    log = (
        sqlite3.connect(db)
        .execute(
            "SELECT card_id, reviewed_at, rating, duration_ms, state_before FROM review_log"
            " ORDER BY reviewed_at"
        )
        .fetchall()
    )
    card_ids = sorted({row[0] for row in log})
    model, deck = col.models.by_name("Basic"), col.decks.id("Bench")
    assert model is not None and deck is not None and col.db is not None
    requests = []
    for n in card_ids:
        note = col.new_note(model)
        note["Front"], note["Back"] = f"Q{n}", f"A{n}"
        requests.append(AddNoteRequest(note=note, deck_id=deck))
    col.add_notes(requests)
    anki_cards = dict(zip(card_ids, col.db.list("select id from cards order by id"), strict=True))
    used: set[int] = set()
    rows = []
    for card_id, when, rating, duration, state in log:
        rid = int(
            datetime.strptime(when, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC).timestamp() * 1000
        )
        while rid in used:
            rid += 1
        used.add(rid)
        kind = {0: 0, 1: 0, 2: 1, 3: 2}[state]
        rows.append((rid, anki_cards[card_id], -1, rating, 1, 0, 2500, duration or 0, kind))
    col.db.executemany(
        "insert into revlog (id, cid, usn, ease, ivl, lastIvl, factor, time, type)"
        " values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    col.close()
    return len(rows)


def command(args: list[str]) -> None:
    """One whole-process task, timed from outside like the pmcards command beside it."""
    from anki.collection import Collection

    what, path = args[0], args[1]
    col = Collection(path)
    try:
        if what == "status":  # the decks' due counts, as `pmcards status` prints them
            tree = col.sched.deck_due_tree()
            print(tree.review_count, tree.learn_count, tree.new_count)
        elif what == "first":  # the first card's question, as `pmcards review` shows it
            from anki.cards import Card
            from anki.scheduler.v3 import Scheduler

            assert isinstance(col.sched, Scheduler)
            queued = col.sched.get_queued_cards(fetch_limit=1)
            card = Card(col, backend_card=queued.cards[0].card)
            print(card.question()[:80])
        elif what == "csv":
            from anki.collection import ImportCsvRequest

            metadata = col.get_csv_metadata(path=args[2], delimiter=None)
            log = col.import_csv(ImportCsvRequest(path=args[2], metadata=metadata)).log
            print(len(log.new), len(log.updated), len(log.duplicate))
        elif what == "apkg":
            from anki.import_export_pb2 import ImportAnkiPackageOptions, ImportAnkiPackageRequest

            request = ImportAnkiPackageRequest(
                package_path=args[2], options=ImportAnkiPackageOptions(with_scheduling=True)
            )
            log = col.import_anki_package(request).log
            print(len(log.new), len(log.updated), len(log.duplicate))
        else:
            raise SystemExit(f"unknown task {what!r}")
    finally:
        col.close()


if __name__ == "__main__":
    if sys.argv[1].isdigit():
        print(json.dumps(measure(int(sys.argv[1]))))
    elif sys.argv[1] == "build":  # build N PATH
        build_collection(int(sys.argv[2]), Path(sys.argv[3]))
    elif sys.argv[1] == "export":  # export COLLECTION OUT.apkg
        export_package(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        command(sys.argv[1:])
