"""Bulk writes that bind a whole batch of rows as ONE JSON parameter, unpacked by the database.

Binding a row at a time through SQLAlchemy costs about twice what SQLite spends storing it
(20,000 note rows: 1.7 s through Core's executemany, 0.65 s through the bare driver). Here a
batch of rows goes as one JSON array of arrays, and one INSERT ... SELECT (or UPDATE ... FROM)
per batch unpacks it in the database: SQLite's `json_each` and `json_extract`, PostgreSQL's
`json_array_elements` and `->>` with a cast to the column's type. Still SQLAlchemy Core on the
caller's connection and transaction: the one data path, only the rows travel differently.

The stored values are the ones Core's own binding stores: each value goes through its
column type's bind processor first (`UTCDateTime` makes SQLite's naive UTC text, `Boolean`
SQLite's 0 and 1), and PostgreSQL reads the JSON text through the column's own type. The
statements, one per dialect, are made here and nowhere else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, TextClause, bindparam, text
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Boolean, NullType

# Rows a statement: a thousand notes make a parameter of a few hundred kilobytes.
BATCH = 1000

# One compact JSON text a batch; NaN and infinities are refused here (no database's JSON
# reads them), though every float the imports store is checked finite before.
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))

_statements: dict[tuple[Any, ...], TextClause] = {}


def _sqlite(dialect: Dialect) -> bool:
    return dialect.name == "sqlite"


def _converter(table: Table, name: str, dialect: Dialect) -> Callable[[Any], Any] | None:
    """What makes a column's Python value the JSON value to send: its type's own bind
    processor (the text SQLite stores for a datetime, 0 or 1 for a boolean); on PostgreSQL a
    datetime goes as ISO text with its offset, read back by the column's timestamp type."""
    column_type = table.c[name].type
    process = column_type.bind_processor(dialect)
    if _sqlite(dialect):
        return process
    if isinstance(column_type, Boolean):
        return None  # JSON true and false, read by ::boolean
    if process is None:
        return None

    def convert(value: Any) -> Any:
        value = process(value)
        return value.isoformat() if isinstance(value, datetime) else value

    return convert


def _element(dialect: Dialect, table: Table, name: str, index: int, alias: str) -> str:
    """The SQL that reads element `index` of one row of the batch as column `name`."""
    if _sqlite(dialect):
        return f"json_extract({alias}.value, '$[{index}]')"
    column_type = table.c[name].type.compile(dialect=dialect)
    return f"CAST({alias}.value->>{index} AS {column_type})"


def _rows_source(dialect: Dialect, alias: str) -> str:
    """The batch parameter as a table of its rows, numbered in order (`{alias}.n`)."""
    if _sqlite(dialect):
        return f"json_each(:batch) AS {alias}"
    return f"json_array_elements(CAST(:batch AS json)) WITH ORDINALITY AS {alias}(value, n)"


def _in_order(dialect: Dialect, alias: str) -> str:
    """The ORDER BY that keeps the batch's order. SQLite's `json_each` gives the elements
    in order, and a plain scan of it keeps that order (an ORDER BY would sort a copy of
    every row); PostgreSQL is told."""
    return "" if _sqlite(dialect) else f" ORDER BY {alias}.n"


def insert_statement(
    dialect: Dialect,
    table: Table,
    columns: Sequence[str],
    constants: Sequence[str] = (),
    returning: Sequence[str] = (),
) -> TextClause:
    """INSERT INTO table (columns..., constants...) SELECT the batch's elements, then the
    constants (bound once, with their column's type), in the batch's order."""
    key = ("insert", dialect.name, table.name, tuple(columns), tuple(constants), tuple(returning))
    statement = _statements.get(key)
    if statement is None:
        quote = dialect.identifier_preparer.quote
        names = ", ".join(quote(name) for name in (*columns, *constants))
        values = [_element(dialect, table, name, i, "b") for i, name in enumerate(columns)]
        values += [f":k_{name}" for name in constants]
        sql = (
            f"INSERT INTO {quote(table.name)} ({names}) SELECT {', '.join(values)} "
            f"FROM {_rows_source(dialect, 'b')}{_in_order(dialect, 'b')}"
        )
        if returning:
            sql += " RETURNING " + ", ".join(quote(name) for name in returning)
        statement = text(sql).bindparams(
            *(bindparam(f"k_{name}", type_=table.c[name].type) for name in constants)
        )
        _statements[key] = statement
    return statement


