"""pmcards benchmark suite: builds synthetic collections, measures real commands, writes RESULTS.md.

    python bench/run.py                      # 10,000 and 100,000 notes, 5 runs each
    python bench/run.py --sizes 10000 --runs 7
    python bench/run.py --tiny --no-write    # CI: keep the script working, time nothing
    python bench/run.py --anki               # also run Anki's engine side by side
    python bench/run.py --scale 1000000      # status and the first card at 100k and 1M

Whole-process figures run the installed `pmcards` command; "in-process" ones call the
library. Peak memory is each process's maximum resident set (wait4's ru_maxrss).
Never used as timed assertions in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from synth import build, build_sql, write_deck_file, write_qa_deck  # noqa: E402

DATA = HERE / "data"
PMCARDS = [sys.executable, "-m", "pmcards"]
if (
    shutil.which("pmcards")
    and Path(shutil.which("pmcards") or "").parent == Path(sys.executable).parent
):
    PMCARDS = [str(Path(sys.executable).parent / "pmcards")]


def compile_bytecode() -> None:
    """Compile pmcards' modules as `pip install .` does for a user. An editable install
    (the one the tests use) leaves them to be compiled on first import, and with
    PYTHONDONTWRITEBYTECODE set (as on CI machines) on every import: 0.15 to 0.2 s of each
    whole-process figure that no user pays."""
    import compileall

    import pmcards

    compileall.compile_dir(Path(pmcards.__file__).parent, quiet=1)


TIME = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)


def run_process(
    args: list[str], env: dict[str, str], stdin: bytes | None = None
) -> tuple[float, int]:
    """Wall time (s) and peak RSS (MB) of one whole process.

    Peak memory comes from GNU time's %M: a child forked straight from this (large) Python
    process would report this process's memory as its own peak.
    """
    fd, report = tempfile.mkstemp(prefix="pmcards-time-")
    os.close(fd)
    wrapped = [TIME, "-f", "%M", "-o", report, *args] if TIME else args
    start = time.perf_counter()
    proc = subprocess.run(
        wrapped,
        env=env,
        input=stdin,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.decode()}")
    text = Path(report).read_text().strip().splitlines()
    os.unlink(report)
    peak = int(text[-1]) // 1024 if TIME and text else -1
    return elapsed, peak


def first_card_time(env: dict[str, str]) -> tuple[float, int]:
    """From starting `pmcards review` to the first card's front on screen."""
    start = time.perf_counter()
    fd, report = tempfile.mkstemp(prefix="pmcards-time-")
    os.close(fd)
    wrapped = [TIME, "-f", "%M", "-o", report] if TIME else []
    proc = subprocess.Popen(
        [*wrapped, *PMCARDS, "review"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None and proc.stdin is not None
    seen = b""
    while b"show answer" not in seen:
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            raise RuntimeError("review ended before showing a card")
        seen += chunk
    elapsed = time.perf_counter() - start
    proc.stdin.write(b"q")
    proc.stdin.close()
    proc.stdout.read()
    proc.wait()
    text = Path(report).read_text().strip().splitlines()
    os.unlink(report)
    return elapsed, int(text[-1]) // 1024 if TIME and text else -1


def median_of(fn: Any, runs: int) -> dict[str, float]:
    times, mems = [], []
    for _ in range(runs):
        t, m = fn()
        times.append(t)
        mems.append(m)
    return {"median_s": statistics.median(times), "peak_mb": max(mems), "runs": runs}


def answer_latency(db: Path, answers: int) -> dict[str, float]:
    """In-process: key press to committed answer (ReviewSession.answer), p50 and p99."""
    import random

    from fsrs import Rating

    from pmcards.review import ReviewSession
    from pmcards.store import Store

    work = db.with_name(db.stem + "-answers.sqlite3")
    copy_db(db, work)
    # As `pmcards review` opens it: the WAL is checkpointed while a card is on screen.
    store = Store(f"sqlite:///{work}", checkpoint_when_idle=True)
    session = ReviewSession(store, extra_new=answers)
    rng = random.Random(7)
    times = []
    for _ in range(answers):
        shown = session.next_card()
        if shown is None:
            break
        session.idle()  # what the terminal session does while the card is read
        rating = rng.choices(list(Rating), (10, 15, 65, 10))[0]
        start = time.perf_counter()
        session.answer(shown.card_id, rating, 3000)
        times.append(time.perf_counter() - start)
    store.close()
    times.sort()
    return {
        "p50_ms": times[len(times) // 2] * 1000,
        "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))] * 1000,
        "answers": len(times),
    }


def queue_and_counts(db: Path, runs: int) -> tuple[dict[str, float], dict[str, float]]:
    """In-process: building the review queue (a session up to its first card) and the
    collection's due counts, each on a freshly opened store."""
    from pmcards import queries
    from pmcards.clock import now_utc, study_day
    from pmcards.review import ReviewSession
    from pmcards.store import Store

    build, counts = [], []
    for _ in range(runs):
        store = Store(f"sqlite:///{db}")
        start = time.perf_counter()
        session = ReviewSession(store)
        session.next_card()
        build.append(time.perf_counter() - start)
        now = now_utc()
        day = study_day(now, session.settings.rollover_hour)
        start = time.perf_counter()
        with store.read() as s:
            queries.due_counts_by_deck(s, day, now)
        counts.append(time.perf_counter() - start)
        store.close()
    return (
        {"median_ms": statistics.median(build) * 1000},
        {"median_ms": statistics.median(counts) * 1000},
    )


def copy_db(src: Path, dest: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(dest) + suffix).unlink(missing_ok=True)
    with sqlite3.connect(src) as a, sqlite3.connect(dest) as b:
        a.backup(b)


def fresh_db(path: Path) -> Path:
    """A collection with pmcards' schema (made by its migrations) and nothing in it."""
    from pmcards import settings
    from pmcards.store import Store

    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    store = Store(f"sqlite:///{path}")
    with store.write() as session:
        settings.save(session, "builtin_decks_imported", True)
    store.close()
    return path


def collection(notes: int, now: datetime) -> Path:
    DATA.mkdir(exist_ok=True)
    path = DATA / f"c{notes}.sqlite3"
    stamp = path.with_suffix(".json")
    meta = {
        "notes": notes,
        "date": now.date().isoformat(),
        "synth": (HERE / "synth.py").stat().st_mtime,
    }
    if path.exists() and stamp.exists() and json.loads(stamp.read_text()) == meta:
        return path
    print(f"building a {notes:,}-note collection...", file=sys.stderr)
    build(path, notes, now)
    stamp.write_text(json.dumps(meta))
    return path


def bench(sizes: list[int], runs: int, answers: int, import_sizes: list[int]) -> dict[str, Any]:
    now = datetime.now(UTC)
    home = Path(tempfile.mkdtemp(prefix="pmcards-bench-"))
    base_env = dict(os.environ, PMCARDS_HOME=str(home), NO_COLOR="1")
    base_env.pop("PMCARDS_DB", None)
    results: dict[str, Any] = {
        "help": median_of(lambda: run_process([*PMCARDS, "--help"], base_env), runs)
    }
    for n in sizes:
        db = collection(n, now)
        env = dict(base_env, PMCARDS_DB=str(db))
        row: dict[str, Any] = {}
        row["status"] = median_of(partial(run_process, [*PMCARDS, "status"], env), runs)
        row["first_card"] = median_of(partial(first_card_time, env), runs)
        row["answer"] = answer_latency(db, answers)
        row["queue"], row["counts"] = queue_and_counts(db, runs)
        if n <= 20_000:
            out = home / "sheet.html"
            export = [*PMCARDS, "export", "html", "-o", str(out)]
            row["export_html"] = median_of(partial(run_process, export, env), runs)
        results[f"{n}"] = row
    for n in import_sizes:
        deck = write_deck_file(home / f"deck{n}.toml", n)
        target = home / f"import{n}.sqlite3"
        env = dict(base_env, PMCARDS_DB=str(target))
        first, again = [], []
        for _ in range(runs if n <= 20_000 else max(1, runs // 2)):
            fresh_db(target)
            first.append(run_process([*PMCARDS, "import", str(deck)], env))
            again.append(run_process([*PMCARDS, "import", str(deck)], env))
        results[f"import_{n}"] = {
            "median_s": statistics.median(t for t, _ in first),
            "peak_mb": max(m for _, m in first),
            "reimport_median_s": statistics.median(t for t, _ in again),
            "reimport_peak_mb": max(m for _, m in again),
        }
    shutil.rmtree(home, ignore_errors=True)
    return results


def paired(a: Any, b: Any, runs: int, setup_a: Any = None, setup_b: Any = None) -> dict[str, float]:
    """Two whole-process tasks in turn, A B A B ..., so that both see the same machine: the
    medians of each, the median of the pairs' ratios A/B, and each one's peak memory."""
    ta, tb, ma, mb, ratios = [], [], [], [], []
    for _ in range(runs):
        if setup_a:
            setup_a()
        t1, m1 = a()
        if setup_b:
            setup_b()
        t2, m2 = b()
        ta.append(t1)
        tb.append(t2)
        ma.append(m1)
        mb.append(m2)
        ratios.append(t1 / t2)
    return {
        "a_s": statistics.median(ta),
        "b_s": statistics.median(tb),
        "ratio": statistics.median(ratios),
        "a_mb": max(ma),
        "b_mb": max(mb),
    }


def side_by_side(sizes: list[int], import_sizes: list[int], runs: int) -> list[dict[str, Any]]:
    """pmcards and Anki's engine, whole process, the same work in turn: `status`, review
    start to the first card, imports of new notes in each format, re-import unchanged."""
    anki_py = [sys.executable, str(HERE / "anki_side.py")]
    now = datetime.now(UTC)
    home = Path(tempfile.mkdtemp(prefix="pmcards-side-"))
    base_env = dict(os.environ, PMCARDS_HOME=str(home), NO_COLOR="1")
    rows: list[dict[str, Any]] = []

    def row(what: str, n: int, result: dict[str, float]) -> None:
        rows.append({"what": what, "notes": n, **result})
        print(f"{what} {n}: {result}", file=sys.stderr)

    for n in sizes:
        db = collection(n, now)
        anki = DATA / f"anki{n}.anki2"
        if not anki.exists():
            print(f"building a {n:,}-note Anki collection...", file=sys.stderr)
            subprocess.run([*anki_py, "build", str(n), str(anki)], check=True)
        env = dict(base_env, PMCARDS_DB=str(db))
        row(
            "`status`",
            n,
            paired(
                partial(run_process, [*PMCARDS, "status"], env),
                partial(run_process, [*anki_py, "status", str(anki)], base_env),
                runs,
            ),
        )
        row(
            "review start to the first card",
            n,
            paired(
                partial(first_card_time, env),
                partial(run_process, [*anki_py, "first", str(anki)], base_env),
                runs,
            ),
        )
    empty_anki = home / "empty.anki2"
    subprocess.run([*anki_py, "status", str(empty_anki)], check=True, capture_output=True)
    for n in import_sizes:
        target = home / f"import{n}.sqlite3"
        anki_target = home / f"import{n}.anki2"
        env = dict(base_env, PMCARDS_DB=str(target))

        def fresh_anki(target: Path = anki_target) -> None:
            for suffix in ("", "-wal"):
                Path(str(target) + suffix).unlink(missing_ok=True)
            shutil.copy(empty_anki, target)

        csv_deck = write_qa_deck(home / f"qa{n}.csv", n, "csv")
        anki_csv = partial(
            run_process, [*anki_py, "csv", str(anki_target), str(csv_deck)], base_env
        )
        for fmt in ("csv", "toml", "md"):
            deck = write_qa_deck(home / f"qa{n}.{fmt}", n, fmt)
            row(
                f"import new notes: {fmt.upper()} (Anki: the CSV)",
                n,
                paired(
                    partial(run_process, [*PMCARDS, "import", str(deck)], env),
                    anki_csv,
                    runs,
                    setup_a=partial(fresh_db, target),
                    setup_b=fresh_anki,
                ),
            )
        row(
            "re-import unchanged: CSV",
            n,
            paired(
                partial(run_process, [*PMCARDS, "import", str(csv_deck)], env),
                anki_csv,
                runs,
            ),
        )
        source = home / f"source{n}.anki2"
        package = home / f"qa{n}.apkg"
        subprocess.run([*anki_py, "build", str(n), str(source)], check=True)
        subprocess.run([*anki_py, "export", str(source), str(package)], check=True)
        row(
            "import new notes: .apkg (both the package Anki wrote)",
            n,
            paired(
                partial(run_process, [*PMCARDS, "import", str(package)], env),
                partial(run_process, [*anki_py, "apkg", str(anki_target), str(package)], base_env),
                runs,
                setup_a=partial(fresh_db, target),
                setup_b=fresh_anki,
            ),
        )
    shutil.rmtree(home, ignore_errors=True)
    return rows


def side_by_side_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| what (whole process) | notes | pmcards | Anki | ratio | peak MB pmcards / Anki |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['what']} | {r['notes']:,} | {r['a_s'] * 1000:.0f} ms | "
            f"{r['b_s'] * 1000:.0f} ms | {r['ratio']:.2f}x | {r['a_mb']} / {r['b_mb']} |"
        )
    return "\n".join(lines)


def scaling(sizes: list[int], runs: int) -> str:
    """`status` and the first card at each size, on collections made by `build_sql`,
    measured in turn (size after size within each run)."""
    now = datetime.now(UTC)
    home = Path(tempfile.mkdtemp(prefix="pmcards-scale-"))
    base_env = dict(os.environ, PMCARDS_HOME=str(home), NO_COLOR="1")
    dbs = {}
    for n in sizes:
        DATA.mkdir(exist_ok=True)
        path = DATA / f"s{n}.sqlite3"
        stamp = path.with_suffix(".json")
        meta = {"notes": n, "date": now.date().isoformat()}
        if not (path.exists() and stamp.exists() and json.loads(stamp.read_text()) == meta):
            print(f"building a {n:,}-note collection in SQL...", file=sys.stderr)
            build_sql(path, n, now)
            stamp.write_text(json.dumps(meta))
        dbs[n] = path
    status: dict[int, list[tuple[float, int]]] = {n: [] for n in sizes}
    first: dict[int, list[tuple[float, int]]] = {n: [] for n in sizes}
    for _ in range(runs):
        for n in sizes:
            env = dict(base_env, PMCARDS_DB=str(dbs[n]))
            status[n].append(run_process([*PMCARDS, "status"], env))
            first[n].append(first_card_time(env))
    shutil.rmtree(home, ignore_errors=True)
    lines = [
        "| what (whole process) | " + " | ".join(f"{n:,} notes" for n in sizes) + " | ratio |",
        "|---|" + "---|" * (len(sizes) + 1),
    ]
    for label, figures in (("`pmcards status`", status), ("review start to first card", first)):
        med = {n: statistics.median(t for t, _ in figures[n]) for n in sizes}
        cells = [f"{med[n] * 1000:.0f} ms, {max(m for _, m in figures[n])} MB" for n in sizes]
        ratio = med[sizes[-1]] / med[sizes[0]]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {ratio:.2f}x |")
    return "\n".join(lines)


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
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": str(os.cpu_count()),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
    }


def table(results: dict[str, Any], sizes: list[int], import_sizes: list[int]) -> str:
    def ms(x: float) -> str:
        return f"{x * 1000:.0f} ms"

    lines = [
        "| what | " + " | ".join(f"{n:,} notes" for n in sizes) + " | target |",
        "|---|" + "---|" * (len(sizes) + 1),
    ]
    h = results["help"]
    lines.append(
        f"| `pmcards --help` | {ms(h['median_s'])}, {h['peak_mb']} MB"
        + " |" * (len(sizes) - 1)
        + " | < 80 ms |"
    )

    def row(label: str, key: str, fmt: Any, target: str) -> None:
        cells = []
        for n in sizes:
            r = results[str(n)].get(key)
            cells.append(fmt(r) if r else "–")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")

    row(
        "`pmcards status` (whole process)",
        "status",
        lambda r: f"{ms(r['median_s'])}, {r['peak_mb']} MB",
        "< 250 ms, ≤ 1.5× of 10k",
    )
    row(
        "review start to first card (whole process)",
        "first_card",
        lambda r: f"{ms(r['median_s'])}, {r['peak_mb']} MB",
        "< 350 ms",
    )
    row(
        "one answer committed (in-process), p50 / p99",
        "answer",
        lambda r: f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f} ms",
        "< 1 ms / < 5 ms",
    )
    row("build the review queue (in-process)", "queue", lambda r: f"{r['median_ms']:.1f} ms", "")
    row("due counts per deck (in-process)", "counts", lambda r: f"{r['median_ms']:.1f} ms", "")
    row(
        "`pmcards export html` (whole process)",
        "export_html",
        lambda r: f"{ms(r['median_s'])}, {r['peak_mb']} MB",
        "< 2 s at 10k",
    )
    for n in import_sizes:
        r = results.get(f"import_{n}")
        if r:
            lines.append(
                f"| import {n:,} notes / re-import unchanged | "
                f"{r['median_s']:.2f} s, {r['peak_mb']} MB / "
                f"{r['reimport_median_s']:.2f} s, {r['reimport_peak_mb']} MB"
                + " |" * (len(sizes) - 1)
                + (" | < 1 s / < 0.5 s |" if n <= 10_000 else " | < 8 s |")
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--imports", default="10000,100000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--answers", type=int, default=300)
    parser.add_argument(
        "--tiny", action="store_true", help="tiny sizes, one run: keeps the script working"
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print only; leave RESULTS.md alone"
    )
    parser.add_argument("--label", default="", help="a heading for this run in RESULTS.md")
    parser.add_argument(
        "--anki", action="store_true", help="also measure Anki's engine (needs `anki`)"
    )
    parser.add_argument(
        "--scale",
        type=int,
        default=0,
        help="also time status and the first card at 100,000 notes and at this many",
    )
    args = parser.parse_args()
    if args.tiny:
        sizes, imports, runs, answers = [200], [300], 1, 20
        args.scale = args.scale and 400
    else:
        sizes = [int(s) for s in args.sizes.split(",") if s]
        imports = [int(s) for s in args.imports.split(",") if s]
        runs, answers = args.runs, args.answers
    compile_bytecode()
    results = bench(sizes, runs, answers, imports)
    info = machine()
    text = table(results, sizes, imports)
    anki_text = ""
    if args.anki:
        from anki_side import anki_bench

        anki_text = anki_bench(sizes, runs, results)
        whole = side_by_side(sizes, imports, runs)
        anki_text = (
            "Side by side with Anki's engine, whole process (its `import anki` included, as a "
            "user pays it), run in turn with pmcards; ratio = pmcards / Anki, the median of "
            "the pairs:\n\n" + side_by_side_table(whole) + "\n\n" + anki_text
        )
    if args.scale:
        base = sizes[0] if args.tiny else 100_000
        anki_text += (
            "\n\nScaling (collections made in SQL by `bench/synth.py: build_sql`):\n\n"
            + scaling([base, args.scale], runs)
        )
    header = (
        f"### {args.label or 'Run'}: {info['date']}\n\n"
        f"Machine: {info['cores']} cores ({info['cpu']}), Python {info['python']}, "
        f"SQLite {info['sqlite']}; commit {info['commit']}; medians of {runs} runs.\n"
    )
    report = header + "\n" + text + ("\n\n" + anki_text if anki_text else "") + "\n"
    print(report)
    print(json.dumps(results, indent=1), file=sys.stderr)
    if not args.no_write:
        out = HERE / "RESULTS.md"
        old = (
            out.read_text()
            if out.exists()
            else "# Benchmark results\n\nNewest first. Re-run with `python bench/run.py`.\n\n"
        )
        head, _, rest = old.partition("\n### ")
        out.write_text(head.rstrip() + "\n\n" + report + ("\n### " + rest if rest else ""))


if __name__ == "__main__":
    main()
