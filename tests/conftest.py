"""Shared fixtures, and where a test goes.

One file per core module (`test_<module>.py`: test_review, test_scheduling, test_plan,
test_store, test_migrations, test_import, test_check, test_backup, test_kinds, test_markup,
test_clock, test_optimize, test_formats_<format>) or per user-visible feature
(test_cli and test_cli_<command> for commands end to end, test_practice for drill and mock,
test_export_html and test_browser for the printed pages, test_builtin_decks for content).
Robustness suites share a prefix: test_faults_{crash,disk,clock,concurrency}, test_hostile,
test_shared_store (several machines on PostgreSQL), test_ui_pty (keys in a real terminal).
Helpers: `helpers.py` (clocks, deck writers, reading a collection), `faults.py` (killed
processes, full disks), `anki_tools.py` (Anki's own engine as the judge).

Every test's collection is SQLite by default; with PMCARDS_TEST_DB set to a PostgreSQL URL
(a database on that server pmcards may create databases from, e.g. from
`.ci/postgres.sh start DIR`), each test gets fresh databases on that server instead.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import FakeClock

from pmcards.store import Store

UTC = UTC

TEST_DB = os.environ.get("PMCARDS_TEST_DB", "")
ENGINE = "postgresql" if TEST_DB.startswith("postgresql") else "sqlite"
_names = itertools.count(1)


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


class _Databases:
    """Test databases on the PostgreSQL server. CREATE DATABASE takes 20-200 ms (it copies
    a template), so a database a test is done with is emptied (its schema dropped and made
    again, its connections ended) and handed to a later test: each test still starts from
    an empty database, whatever the previous one left."""

    def __init__(self, admin_url: str) -> None:
        import sqlalchemy as sa

        self.url = sa.make_url(admin_url)
        self.admin = sa.create_engine(
            admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
        self.idle: list[str] = []
        self.all: list[str] = []

    def url_of(self, database: str) -> str:
        return self.url.set(database=database).render_as_string(hide_password=False)

    def take(self) -> str:
        if self.idle:
            return self.idle.pop()
        database = f"pmt_{os.getpid()}_{next(_names)}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{database}"')
        self.all.append(database)
        return database

    def give_back(self, database: str) -> None:
        import sqlalchemy as sa

        with self.admin.connect() as conn:
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
            )
        engine = sa.create_engine(
            self.url_of(database), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        finally:
            engine.dispose()
        self.idle.append(database)

    def close(self) -> None:
        with self.admin.connect() as conn:
            for database in self.all:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        self.admin.dispose()


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[_Databases | None]:
    """The PostgreSQL run's test databases (None on SQLite runs)."""
    if ENGINE != "postgresql":
        yield None
        return
    databases = _Databases(TEST_DB)
    yield databases
    databases.close()


@pytest.fixture
def new_db(tmp_path: Path, pg_databases: _Databases | None) -> Iterator[Callable[[str], str]]:
    """Makes empty collection databases for this test: `new_db("name")` returns its URL.

    SQLite: a file in the test's temp dir. PostgreSQL: an empty database on the test server,
    emptied again (any connection left to it ended) when the test ends.
    """
    created: list[str] = []

    def make(name: str) -> str:
        if pg_databases is None:
            path = tmp_path / f"{name}.sqlite3"
            for n in itertools.count(2):
                if str(path) not in created:
                    break
                path = tmp_path / f"{name}-{n}.sqlite3"
            created.append(str(path))
            return f"sqlite:///{path}"
        database = pg_databases.take()
        created.append(database)
        return pg_databases.url_of(database)

    yield make
    if pg_databases is not None:
        import gc

        gc.collect()  # a Store the test left open warns here, in its own test
        for database in created:
            pg_databases.give_back(database)


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
