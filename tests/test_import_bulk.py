"""The JSON-batch writes of an import (pmcards/bulk.py) store exactly what Core's own insert
and update store: the same rows, the same values, of the same types, on either engine."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Connection, String, bindparam, insert, select, text

from pmcards import bulk, schema
from pmcards.store import Store

NOW = datetime(2026, 12, 7, 5, 30, 12, 345678, tzinfo=UTC)
# Text that JSON, SQL or a naive unpacking could get wrong.
AWKWARD = [
    "plain",
    "",
    " ",
    "quote ' and \" and \\ backslash",
    "line\nbreak\ttab",
    "Régime – ½ 😀 漢字",
    "[1, 2]",
    '{"a": 1}',
    "123",
    "1.50",
    "null",
    "true",
]


@pytest.fixture
def two(new_db: Callable[[str], str]) -> Iterator[tuple[Store, Store]]:
    a, b = Store(new_db("bulk")), Store(new_db("core"))
    yield a, b
    a.close()
    b.close()


def _stored(conn: Connection, table: str) -> list[tuple[Any, ...]]:
    """Every row of `table` as the database holds it: each value as text, and on SQLite its
    storage class (text '1' and integer 1 are different values)."""
    names = [c.name for c in schema.metadata.tables[table].columns]
    if conn.dialect.name == "sqlite":
        shown = [f"quote({n}), typeof({n})" for n in names]
    else:
        shown = [f"CAST({n} AS text)" for n in names]
    return [
        tuple(r) for r in conn.execute(text(f"SELECT {', '.join(shown)} FROM {table} ORDER BY id"))
    ]


def _notes(count: int) -> list[dict[str, Any]]:
    rows = []
    for n in range(count):
        awkward = AWKWARD[n % len(AWKWARD)]
        rows.append(
            {
                "guid": f"n-{n:05d}",
                "deck_id": 1 + n % 2
                if n >= 1200
                else 1,  # one deck, then two (a constant, then not)
                "kind": "qa",
                "fields": '{"front": "'
                + str(n)
                + '", "back": "'
                + awkward.replace('"', "'")
                + '"}',
                "tags": " a b " if n % 3 else " ",
                "section": awkward if n % 5 == 0 else "",
                "search": awkward.lower(),
                "checksum": f"{n:064x}",
                "lint_ignore": " ",
                "position": n + 1,
                "anki_notetype_id": None,
                "anki_note": awkward if n % 7 == 0 else None,
            }
        )
    return rows


def _cards(note_ids: list[int]) -> list[dict[str, Any]]:
    other = timezone(timedelta(hours=-7, minutes=-30))
    rows = []
    for i, note_id in enumerate(note_ids):
        rows.append(
            {
                "note_id": note_id,
                "deck_id": 1,
                "ord": i % 2,
                "state": 2,
                "step": None if i % 2 else 1,
                "stability": [1 / 3, 1e-300, 123456.789, 36500.0, 0.1 + 0.2][i % 5],
                "difficulty": 0.0 if i % 2 else -0.0,  # equal in Python, not as stored
                "due": (NOW + timedelta(days=i, microseconds=i)).astimezone(other),
                "last_review": None if i % 4 == 0 else NOW - timedelta(seconds=i),
                "reps": i,
                "lapses": i % 3,
                "suspended": i % 6 == 0,
                "buried_until": NOW if i % 9 == 0 else None,
                "flag": i % 8,
            }
        )
    return rows


def _logs(card_ids: list[int]) -> list[dict[str, Any]]:
    rows = []
    for i, card_id in enumerate(card_ids):
        rows.append(
            {
                "card_id": card_id,
                "rating": 1 + i % 4,
                "reviewed_at": NOW - timedelta(days=i, microseconds=7 * i),
                "duration_ms": None if i % 3 == 0 else 1000 + i,
                "source": "import",
                "state_before": 0,
                "step_before": 0,
                "stability_before": None,
                "difficulty_before": None,
                "due_before": NOW,
                "last_review_before": None,
                "reps_before": 0,
                "lapses_before": 0,
                "state_after": 1,
                "step_after": None,
                "stability_after": 2.5 + i / 7,
                "difficulty_after": 5.0,
                "due_after": NOW + timedelta(minutes=i),
                "leeched": i % 2 == 0,
            }
        )
    return rows


def _decks(conn: Connection) -> None:
    for name in ("one", "two"):
        conn.execute(insert(schema.decks).values(name=name, description="", created_at=NOW))


def test_json_batches_store_what_core_stores(two: tuple[Store, Store]) -> None:
    """New notes (more than a batch), their cards and their history, written as an import
    writes them and as Core's executemany writes them: the stored rows are the same."""
    by_json, by_core = two
    notes = _notes(bulk.BATCH + 500)
    times = {"created_at": NOW, "updated_at": NOW}
    with by_json.write() as conn:
        _decks(conn)
        made = bulk.insert_dicts(
            conn, schema.notes, notes, constants=times, returning=("id", "guid")
        )
        assert [guid for _, guid in made] == [n["guid"] for n in notes]
        note_ids = [note_id for note_id, _ in made]
        cards = bulk.insert_dicts(
            conn, schema.cards, _cards(note_ids), returning=("id", "note_id", "ord")
        )
        bulk.insert_dicts(conn, schema.review_log, _logs([c[0] for c in cards]))
    with by_core.write() as conn:
        _decks(conn)
        N = schema.notes.c
        made_core = conn.execute(
            insert(schema.notes).returning(N.id, N.guid), [{**n, **times} for n in notes]
        ).all()
        assert sorted(made_core) == sorted(made)
        conn.execute(insert(schema.cards), _cards(note_ids))
        conn.execute(insert(schema.review_log), _logs([c[0] for c in cards]))
    with by_json.read() as a, by_core.read() as b:
        for table in ("notes", "cards", "review_log"):
            assert _stored(a, table) == _stored(b, table), table