def encode(
    dialect: Dialect, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> str:
    """The batch parameter: the rows as one JSON array of arrays, each value converted as
    its column's type binds it."""
    converters = [(i, _converter(table, name, dialect)) for i, name in enumerate(columns)]
    converting = [(i, c) for i, c in converters if c is not None]
    if not converting:
        return _JSON.encode(rows if isinstance(rows, list) else list(rows))
    out = []
    for row in rows:
        values = list(row)
        for i, convert in converting:
            value = values[i]
            if value is not None:
                values[i] = convert(value)
        out.append(values)
    return _JSON.encode(out)


def insert_rows(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    constants: dict[str, Any] | None = None,
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """Insert `rows` (each the values of `columns`, in order), a batch a statement; every
    row also takes `constants` (a column's one value for all, such as the import's time).
    Returns the `returning` columns of the new rows (none if not asked for).

    A column with one value throughout a batch (the deck, the kind, empty tags) is bound
    once as a constant of that batch's statement, not sent in every row: unpacking each
    value from the JSON is most of what the database spends on the batch."""
    given = {**_defaults(table, [*columns, *(constants or {})]), **(constants or {})}
    dialect = conn.dialect
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        first = batch[0]
        same = [i for i in range(len(columns)) if _one_value(batch, i)]
        varying = [i for i in range(len(columns)) if i not in same]
        fixed = {**given, **{columns[i]: first[i] for i in same}}
        statement = insert_statement(
            dialect, table, [columns[i] for i in varying], list(fixed), returning
        )
        values = [[row[i] for i in varying] for row in batch] if same else batch
        parameters = {f"k_{name}": value for name, value in fixed.items()}
        parameters["batch"] = encode(dialect, table, [columns[i] for i in varying], values)
        result = conn.execute(statement, parameters)
        if returning:
            found.extend(tuple(row) for row in result)
    return found


def _one_value(batch: Sequence[Sequence[Any]], i: int) -> bool:
    """Whether column `i` has one value, of one type, throughout the batch (1, 1.0 and True
    are equal in Python and stored differently; so are 0.0 and -0.0)."""
    value = batch[0][i]
    kind = type(value)
    if kind is float:
        return all(type(row[i]) is float and row[i].hex() == value.hex() for row in batch)
    return all(row[i] is value or (type(row[i]) is kind and row[i] == value) for row in batch)


def _defaults(table: Table, given: Sequence[str]) -> dict[str, Any]:
    """The Python-side defaults of the columns not given, as Core's insert() fills them in."""
    found: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        if column.name in given or default is None:
            continue
        if not getattr(default, "is_scalar", False):
            raise ValueError(f"{table.name}.{column.name}: only a scalar default is filled in")
        found[column.name] = getattr(default, "arg", None)
    return found


def insert_dicts(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    constants: dict[str, Any] | None = None,
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """`insert_rows` for rows given as dicts, all with the same columns (as an executemany
    takes them)."""
    if not rows:
        return []
    columns = list(rows[0])
    values = []
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"{table.name}: rows with different columns in one insert")
        values.append([row[name] for name in columns])
    return insert_rows(conn, table, columns, values, constants=constants, returning=returning)


def update_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Update rows of `table` by id: each row is its id, then the values of `columns`."""
    if not rows:
        return
    dialect = conn.dialect
    key = ("update", dialect.name, table.name, tuple(columns))
    statement = _statements.get(key)
    if statement is None:
        quote = dialect.identifier_preparer.quote
        name = quote(table.name)
        sets = ", ".join(
            f"{quote(column)} = {_element(dialect, table, column, i + 1, 'b')}"
            for i, column in enumerate(columns)
        )
        sql = (
            f"UPDATE {name} SET {sets} FROM {_rows_source(dialect, 'b')} "
            f"WHERE {name}.id = {_element(dialect, table, 'id', 0, 'b')}"
        )
        statement = _statements[key] = text(sql)
    for start in range(0, len(rows), BATCH):
        batch = encode(dialect, table, ["id", *columns], rows[start : start + BATCH])
        conn.execute(statement, {"batch": batch})


def update_dicts(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """`update_rows` for rows given as dicts: {"id": ..., column: value, ...}, all with the
    same columns (as `schema.update_rows` takes them)."""
    if not rows:
        return
    columns = [name for name in rows[0] if name != "id"]
    values = []
    for row in rows:
        if len(row) != len(columns) + 1:
            raise ValueError(f"{table.name}: rows with different columns in one update")
        values.append([row["id"], *(row[name] for name in columns)])
    update_rows(conn, table, columns, values)


def json_list(values: Sequence[Any]) -> str:
    """Values (ids, note ids) as the one JSON parameter of `in_json`."""
    return _JSON.encode(list(values))


class in_json(FunctionElement[Any]):
    """in_json(column, param): `column IN` the values of a JSON array bound as one parameter
    (see `json_list`), in place of a bound parameter a value."""

    # Not Boolean: SQLite (no boolean type) would get "... = 1", which no index serves.
    type = NullType()
    name = "in_json"
    inherit_cache = True


def _in_json_args(element: in_json, compiler: SQLCompiler, **kw: Any) -> tuple[Any, str, str]:
    column, values = list(element.clauses)
    return column, compiler.process(column, **kw), compiler.process(values, **kw)


@compiles(in_json, "sqlite")
def _in_json_sqlite(element: in_json, compiler: SQLCompiler, **kw: Any) -> str:
    _, column, values = _in_json_args(element, compiler, **kw)
    return f"{column} IN (SELECT value FROM json_each({values}))"


@compiles(in_json)
def _in_json_default(element: in_json, compiler: SQLCompiler, **kw: Any) -> str:
    column_element, column, values = _in_json_args(element, compiler, **kw)
    assert isinstance(column_element, ColumnElement)
    column_type = column_element.type.compile(dialect=compiler.dialect)
    return (
        f"{column} IN (SELECT CAST(v AS {column_type}) "
        f"FROM json_array_elements_text(CAST({values} AS json)) AS v)"
    )
