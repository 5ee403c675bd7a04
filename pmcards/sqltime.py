"""Date arithmetic in SQL, for SQLite and PostgreSQL alike.

Counting by day in the database (rather than loading every review into Python) keeps
statistics fast on large collections; each dialect spells date arithmetic differently.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class days_between(FunctionElement[float]):
    """days_between(later, earlier): fractional days from `earlier` to `later`."""

    type = Float()
    name = "days_between"
    inherit_cache = True


class local_date(FunctionElement[str]):
    """local_date(ts, offset_seconds): the 'YYYY-MM-DD' date of `ts` shifted by an offset."""

    type = String()
    name = "local_date"
    inherit_cache = True


def _args(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(arg, **kw) for arg in element.clauses]


@compiles(days_between, "sqlite")
def _days_sqlite(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = _args(element, compiler, **kw)
    return f"(julianday({later}) - julianday({earlier}))"


@compiles(days_between)
def _days_default(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = _args(element, compiler, **kw)
    return f"(EXTRACT(EPOCH FROM ({later} - {earlier})) / 86400.0)"


@compiles(local_date, "sqlite")
def _date_sqlite(element: local_date, compiler: SQLCompiler, **kw: Any) -> str:
    ts, offset = _args(element, compiler, **kw)
    return f"date({ts}, ({offset}) || ' seconds')"


@compiles(local_date)
def _date_default(element: local_date, compiler: SQLCompiler, **kw: Any) -> str:
    ts, offset = _args(element, compiler, **kw)
    return f"to_char(({ts} AT TIME ZONE 'UTC') + ({offset}) * INTERVAL '1 second', 'YYYY-MM-DD')"