def test_json_update_stores_what_core_stores(two: tuple[Store, Store]) -> None:
    """Edits of notes, as an import writes them (`bulk.update_dicts`) and as
    `schema.update_rows` (Core's executemany) writes them."""
    by_json, by_core = two
    notes = _notes(50)
    later = NOW + timedelta(days=1, microseconds=1)
    edits = [
        {
            "id": i + 1,
            "fields": '{"front": "' + AWKWARD[i % len(AWKWARD)].replace('"', "'") + '"}',
            "section": AWKWARD[(i + 3) % len(AWKWARD)],
            "updated_at": later,
            "anki_note": None if i % 2 else "x",
        }
        for i in range(0, 50, 2)
    ]
    for store, update in ((by_json, bulk.update_dicts), (by_core, schema.update_rows)):
        with store.write() as conn:
            _decks(conn)
            conn.execute(
                insert(schema.notes), [{**n, "created_at": NOW, "updated_at": NOW} for n in notes]
            )
            update(conn, schema.notes, edits)
    with by_json.read() as a, by_core.read() as b:
        assert _stored(a, "notes") == _stored(b, "notes")


def test_in_json_selects_by_one_parameter(two: tuple[Store, Store]) -> None:
    store, _ = two
    with store.write() as conn:
        _decks(conn)
        conn.execute(
            insert(schema.notes), [{**n, "created_at": NOW, "updated_at": NOW} for n in _notes(30)]
        )
        N = schema.notes.c
        ids = bindparam("ids", type_=String())
        query = select(N.guid).where(bulk.in_json(N.id, ids)).order_by(N.id)
        assert conn.scalars(query, {"ids": bulk.json_list([3, 5, 29, 999])}).all() == [
            "n-00002",
            "n-00004",
            "n-00028",
        ]
        by_guid = select(N.id).where(bulk.in_json(N.guid, ids)).order_by(N.id)
        assert conn.scalars(by_guid, {"ids": bulk.json_list(["n-00001", "nope"])}).all() == [2]
