"""Copying a whole collection between databases (SQLite ↔ PostgreSQL), history included.

Every row of every table is copied with its id, in one write transaction on the target, then
verified: each table's row count and a checksum of its rows, computed on both sides from the
values SQLAlchemy returns (UTC datetimes, floats, booleans), so the same collection gives the
same checksum on either engine. Any difference rolls the copy back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pmcards import schema
from pmcards.errors import PmcardsError
from pmcards.store import Store

# Every table of the schema, in foreign-key order: a row's parents are copied before it.
TABLES: tuple[sa.Table, ...] = tuple(schema.metadata.sorted_tables)
BATCH = 2000


@dataclass(frozen=True)
class TableSummary:
    """One table of a collection: its rows and their checksum."""

    name: str
    rows: int
    checksum: str


def summarize(conn: Connection) -> list[TableSummary]:
    """Row counts and checksums of every table of the collection behind `conn`."""
    return [TableSummary(t.name, *_checksum(conn, t)) for t in TABLES]


def _rows(conn: Connection, table: sa.Table) -> Iterator[sa.Row[Any]]:
    """Every row, in a stable order on every engine: by integer id in SQL; tables keyed by
    text are sorted here, since SQLite and PostgreSQL collate text differently."""
    (key,) = table.primary_key.columns
    if isinstance(key.type, sa.Integer):
        # On the statement: the connection's options would stay set for later statements.
        result = conn.execute(sa.select(table).order_by(key).execution_options(yield_per=BATCH))
        yield from result
    else:
        yield from sorted(conn.execute(sa.select(table)), key=lambda row: row._mapping[key.name])


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, float):
        return repr(value)
    return value


def _checksum(conn: Connection, table: sa.Table) -> tuple[int, str]:
    digest = hashlib.sha256()
    count = 0
    for row in _rows(conn, table):
        line = json.dumps([_canonical(v) for v in row], ensure_ascii=False, separators=(",", ":"))
        digest.update(line.encode("utf-8") + b"\n")
        count += 1
    return count, digest.hexdigest()


def is_empty(conn: Connection) -> bool:
    return all(
        conn.scalar(sa.select(sa.literal(1)).select_from(t).limit(1)) is None for t in TABLES
    )


def copy(
    source: Store,
    target: Store,
    *,
    force: bool = False,
    progress: Callable[[int], None] | None = None,
) -> list[TableSummary]:
    """Copy every row of `source` into `target`, ids kept; returns the verified summary.

    Refuses a target that holds anything unless `force`, which empties it first (in the same
    transaction: if the copy fails, the target is left as it was).
    """
    if source.url == target.url:
        raise PmcardsError("the source and the target are the same collection")
    with source.read() as src, target.write() as dst:
        if not is_empty(dst):
            if not force:
                raise PmcardsError(
                    f"{target.location} already holds a collection: nothing was copied "
                    "(--force replaces it)"
                )
            for table in reversed(TABLES):
                dst.execute(sa.delete(table))
        for table in TABLES:
            batch: list[dict[str, Any]] = []
            for row in _rows(src, table):
                batch.append(dict(row._mapping))
                if len(batch) >= BATCH:
                    dst.execute(sa.insert(table), batch)
                    if progress is not None:
                        progress(len(batch))
                    batch = []
            if batch:
                dst.execute(sa.insert(table), batch)
                if progress is not None:
                    progress(len(batch))
        if dst.dialect.name == "postgresql":
            _reset_sequences(dst)
        before = summarize(src)
        after = summarize(dst)
        for b, a in zip(before, after, strict=True):
            if b != a:
                raise PmcardsError(
                    f"the copy of table {b.name} does not match its source ({b.rows} rows, "
                    f"sha256 {b.checksum[:12]} there; {a.rows} rows, sha256 {a.checksum[:12]} "
                    "here): nothing was copied"
                )
    return before


def total_rows(store: Store) -> int:
    with store.read() as conn:
        return sum(int(conn.scalar(sa.select(sa.func.count()).select_from(t)) or 0) for t in TABLES)


def _reset_sequences(conn: Connection) -> None:
    """Rows were inserted with their ids, which does not advance PostgreSQL's sequences:
    point each at the row after the largest id, or the next insert would collide."""
    for table in TABLES:
        (key,) = table.primary_key.columns
        if not isinstance(key.type, sa.Integer):
            continue
        conn.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{key.name}'), "
                f"COALESCE((SELECT MAX({key.name}) FROM {table.name}), 0) + 1, false)"
            )
        )
