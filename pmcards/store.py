"""Opening the collection: the engine, its connection settings, migrations, and sessions.

The caller owns the session: `with store.write() as session:` is one transaction, committed
when the block ends and rolled back if it raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError, DBAPIError, IntegrityError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

from pmcards import migrations, paths
from pmcards.errors import PmcardsError

# How long a writer waits for another process's write to finish before giving up.
BUSY_TIMEOUT_SECONDS = 30.0


def _sqlite_setup(engine: Engine, *, autocheckpoint: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself (the pysqlite recipe), so a
        # write transaction can take the write lock up front with BEGIN IMMEDIATE: two writers
        # then queue on the busy timeout instead of failing with "database is locked".
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        _set_wal(cursor)
        # FULL: a committed answer survives power loss too, not only a killed process.
        cursor.execute("PRAGMA synchronous = FULL")
        if not autocheckpoint:
            # The review session checkpoints while the user reads a card (Store.checkpoint),
            # so copying the WAL into the database never delays a committed answer.
            cursor.execute("PRAGMA wal_autocheckpoint = 0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get("pmcards_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _set_wal(cursor: Any) -> None:
    """Switch to WAL mode (a no-op once the file is in it, as it stays).

    Switching a file that is still in rollback mode (a new collection, or a backup copied
    into place by hand) needs an exclusive lock, and two processes opening it at the same
    moment can deadlock on it: SQLite then answers "database is locked" at once, without
    waiting on the busy timeout. So the switch is retried until the timeout.
    """
    import sqlite3
    import time

    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class Store:
    """An open collection."""

    def __init__(
        self, url: str, *, migrate: bool = True, checkpoint_when_idle: bool = False
    ) -> None:
        self.url = url
        self.location = paths.describe(url)
        file = paths.sqlite_path(url)
        if file is not None:
            try:
                file.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise PmcardsError(f"cannot create {file.parent}: {exc.strerror}") from exc
        try:
            engine = sa.create_engine(
                url,
                connect_args={"timeout": BUSY_TIMEOUT_SECONDS} if file is not None else {},
            )
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise PmcardsError(f"cannot use database {self.location!r}: {exc}") from exc
        if engine.dialect.name == "sqlite":
            _sqlite_setup(engine, autocheckpoint=not checkpoint_when_idle)
        self.engine = engine
        self._write_engine = engine.execution_options(pmcards_write=True)
        if migrate:
            self.migrate()

    def migrate(self) -> list[str]:
        """Bring the schema up to date (refusing a newer one); returns what was applied.

        Every command opens the collection, so the usual case (nothing to do) is one read;
        the write lock is taken only when a migration is due, and the check repeated under it
        in case another process migrated first.
        """
        with self._guard():
            with self.engine.connect() as conn:
                due = migrations.pending(conn)
                if not due:
                    return []
                existing = bool(migrations.applied(conn))
            if existing:
                # A collection with content is backed up before its schema changes.
                from pmcards import backup

                backup.automatic(self, "migration")
            with self._write_engine.begin() as conn:
                return migrations.run(conn)

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        """One read transaction in SQLAlchemy Core, for commands that only count and list:
        they never load the ORM."""
        with self._guard(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def write_connection(self) -> Iterator[sa.Connection]:
        """One write transaction in SQLAlchemy Core, holding the write lock from the start."""
        with self._guard(), self._write_engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Session]:
        """One read transaction with an ORM session."""
        from sqlalchemy.orm import Session

        with (
            self._guard(),
            Session(self.engine, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: it holds the write lock from its first statement."""
        from sqlalchemy.orm import Session

        with (
            self._guard(),
            Session(self._write_engine, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Database failures the user can act on become one-line messages."""
        try:
            yield
        except IntegrityError:
            raise  # a bug in pmcards, not something the user can fix
        except DatabaseError as exc:
            raise PmcardsError(_explain(self.location, exc, paths.sqlite_path(self.url))) from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise PmcardsError(f"lost the connection to {self.location}") from exc
            raise

    def checkpoint(self) -> None:
        """Copy committed pages from the WAL into the database file, without waiting on
        readers (SQLite's PASSIVE checkpoint). A no-op on other databases."""
        if self.engine.dialect.name != "sqlite":
            return
        with self._guard(), self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        self.engine.dispose()


def _writable(file: Path) -> bool:
    import os

    return os.access(file, os.W_OK) and os.access(file.parent, os.W_OK)


def _nearly_full(file: Path) -> bool:
    import shutil

    try:
        return shutil.disk_usage(file.parent).free < 1024 * 1024
    except OSError:
        return False


def _explain(location: str, exc: DatabaseError, file: Path | None = None) -> str:
    text = str(exc.orig) if exc.orig is not None else str(exc)
    lowered = text.lower()
    if "disk i/o error" in lowered and file is not None and _nearly_full(file):
        # Out of space while growing the -wal or -shm file, SQLite says "disk I/O error".
        lowered = "database or disk is full"
    if "database or disk is full" in lowered:
        return f"the disk holding {location} is full: nothing was written; free some space"
    if "readonly" in lowered or "read-only" in lowered:
        return f"{location} is read-only: pmcards needs to write to it"
    if "locked" in lowered or "busy" in lowered:
        return (
            f"{location} stayed locked by another pmcards process for {BUSY_TIMEOUT_SECONDS:.0f}s"
        )
    if "unable to open" in lowered:
        if file is not None and file.exists() and not _writable(file):
            return (
                f"{location} is read-only: pmcards needs to write to it and to its folder "
                "(SQLite keeps its -wal and -shm files beside it)"
            )
        return f"cannot open the collection at {location}"
    if "file is not a database" in lowered or "malformed" in lowered:
        return f"{location} is not a pmcards collection or is damaged ({text})"
    if "disk i/o error" in lowered:
        return f"a disk error on {location}: the last change was not written ({text})"
    return f"database error on {location}: {text}"
