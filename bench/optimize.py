"""Benchmark of `pmcards optimize` (issue 20): whole-process time on collections with 10,000
and 100,000 reviews, where the time goes, and Anki's engine on the same review log.

    python bench/optimize.py                    # 10,000 and 100,000 reviews, 5 runs each
    python bench/optimize.py --anki             # also fit and score with Anki (needs `anki`)
    python bench/optimize.py --tiny --no-write  # CI: keep the script working, time nothing

The collections are synthesised: a learner studies with py-fsrs (default parameters, the
default 1m 10m learning and 10m relearning steps, fuzz on) while their recall follows FSRS
with other parameters (TRUE_PARAMETERS), so there is something to fit. A card's reviews fall
on its due day at a random hour (a fifth of them one to five days late), learning steps
minutes apart; about nine answers a card over a year. The log is written straight into the
schema pmcards' migrations create; everything timed goes through pmcards' real code.
Never a timed assertion: figures go to RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
PMCARDS = [sys.executable, "-m", "pmcards"]
TIME = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
FMT = "%Y-%m-%d %H:%M:%S.%f"
# The simulated learner's real memory: stronger than FSRS's defaults assume.
TRUE_PARAMETERS = (
    0.6, 2.4, 5.5, 15.0, 6.0, 0.7, 2.5, 0.01, 2.2, 0.12, 0.9,
    1.3, 0.08, 0.3, 1.7, 0.5, 2.0, 0.5, 0.1, 0.06, 0.2,
)  # fmt: skip


def _stage_ms(stage: str, r: dict[str, Any]) -> str:
    return f"{r['stages'][stage] * 1000:.0f} ms"


def ts(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).strftime(FMT)


def learn(reviews: int, now: datetime, seed: int) -> list[list[tuple[Any, ...]]]:
    """Each card's answers: (time, rating, duration ms, card before, card after), py-fsrs
    cards, in time order; cards are added until the log holds `reviews` answers."""
    from fsrs import Card, Rating, Scheduler, State

    rng = random.Random(seed)
    app = Scheduler()  # py-fsrs defaults, as pmcards' defaults
    truth = Scheduler(parameters=TRUE_PARAMETERS, enable_fuzzing=False)
    span = 365
    cards: list[list[tuple[Any, ...]]] = []
    total = 0
    while total < reviews:
        day = rng.randrange(span)
        when = now - timedelta(days=span - day) + timedelta(hours=rng.uniform(7, 23))
        card, real = Card(card_id=len(cards) + 1), Card(card_id=len(cards) + 1)
        history: list[tuple[Any, ...]] = []
        first = True
        while when < now and total < reviews:
            if first:
                rating = rng.choices((1, 2, 3, 4), (25, 10, 50, 15))[0]
            elif card.state in (State.Learning, State.Relearning):
                rating = rng.choices((1, 2, 3, 4), (15, 10, 70, 5))[0]
            else:
                recalled = rng.random() < truth.get_card_retrievability(real, when)
                rating = rng.choices((2, 3, 4), (15, 75, 10))[0] if recalled else 1
            after, _ = app.review_card(card, Rating(rating), when)
            real, _ = truth.review_card(real, Rating(rating), when)
            history.append((when, rating, rng.randint(2000, 30000), card, after, first))
            total += 1
            card, first = after, False
            if card.due - when < timedelta(hours=12):
                when = card.due + timedelta(seconds=rng.uniform(5, 300))
            else:
                late = rng.randint(1, 5) if rng.random() < 0.2 else 0
                due_day = card.due.replace(hour=0, minute=0, second=0, microsecond=0)
                when = due_day + timedelta(days=late, hours=rng.uniform(6, 24))
                when = max(when, card.due)
        cards.append(history)
    return cards


def build(path: Path, reviews: int, now: datetime, seed: int = 1) -> dict[str, int]:
    """A pmcards collection holding the learner's log; returns its counts."""
    from pmcards.store import Store

    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    Store(f"sqlite:///{path}").close()  # the real schema, by the real migrations
    cards = learn(reviews, now, seed)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")
    created = ts(now - timedelta(days=400))
    conn.execute(
        "INSERT INTO decks (id, name, description, created_at) VALUES (1, 'B', '', ?)", (created,)
    )
    conn.execute("INSERT INTO settings (key, value) VALUES ('builtin_decks_imported', 'true')")
    notes, card_rows, logs = [], [], []
    for n, history in enumerate(cards, start=1):
        fields = json.dumps({"front": f"Question {n}?", "back": f"Answer {n}."})
        notes.append(
            (n, f"opt-{n:07d}", 1, "qa", fields, " t ", "", f"{n:064x}", n, created, created)
        )
        last = history[-1][4]
        card_rows.append(
            (n, n, 1, 0, int(last.state), last.step, last.stability, last.difficulty,
             ts(last.due), ts(last.last_review), len(history), 0, 0, None)
        )  # fmt: skip
        for reps, (when, rating, duration, before, after, first) in enumerate(history):
            logs.append(
                (n, rating, ts(when), duration, "review", 0 if first else int(before.state),
                 None if first else before.step, before.stability, before.difficulty,
                 ts(before.due), ts(before.last_review) if before.last_review else None, reps, 0,
                 int(after.state), after.step, after.stability, after.difficulty, ts(after.due), 0)
            )  # fmt: skip
    conn.executemany(
        "INSERT INTO notes (id, guid, deck_id, kind, fields, tags, section, checksum, position,"
        " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        notes,
    )
    conn.executemany(
        "INSERT INTO cards (id, note_id, deck_id, ord, state, step, stability, difficulty, due,"
        " last_review, reps, lapses, suspended, buried_until) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        card_rows,
    )
    conn.executemany(
        "INSERT INTO review_log (card_id, rating, reviewed_at, duration_ms, source, state_before,"
        " step_before, stability_before, difficulty_before, due_before, last_review_before,"
        " reps_before, lapses_before, state_after, step_after, stability_after, difficulty_after,"
        " due_after, leeched) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        logs,
    )
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return {"cards": len(cards), "reviews": len(logs)}


