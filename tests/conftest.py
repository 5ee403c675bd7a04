"""Shared fixtures. Every test's collection is SQLite by default; with PMCARDS_TEST_DB set to
a PostgreSQL URL (a database on that server pmcards may create databases from, e.g. from
`.ci/postgres.sh start DIR`), each test gets fresh databases on that server instead.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import FakeClock

from pmcards.store import Store

UTC = UTC

TEST_DB = os.environ.get("PMCARDS_TEST_DB", "")
ENGINE = "postgresql" if TEST_DB.startswith("postgresql") else "sqlite"
_names = itertools.count(1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only(reason): tests SQLite itself (files, PRAGMAs, WAL)"
    )
    config.addinivalue_line(
        "markers", "postgres_only(reason): needs a PostgreSQL server (PMCARDS_TEST_DB)"
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"pmcards collections: {ENGINE}" + (f" ({TEST_DB})" if TEST_DB else "")


def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("sqlite_only")
    if marker is not None and ENGINE != "sqlite":
        pytest.skip(f"SQLite only: {marker.kwargs.get('reason') or marker.args[0]}")
    marker = item.get_closest_marker("postgres_only")
    if marker is not None and ENGINE != "postgresql":
        pytest.skip(
            f"needs PostgreSQL (set PMCARDS_TEST_DB, see .ci/postgres.sh): "
            f"{marker.kwargs.get('reason') or marker.args[0]}"
        )


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Any]:
    """An autocommit engine on the test server's admin database (PostgreSQL runs only)."""
    if ENGINE != "postgresql":
        yield None
        return
    import sqlalchemy as sa

    engine = sa.create_engine(TEST_DB, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def new_db(tmp_path: Path, pg_admin: Any) -> Iterator[Callable[[str], str]]:
    """Makes empty collection databases for this test: `new_db("name")` returns its URL.

    SQLite: a file in the test's temp dir. PostgreSQL: a new database on the test server,
    dropped (with any connection left to it) when the test ends.
    """
    created: list[str] = []

    def make(name: str) -> str:
        if pg_admin is None:
            path = tmp_path / f"{name}.sqlite3"
            for n in itertools.count(2):
                if str(path) not in created:
                    break
                path = tmp_path / f"{name}-{n}.sqlite3"
            created.append(str(path))
            return f"sqlite:///{path}"
        import sqlalchemy as sa

        database = f"pmt_{os.getpid()}_{next(_names)}_{name}".lower()
        with pg_admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{database}" STRATEGY FILE_COPY')
        created.append(database)
        return sa.make_url(TEST_DB).set(database=database).render_as_string(hide_password=False)

    yield make
    if pg_admin is not None and created:
        with pg_admin.connect() as conn:
            for database in created:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Path:
    """No test touches the real user directory: the data dir is a temp dir; on PostgreSQL
    runs, PMCARDS_DB points the default collection at a fresh database."""
    home = tmp_path / "pmcards-home"
    monkeypatch.setenv("PMCARDS_HOME", str(home))
    monkeypatch.delenv("PMCARDS_DB", raising=False)
    monkeypatch.delenv("PMCARDS_NOW", raising=False)
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setenv("NO_COLOR", "1")
    if ENGINE == "postgresql" and request.node.get_closest_marker("sqlite_only") is None:
        monkeypatch.setenv("PMCARDS_DB", request.getfixturevalue("new_db")("home"))
    import time

    time.tzset()
    return home


@pytest.fixture
def collection_url(isolated_home: Path) -> str:
    """The URL of the collection a command opens when given no --db."""
    from pmcards import paths

    return paths.resolve_db_url(None)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))


@pytest.fixture
def store(new_db: Callable[[str], str]) -> Iterator[Store]:
    s = Store(new_db("store"))
    with s.write() as session:
        from pmcards import settings

        settings.save(session, "fuzz", False)
    yield s
    s.close()
