"""The Anki round trip at the size of the test suite's collection, and the cloze scanner on
hostile text. Medians of several runs; prints a Markdown table for bench/RESULTS.md.

    python bench/anki_roundtrip.py            # 5 runs (needs the `anki` package: the test extras)
    python bench/anki_roundtrip.py --runs 3

What is timed: building the 2,000-note collection with Anki's API (the module fixture of
tests/test_anki_roundtrip.py), Anki exporting it, pmcards importing the package, pmcards
exporting it back with its history, pmcards importing the same package again (a merge that
changes nothing), and `cloze_numbers` / `render_cloze` on 120 KB of text that made the old
regex backtrack. Never used as timed assertions in tests.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def one_run(folder: Path) -> dict[str, float]:
    from anki_tools import export_package, realistic_collection

    from pmcards import importer
    from pmcards.exporters import exporter
    from pmcards.formats.options import ExportOptions
    from pmcards.store import Store

    out: dict[str, float] = {}
    holder: dict[str, object] = {}

    def build() -> None:
        holder["col"] = realistic_collection(folder / "anki")

    out["build the 2,000-note collection with Anki's API"] = timed(build)
    col = holder["col"]
    package = folder / "collection.apkg"
    out["Anki exports it (with scheduling)"] = timed(
        lambda: export_package(col, package, legacy=False)
    )
    col.close()  # type: ignore[attr-defined]
    store = Store(f"sqlite:///{folder / 'pm.sqlite3'}")
    now = datetime.now(UTC)

    def do_import() -> None:
        with store.write() as conn:
            importer.apply(conn, importer.parse_files([package]), now)

    out["pmcards imports the package"] = timed(do_import)

    def do_export() -> None:
        with store.read() as conn:
            options = ExportOptions(format="apkg", with_history=True, now=now)
            (folder / "ours.apkg").write_bytes(exporter("apkg")(conn, options))

    out["pmcards exports it back, with its history"] = timed(do_export)
    out["pmcards imports the package again (nothing changes)"] = timed(do_import)
    store.close()
    return out


def hostile() -> dict[str, float]:
    from pmcards.kinds.cloze import cloze_numbers, render_cloze

    texts = {
        "unclosed openers": "{{c1::" * 20_000,
        "hint markers without end": "{{c1::a" + "::" * 60_000,
        "120,000 digits": "{{c" + "9" * 120_000 + "::x}}",
        "13,000 deletions": "{{c1::a}}" * 13_000,
    }
    out = {}
    for name, text in texts.items():
        out[f"cloze scanner, 120 KB: {name}"] = timed(
            lambda text=text: (cloze_numbers(text), render_cloze(text, 0, reveal=False))  # type: ignore[misc]
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("TZ", "UTC")
    time.tzset()
    runs: list[dict[str, float]] = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="pmcards-bench-anki-") as tmp:
            runs.append({**one_run(Path(tmp)), **hostile()})
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"### Anki both ways (issue 15): {stamp}\n")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"Machine: {os.cpu_count()} cores ({platform.machine()}), Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}, load average {load} "
        f"(a shared machine); medians of {args.runs} runs (`python bench/anki_roundtrip.py`).\n"
    )
    print("| what | median |\n|---|---|")
    for name in runs[0]:
        value = statistics.median(run[name] for run in runs)
        shown = f"{value:.2f} s" if value >= 0.1 else f"{value * 1000:.1f} ms"
        print(f"| {name} | {shown} |")


if __name__ == "__main__":
    main()