def collection(reviews: int, now: datetime) -> tuple[Path, dict[str, int]]:
    """The synthetic collection for a size, rebuilt when missing or made on another day."""
    DATA.mkdir(exist_ok=True)
    path = DATA / f"opt{reviews}.sqlite3"
    stamp = path.with_suffix(".json")
    meta = {"date": now.date().isoformat(), "script": Path(__file__).stat().st_mtime}
    if path.exists() and stamp.exists():
        saved = json.loads(stamp.read_text())
        if {k: saved.get(k) for k in meta} == meta:
            return path, saved["counts"]
    print(f"building a collection with {reviews:,} reviews...", file=sys.stderr)
    counts = build(path, reviews, now)
    stamp.write_text(json.dumps({**meta, "counts": counts}))
    return path, counts


def run_process(args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Wall time (s), peak RSS (MB, GNU time's %M) and stdout of one whole process."""
    fd, report = tempfile.mkstemp(prefix="pmcards-time-")
    os.close(fd)
    wrapped = [TIME, "-f", "%M", "-o", report, *args] if TIME else args
    start = time.perf_counter()
    proc = subprocess.run(wrapped, env=env, capture_output=True, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.decode()}")
    text = Path(report).read_text().strip().splitlines()
    os.unlink(report)
    peak = int(text[-1]) // 1024 if TIME and text else -1
    return elapsed, peak, proc.stdout.decode()


def copy_db(src: Path, dest: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(dest) + suffix).unlink(missing_ok=True)
    with sqlite3.connect(src) as a, sqlite3.connect(dest) as b:
        a.backup(b)


def stages(db: Path, now: datetime) -> dict[str, float]:
    """In-process: where `pmcards optimize` spends its time (seconds, one run)."""
    from pmcards import fsrs_items
    from pmcards import optimize as opt
    from pmcards import settings as settings_mod
    from pmcards.store import Store

    out: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        value = fn()
        out[name] = time.perf_counter() - start
        return value

    store = Store(f"sqlite:///{db}")
    with store.read() as conn:
        config = settings_mod.load(conn)
        answers = timed("read the log", lambda: opt.load_answers(conn))
    store.close()
    next_day = opt.next_day_start(config, now)
    training = timed("build Anki's items", lambda: fsrs_items.training_set(answers, next_day))
    items, card_ids = timed("make fsrs-rs items", lambda: opt._fsrs_rs_items(training))
    current = config.fsrs_parameters()
    raw = timed("fit (fsrs-rs), scored", lambda: opt.fit_parameters(items, card_ids, current, 1))
    fitted = raw[0]
    costs = timed("costs from the log", lambda: fsrs_items.user_costs(answers, next_day))
    sim = opt.SimulatorSettings.of(config, training.cards, costs, opt.HORIZON_DAYS)
    best = timed("recommended retention", lambda: opt.optimal_retention(fitted, sim))
    timed(
        "workload at both",
        lambda: (opt.workload(fitted, 0.9, sim), opt.workload(fitted, best or 0.9, sim)),
    )
    histories = timed("histories to replay", lambda: opt.replay_histories(answers, next_day))
    out["items"] = len(items)
    out["_histories"] = len(histories)
    return out


def replay_check(db: Path, now: datetime, cards: int) -> dict[str, float]:
    """py-fsrs's replay (what --apply runs) against fsrs-rs's historical_memory_state_batch
    on the same answers and the same elapsed days: speed, and the largest difference."""
    import fsrs_rs_python as rs

    from pmcards import optimize as opt
    from pmcards import scheduling
    from pmcards import settings as settings_mod
    from pmcards.store import Store

    store = Store(f"sqlite:///{db}")
    with store.read() as conn:
        config = settings_mod.load(conn)
        histories = opt.replay_histories(opt.load_answers(conn), opt.next_day_start(config, now))
    store.close()
    chosen = list(histories.values())[:cards]
    start = time.perf_counter()
    ours = [scheduling.replay(config, h)[-1][1] for h in chosen]
    py_s = time.perf_counter() - start
    start = time.perf_counter()
    # py-fsrs counts elapsed days as whole 24-hour periods since the previous answer.
    items = [
        rs.FSRSItem(
            [
                rs.FSRSReview(r, 0 if i == 0 else (w - h[i - 1][0]).days)
                for i, (w, r) in enumerate(h)
            ]
        )
        for h in chosen
    ]
    theirs = rs.FSRS(list(config.fsrs_parameters())).memory_state_batch(items)
    rs_s = time.perf_counter() - start
    worst = max(
        max(abs(a.stability - b.stability) / a.stability, abs(a.difficulty - b.difficulty) / 10)
        for a, b in zip(ours, theirs, strict=True)
        if a.stability is not None and a.difficulty is not None
    )
    return {"cards": len(chosen), "py_fsrs_s": py_s, "fsrs_rs_s": rs_s, "worst_relative": worst}


def anki_side(db: Path, now: datetime) -> dict[str, float]:
    """The same log in an Anki collection: Anki's fit, and Anki's evaluator on its fit and
    on pmcards'. Revlog rows by SQL (Anki's kind from the card's state before each answer)."""
    from anki.collection import Collection
    from anki_side import copy_log

    from pmcards import optimize as opt
    from pmcards.store import Store

    folder = Path(tempfile.mkdtemp(prefix="pmcards-anki-"))
    copy_log(db, folder / "collection.anki2")
    col = Collection(str(folder / "collection.anki2"))
    start = time.perf_counter()
    fit = col._backend.compute_fsrs_params(
        search="", current_params=[], ignore_revlogs_before_ms=0, num_of_relearning_steps=1,
        health_check=False,
    )  # fmt: skip
    anki_s = time.perf_counter() - start

    def score(params: list[float]) -> Any:
        return col._backend.evaluate_params_legacy(
            params=params, search="", ignore_revlogs_before_ms=0
        )

    store = Store(f"sqlite:///{db}")
    with store.read() as conn:
        ours = opt.fit(conn, now)
    store.close()
    theirs, mine = score(list(fit.params)), score(list(ours.fitted))
    default = score(list(ours.current))
    col.close()
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "anki_items": fit.fsrs_items,
        "pmcards_items": ours.items,
        "anki_fit_s": anki_s,
        "default_log_loss": default.log_loss,
        "default_rmse": default.rmse_bins,
        "anki_log_loss": theirs.log_loss,
        "anki_rmse": theirs.rmse_bins,
        "pmcards_log_loss": mine.log_loss,
        "pmcards_rmse": mine.rmse_bins,
        "pmcards_own_log_loss": ours.fitted_score.log_loss,
        "pmcards_own_rmse": ours.fitted_score.rmse_bins,
    }


def bench(sizes: list[int], runs: int, anki: bool) -> dict[str, Any]:
    now = datetime.now(UTC)
    home = Path(tempfile.mkdtemp(prefix="pmcards-bench-"))
    env = {**os.environ, "PMCARDS_HOME": str(home / "home")}
    results: dict[str, Any] = {}
    for size in sizes:
        db, counts = collection(size, now)
        work = home / f"opt{size}.sqlite3"
        copy_db(db, work)
        args = [*PMCARDS, "--db", str(work), "optimize"]
        run_process(args, env)  # warm the OS file cache; not counted
        plain = [run_process(args, env) for _ in range(runs)]
        applied = []
        for _ in range(runs):
            copy_db(db, work)
            applied.append(run_process([*args, "--apply", "--keep-retention"], env))
        copy_db(db, work)
        report = json.loads(run_process([*args, "--json"], env)[2])
        entry: dict[str, Any] = {
            **counts,
            "items": report["items"],
            "median_s": statistics.median(t for t, _, _ in plain),
            "runs_s": [round(t, 3) for t, _, _ in plain],
            "peak_mb": max(m for _, m, _ in plain),
            "apply_median_s": statistics.median(t for t, _, _ in applied),
            "apply_peak_mb": max(m for _, m, _ in applied),
            "log_loss": report["evaluation"],
            "retention": report["desired_retention"],
            "stages": stages(work, now),
            "replay": replay_check(work, now, 2000),
        }
        if anki:
            entry["anki"] = anki_side(work, now)
        results[str(size)] = entry
        print(json.dumps({size: entry}, indent=1), file=sys.stderr)
    shutil.rmtree(home, ignore_errors=True)
    return results


def machine() -> dict[str, str]:
    commit = subprocess.run(
        ["git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(HERE.parent), "status", "--porcelain", "pmcards"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    from importlib.metadata import version

    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": str(os.cpu_count()),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "fsrs_rs": version("fsrs-rs-python"),
        "load": " / ".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def report(results: dict[str, Any], runs: int, label: str) -> str:
    info = machine()
    sizes = list(results)
    head = "| what | " + " | ".join(f"{int(s):,} reviews" for s in sizes) + " | target |"
    lines = [
        f"### {label or '`pmcards optimize` on fsrs-rs'}: {info['date']}",
        "",
        f"Made by `python bench/optimize.py`. Machine: {info['cores']} cores ({info['cpu']}), "
        f"Python {info['python']}, fsrs-rs-python {info['fsrs_rs']}; commit {info['commit']}; "
        f"whole-process medians of {runs} runs (peak memory: GNU time's `%M`); load average "
        f"at the end {info['load']} (1/5/15 min: other work on the machine). Synthetic logs "
        "(see the script's docstring).",
        "",
        head,
        "|---|" + "---|" * len(sizes) + "---|",
    ]

    def row(name: str, fn: Callable[[dict[str, Any]], str], target: str = "") -> None:
        lines.append(f"| {name} | " + " | ".join(fn(results[s]) for s in sizes) + f" | {target} |")

    row(
        "cards / answers / training items",
        lambda r: f"{r['cards']:,} / {r['reviews']:,} / {r['items']:,}",
    )
    row(
        "`pmcards optimize` (whole process)",
        lambda r: f"{r['median_s']:.2f} s, {r['peak_mb']} MB",
        "< 2 s at 10k, < 10 s at 100k",
    )
    row(
        "`pmcards optimize --apply --keep-retention`",
        lambda r: f"{r['apply_median_s']:.2f} s, {r['apply_peak_mb']} MB",
    )
    for stage in (
        "read the log",
        "build Anki's items",
        "make fsrs-rs items",
        "fit (fsrs-rs), scored",
        "costs from the log",
        "recommended retention",
        "workload at both",
        "histories to replay",
    ):
        row(f"  in-process: {stage}", partial(_stage_ms, stage))
    row(
        "log loss / RMSE (bins), default parameters",
        lambda r: (
            f"{r['log_loss']['current']['log_loss']:.4f} / "
            f"{r['log_loss']['current']['rmse_bins']:.4f}"
        ),
    )
    row(
        "log loss / RMSE (bins), fitted",
        lambda r: (
            f"{r['log_loss']['fitted']['log_loss']:.4f} / "
            f"{r['log_loss']['fitted']['rmse_bins']:.4f}"
        ),
    )
    row(
        "recommended retention",
        lambda r: f"{r['retention']['recommended']}",
    )
    row(
        "replay of 2,000 cards: py-fsrs / fsrs-rs, worst relative difference",
        lambda r: (
            f"{r['replay']['py_fsrs_s'] * 1000:.0f} ms / {r['replay']['fsrs_rs_s'] * 1000:.0f} ms, "
            f"{r['replay']['worst_relative']:.1e}"
        ),
    )
    if all("anki" in results[s] for s in sizes):
        row("Anki: training items", lambda r: f"{r['anki']['anki_items']:,}")
        row("Anki: its fit (in-process)", lambda r: f"{r['anki']['anki_fit_s']:.2f} s")
        row(
            "Anki's evaluator on Anki's fit: log loss / RMSE",
            lambda r: f"{r['anki']['anki_log_loss']:.4f} / {r['anki']['anki_rmse']:.4f}",
        )
        row(
            "Anki's evaluator on pmcards' fit: log loss / RMSE",
            lambda r: f"{r['anki']['pmcards_log_loss']:.4f} / {r['anki']['pmcards_rmse']:.4f}",
            "within 0.001 of Anki's",
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000", help="reviews per collection")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--anki", action="store_true", help="also run Anki's engine (`anki`)")
    parser.add_argument(
        "--tiny", action="store_true", help="one tiny run: keeps the script working"
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print only; leave RESULTS.md alone"
    )
    parser.add_argument("--label", default="", help="a heading for this run in RESULTS.md")
    args = parser.parse_args()
    if args.tiny:
        sizes, runs = [1500], 1
    else:
        sizes, runs = [int(s) for s in args.sizes.split(",") if s], args.runs
    results = bench(sizes, runs, args.anki)
    text = report(results, runs, args.label)
    print(text)
    if not args.no_write:
        path = HERE / "RESULTS.md"
        old = path.read_text(encoding="utf-8").rstrip("\n")
        path.write_text(old + "\n\n" + text, encoding="utf-8")
        print(f"appended to {path}")


if __name__ == "__main__":
    main()
