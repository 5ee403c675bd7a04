"""The collection's database: the engine, its connection settings, migrations, transactions.

The caller owns the transaction: `with store.write() as conn:` is one write transaction on
a SQLAlchemy Core connection, committed when the block ends and rolled back if it raises;
`with store.read() as conn:` is one read transaction. There is no ORM: rows come back as
Core rows, mapped to the dataclasses of `rows.py` where a caller wants them.

A collection is a SQLite file or a PostgreSQL database that several machines share. Both
give write transactions the same guarantee: one writer at a time, holding the collection's
write lock from its first statement (SQLite: BEGIN IMMEDIATE; PostgreSQL: a transaction-level
advisory lock), so a read-then-write (an answer, an import, first use) never interleaves with
another process's. Reads never wait for writers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError, DBAPIError, IntegrityError

from pmcards import migrations, paths
from pmcards.errors import PmcardsError

# How long a writer waits for another process's write to finish before giving up.
BUSY_TIMEOUT_SECONDS = 30.0
# A review session checkpoints the WAL while a card is read after this many answers (about
# 10 pages each: the WAL stays under a few megabytes).
CHECKPOINT_EVERY = 64
# How long to wait for a database server to answer before saying it cannot be reached.
CONNECT_TIMEOUT_SECONDS = 10


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


def _postgresql_setup(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        if not conn.get_execution_options().get("pmcards_write", False):
            return
        # The write lock, as BEGIN IMMEDIATE takes it on SQLite: held until commit or rollback,
        # waited for at most the busy timeout. Transactions stay READ COMMITTED, so every
        # statement after the lock sees what the previous writer committed.
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(BUSY_TIMEOUT_SECONDS * 1000)}ms'")
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({migrations.WRITE_LOCK_KEY})")


def _connect_args(url: sa.URL, file: Any) -> dict[str, Any]:
    if file is not None:
        return {"timeout": BUSY_TIMEOUT_SECONDS}
    if url.get_backend_name() == "postgresql":
        # Defaults the URL may override (`?connect_timeout=3`): an unreachable server fails
        # within seconds instead of the operating system's minutes.
        args: dict[str, Any] = {
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "application_name": "pmcards",
        }
        return {k: v for k, v in args.items() if k not in url.query}
    return {}


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
        # Write transactions this process committed: a message about a lost server must not
        # say "nothing was written" after answers were.
        self.committed = 0
        self._checkpointed = 0  # `committed` at the last checkpoint
        file = paths.sqlite_path(url)
        if file is not None:
            try:
                file.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise PmcardsError(f"cannot create {file.parent}: {exc.strerror}") from exc
        try:
            parsed = sa.make_url(url)
            server = parsed.get_backend_name() != "sqlite"
            engine = sa.create_engine(
                url,
                connect_args=_connect_args(parsed, file),
                # A review session may sit idle for an hour (a laptop asleep, a NAT dropping
                # the socket): test a pooled connection before each transaction, and open a
                # new one if it went stale, rather than fail the next answer.
                pool_pre_ping=server,
            )
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise PmcardsError(f"cannot use database {self.location!r}: {exc}") from exc
        self.server = _server(parsed)
        self.dialect = engine.dialect.name
        self._read_engine = engine
        if self.dialect == "sqlite":
            _sqlite_setup(engine, autocheckpoint=not checkpoint_when_idle)
        elif self.dialect == "postgresql":
            _postgresql_setup(engine)
            # A read transaction sees one snapshot, as on SQLite: counts and exports agree
            # with themselves while another machine writes. (Read-only transactions never
            # fail with serialization errors at this level.)
            self._read_engine = engine.execution_options(isolation_level="REPEATABLE READ")
        self.engine = engine
        self._write_engine = engine.execution_options(pmcards_write=True)
        try:
            self._refuse_foreign(file)
            if migrate:
                self.migrate()
        except BaseException:
            engine.dispose()
            raise

    def _refuse_foreign(self, file: Path | None) -> None:
        """Refuse a database that holds tables but is not a pmcards collection (another
        program's, an Anki collection), before anything is changed in it: on SQLite, even
        opening it through the engine would switch it to WAL mode."""
        tables: list[str]
        if file is not None:
            if not file.is_file() or file.stat().st_size == 0:
                return
            import sqlite3

            def table_names(query: str) -> list[str]:
                raw = sqlite3.connect(f"file:{file}?{query}", uri=True)
                try:
                    return [
                        row[0]
                        for row in raw.execute(
                            "SELECT name FROM sqlite_master WHERE type = 'table' "
                            "AND name NOT LIKE 'sqlite_%'"
                        )
                    ]
                finally:
                    raw.close()

            try:
                try:
                    tables = table_names("mode=ro")
                except sqlite3.OperationalError:
                    # A WAL database on a read-only file system cannot be opened even
                    # read-only (no -shm file can be made); look at the file as it is on
                    # disk, and leave the opening to the engine, which says what is wrong.
                    tables = table_names("mode=ro&immutable=1")
            except sqlite3.OperationalError:
                return
            except sqlite3.DatabaseError as exc:
                raise PmcardsError(
                    f"{self.location} is not a pmcards collection or is damaged ({exc})"
                ) from None
        else:
            with self._guard(), self.engine.connect() as conn:
                tables = sa.inspect(conn).get_table_names()
        if tables and migrations.MIGRATIONS_TABLE not in tables:
            shown = ", ".join(sorted(tables)[:5]) + (" …" if len(tables) > 5 else "")
            raise PmcardsError(
                f"{self.location} is not a pmcards collection: it holds other tables "
                f"({shown}). pmcards changed nothing in it; give --db a new file or an "
                "empty database"
            )

    def pending_migrations(self) -> list[str]:
        """The migrations this collection still needs (refusing a newer schema); empty for
        a brand-new database too when nothing is pending."""
        with self._guard(), self.engine.connect() as conn:
            return [name for name, _ in migrations.pending(conn)]

    def is_new(self) -> bool:
        """True for a database that pmcards has never written to."""
        with self._guard(), self.engine.connect() as conn:
            return not migrations.applied(conn)

    def migrate(self) -> list[str]:
        """Bring the schema up to date (refusing a newer one); returns what was applied.

        Every command opens the collection, so the usual case (nothing to do) is one read;
        the write lock is taken only when a migration is due, and the check repeated under it
        in case another process migrated first. Backing up first is the opener's policy
        (`collection.open`), not the engine's.
        """
        if not self.pending_migrations():
            return []
        with self._guard(), self._write_engine.begin() as conn:
            return migrations.run(conn)

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """One read transaction: it sees one snapshot of the collection."""
        with self._guard(), self._read_engine.begin() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """One write transaction: it holds the write lock from its first statement."""
        with self._guard(), self._write_engine.begin() as conn:
            yield conn
        self.committed += 1

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Database failures the user can act on become one-line messages."""
        try:
            yield
        except IntegrityError:
            raise  # a bug in pmcards, not something the user can fix
        except DBAPIError as exc:
            if self.dialect != "sqlite":
                message = _explain_server(self.server, exc, self.committed)
                if message is not None:
                    raise PmcardsError(message) from exc
            if isinstance(exc, DatabaseError):
                file = paths.sqlite_path(self.url)
                raise PmcardsError(_explain(self.location, exc, file)) from exc
            if exc.connection_invalidated:
                raise PmcardsError(f"lost the connection to {self.location}") from exc
            raise

    def checkpoint(self) -> None:
        """Copy committed pages from the WAL into the database file, without waiting on
        readers (SQLite's PASSIVE checkpoint), once CHECKPOINT_EVERY write transactions have
        committed since the last one. A no-op on other databases.

        Not after every answer: the first commit into a WAL that a checkpoint has emptied
        writes a new WAL header, and with synchronous=FULL SQLite syncs that header on its
        own, so checkpointing after every card cost each answer a second sync."""
        if self.dialect != "sqlite" or self.committed - self._checkpointed < CHECKPOINT_EVERY:
            return
        with self._guard(), self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        self._checkpointed = self.committed

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


def _server(url: sa.URL) -> str:
    """Where a database server is, for messages: host:port, or the unix socket's folder."""
    host = url.host or url.query.get("host") or ""
    if isinstance(host, tuple):
        host = ",".join(host)
    port = url.port or url.query.get("port")
    if not host:
        return "the default local socket"
    if host.startswith("/"):
        return f"socket {host}"
    return f"{host}:{port}" if port else host


def _explain_server(server: str, exc: DBAPIError, committed: int = 0) -> str | None:
    """A one-line message for a database server's failure (connection, login, lock wait),
    or None when it is not one of those."""
    text = str(exc.orig) if exc.orig is not None else str(exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc.orig).__name__
    lowered = text.lower()
    if "lock timeout" in lowered:
        return (
            f"the collection on {server} stayed locked by another pmcards process for "
            f"{BUSY_TIMEOUT_SECONDS:.0f}s: nothing was written; try again"
        )
    if "password authentication failed" in lowered or "no pg_hba.conf entry" in lowered:
        return f"the database server at {server} refused the login: {_reason(first)}"
    if "does not exist" in lowered and "database" in lowered and "connection" in lowered:
        return f"no such database on {server}: {_reason(first)}; create it first (createdb)"
    unreachable = (
        "connection failed",
        "failed to resolve host",
        "could not translate host name",
        "timeout expired",
        "could not connect",
        "connection is bad",
    )
    if any(marker in lowered for marker in unreachable):
        done = (
            "what this command saved before is kept on the server; the change in progress "
            "was not written"
            if committed
            else "nothing was read or written"
        )
        return (
            f"cannot reach the database server at {server} ({_reason(first)}): {done}, and "
            "pmcards keeps no local copy; check the network or the server, then try again"
        )
    lost = (
        "server closed the connection",
        "terminating connection",
        "consuming input failed",
        "sending query failed",
        "connection is closed",
        "connection is lost",
        "ssl syscall",
    )
    if exc.connection_invalidated or any(marker in lowered for marker in lost):
        return (
            f"lost the connection to the database server at {server} ({_reason(first)}): "
            "the command stopped, and what it had not committed was not written"
        )
    return None


def _reason(line: str) -> str:
    """The cause at the end of a libpq error line ("... failed: Connection refused")."""
    if "failed: " in line:
        line = line.rsplit("failed: ", 1)[1]
    line = line.removeprefix("FATAL:").strip()
    return line.strip().rstrip(".") or "no reason given"
