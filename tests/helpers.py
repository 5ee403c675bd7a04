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
