"""Helpers shared by the tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

# The `new_db` fixture: makes an empty collection database for the test, returns its URL.
NewDb = Callable[[str], str]


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def write_deck(path: Path, name: str, notes: list[dict[str, object]]) -> Path:
    """Write a TOML deck file from plain dicts (tests' own tiny writer)."""
    import json

    lines = ["[deck]", f"name = {json.dumps(name)}", ""]
    for note in notes:
        lines.append("[[note]]")
        for key, value in note.items():
            lines.append(f"{key} = {json.dumps(value)}")
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def qa(i: int, prefix: str = "n", **extra: object) -> dict[str, object]:
    note: dict[str, object] = {
        "id": f"{prefix}-{i:03d}",
        "kind": "qa",
        "tags": ["t"],
        "front": f"Question {i}?",
        "back": f"Answer {i}.",
    }
    note.update(extra)
    return note


def content(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Everything a collection holds, table by table, in a stable order: compared before
    and after a failure to prove that nothing changed (the file's bytes may differ)."""
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        return {
            table: sorted(
                conn.execute(f'SELECT * FROM "{table}"').fetchall(), key=lambda r: repr(r)
            )
            for table in tables
        }
    finally:
        conn.close()


# -- reading and changing a collection in tests (SQLAlchemy Core, as pmcards itself) --------

from typing import Any  # noqa: E402

from pmcards import queries, rows, schema  # noqa: E402
from pmcards.store import Store  # noqa: E402

C, N, D, L = schema.cards.c, schema.notes.c, schema.decks.c, schema.review_log.c


def card_of(store: Store, guid: str, ord: int = 0) -> rows.Card:
    """The card `ord` of the note with id `guid`."""
    import sqlalchemy as sa

    with store.read() as conn:
        row = conn.execute(
            sa.select(schema.cards)
            .join(schema.notes, N.id == C.note_id)
            .where(N.guid == guid, C.ord == ord)
        ).one()
        return rows.Card.from_row(row._mapping)


def note_of(store: Store, guid: str) -> rows.Note:
    with store.read() as conn:
        note = queries.note_by_guid(conn, guid)
    assert note is not None, guid
    return note


def set_card(store: Store, guid: str, ord: int = 0, **values: Any) -> int:
    """Change columns of one card; returns its id."""
    import sqlalchemy as sa

    card_id = card_of(store, guid, ord).id
    with store.write() as conn:
        conn.execute(sa.update(schema.cards).where(C.id == card_id).values(**values))
    return card_id


def count(store: Store, table: Any, *where: Any) -> int:
    """Rows of `table` (a schema table) matching `where`."""
    import sqlalchemy as sa

    with store.read() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(table).where(*where)) or 0)


def all_rows(store: Store, table: Any, *where: Any) -> list[Any]:
    """The rows of `table` as dataclasses of `rows` (cards, notes, decks, review log)."""
    import sqlalchemy as sa

    mapped: Any = {
        "cards": rows.Card,
        "notes": rows.Note,
        "decks": rows.Deck,
        "review_log": rows.ReviewLog,
    }[table.name]
    with store.read() as conn:
        result = conn.execute(sa.select(table).where(*where).order_by(table.c.id))
        return [mapped.from_row(row._mapping) for row in result]


def cli_peak_mb(
    args: list[str],
    home: Path,
    expect: list[str] | None = None,
    *,
    keep_db: bool = False,
    exit_code: int = 0,
) -> int:
    """Run `pmcards ARGS` (through Click, in a fresh Python process: its peak is its own)
    with PMCARDS_HOME at `home` (and PMCARDS_DB unset, unless `keep_db`); it must exit with
    `exit_code` (0: succeed) and print each of `expect`. Returns the process's peak resident
    memory in MB."""
    import os
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        f"""
        from click.testing import CliRunner
        from pmcards.cli import cli
        result = CliRunner().invoke(cli, {args!r})
        assert result.exit_code == {exit_code!r}, result.output
        for text in {expect or []!r}:
            assert text in result.output, result.output
        # VmHWM, not ru_maxrss: the latter keeps the peak of the (large) forking parent.
        with open("/proc/self/status") as status:
            peak = next(line for line in status if line.startswith("VmHWM:"))
        print(int(peak.split()[1]) // 1024)
        """
    )
    env = {**os.environ, "PMCARDS_HOME": str(home)}
    if not keep_db:
        env.pop("PMCARDS_DB", None)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


def bench_synth() -> Any:
    """bench/synth.py as a module: the benchmarks' synthetic collections (`build`: bulk
    inserts; `build_sql`: made in SQL), for the tests that need a big collection."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "synth", Path(__file__).parents[1] / "bench" / "synth.py"
    )
    assert spec is not None and spec.loader is not None
    synth = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(synth)
    return synth
