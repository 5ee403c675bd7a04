"""Backups of the collection, made with SQLite's online backup API, and restoring them.

A backup is a consistent copy even while another pmcards process is writing (WAL mode):
SQLite copies the pages itself inside a read transaction, so it is never a half-written file
copy. It is written under a temporary name and renamed when complete, so a backup that was
interrupted (a full disk, a killed process) never looks like a good one.

Automatic backups go to the `backups` folder of the data directory, named
`collection-<UTC time>-<reason>.sqlite3`, before every destructive or bulk operation (import
with `--prune`, a migration, a restore, a repair) and once a day on first use; the newest
`backups_keep` are kept. `supported()` says which collections get them: SQLite files.

A collection on a PostgreSQL server, which several machines share, is backed up on request
(`pmcards backup`, and before `import --prune`) by `server_backup`: `pg_dump` in its custom
format when it is installed (restore with `pg_restore`), otherwise, or when it fails (say,
older than the server), pmcards' own copy into a SQLite file (restore with
`pmcards db copy`). The caller is told which one was made. Restoring and the daily backups of
a server's database are left to its administrator's tools.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pmcards import files, paths
from pmcards.errors import PmcardsError

if TYPE_CHECKING:
    from pmcards.store import Store

PREFIX = "collection-"
SUFFIX = ".sqlite3"
# A backup being written: `.NAME.partial` beside where it goes. One left behind by a killed
# process is removed the next time the collection is opened (`clean_leftovers`).
PARTIAL_PREFIX, PARTIAL = ".", ".partial"
DUMP_SUFFIX = ".dump"
DEFAULT_KEEP = 10
# "Once a day": a backup younger than this makes the daily one unnecessary.
DAILY_SECONDS = 24 * 3600
# The tables a file must have to be restored as a pmcards collection.
REQUIRED_TABLES = ("decks", "notes", "cards", "review_log", "settings", "pmcards_migrations")


def supported(store: Store) -> bool:
    """Whether pmcards can back this collection up itself (a SQLite file)."""
    return store.engine.dialect.name == "sqlite" and paths.sqlite_path(store.url) is not None


def unsupported_message(store: Store) -> str:
    return unsupported_url_message(store.url) or ""


def unsupported_url_message(url: str) -> str | None:
    """Why pmcards cannot back up the collection at `url` itself, or None if it can."""
    if paths.sqlite_path(url) is not None:
        return None
    kind = url.split(":", 1)[0].split("+", 1)[0]
    if kind == "sqlite":
        return f"{paths.describe(url)} is an in-memory database: there is no file to back up"
    return (
        f"{paths.describe(url)} is a {kind} database, not a SQLite file: `pmcards backup` "
        "saves a copy of it on request; restore it with the database's own tools (for "
        "PostgreSQL, pg_restore) or `pmcards db copy`"
    )


def backups_dir(store: Store) -> Path:
    """Where the collection's automatic backups go (see `paths.backups_dir`)."""
    return paths.backups_dir(store.url)


def backup(store: Store, dest: Path, *, reason: str = "manual") -> Path:
    """Copy the collection to `dest`: a file (ending in .sqlite3), or a folder that gets a
    timestamped file. Returns the backup's path."""
    if dest.suffix != SUFFIX:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        dest = dest / f"{PREFIX}{stamp}-{reason}{SUFFIX}"
    return backup_to_file(store, dest)


def backup_to_file(store: Store, dest: Path) -> Path:
    """Copy the collection to the file `dest` (replaced if it exists) with the online backup
    API: written beside it under a temporary name, synced, then renamed into place."""
    if not supported(store):
        raise PmcardsError(unsupported_message(store))
    source_file = paths.sqlite_path(store.url)
    if source_file is not None and dest.resolve() == source_file.resolve():
        raise PmcardsError(f"cannot back up {store.location} onto itself")
    target = files.target_of(dest)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PmcardsError(f"cannot create {target.parent}: {exc.strerror}") from exc
    # Written beside the file it will replace; a FIFO or a device gets it copied in.
    if files.is_special(target):
        spool = Path(tempfile.mkdtemp(prefix="pmcards-backup-"))
        tmp = spool / f"{PARTIAL_PREFIX}{dest.name}{PARTIAL}"
    else:
        tmp = target.with_name(f"{PARTIAL_PREFIX}{target.name}{PARTIAL}")
    raw = store.engine.raw_connection()
    try:
        source = raw.driver_connection
        assert isinstance(source, sqlite3.Connection)
        tmp.unlink(missing_ok=True)
        copy = sqlite3.connect(tmp)
        try:
            source.backup(copy)
            # A standalone file: no WAL beside it, readable by any SQLite.
            copy.execute("PRAGMA journal_mode = DELETE")
        finally:
            copy.close()
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        files.install(tmp, dest)
    except (sqlite3.Error, OSError) as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        if "full" in reason.lower() or (isinstance(exc, OSError) and exc.errno == 28):
            reason = "the disk is full"
        raise PmcardsError(f"backup to {dest} failed: {reason}") from exc
    finally:
        raw.close()
        if tmp.parent != target.parent:
            shutil.rmtree(tmp.parent, ignore_errors=True)
    return dest


@dataclass(frozen=True)
class BackupFile:
    path: Path
    created: datetime
    size: int
    reason: str

    def to_json(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "created": self.created.isoformat(),
            "size": self.size,
            "reason": self.reason,
        }


def list_backups(folder: Path) -> list[BackupFile]:
    """The backups in `folder`, oldest first."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob(f"{PREFIX}*{SUFFIX}"):
        stem = path.name[len(PREFIX) : -len(SUFFIX)]
        stamp, _, reason = stem.partition("-")
        try:
            created = datetime.strptime(stamp, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
            size = path.stat().st_size
        except (ValueError, OSError):
            continue
        found.append(BackupFile(path, created, size, reason or "manual"))
    return sorted(found, key=lambda b: (b.created, b.path.name))


def rotate(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups in `folder`; returns what was deleted."""
    backups = list_backups(folder)
    doomed = [b.path for b in backups[: max(0, len(backups) - max(1, keep))]]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def _keep(store: Store) -> int:
    """The `backups_keep` setting, read without the ORM (this also runs before migrations)."""
    raw = store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SELECT value FROM settings WHERE key = 'backups_keep'")
        row = cursor.fetchone()
        value = int(row[0]) if row else DEFAULT_KEEP
    except (sqlite3.Error, ValueError, TypeError):
        value = DEFAULT_KEEP
    finally:
        raw.close()
    return max(1, value)


def automatic(store: Store, reason: str) -> Path | None:
    """A backup before `reason` (prune, migration, restore, repair, daily) into the backups
    folder, then rotation. None when the collection is not a SQLite file."""
    if not supported(store):
        return None
    folder = backups_dir(store)
    path = backup(store, folder, reason=reason)
    rotate(folder, _keep(store))
    return path


def daily(store: Store) -> Path | None:
    """The once-a-day backup: made unless a backup of this collection is under a day old."""
    if not supported(store):
        return None
    folder = backups_dir(store)
    newest = list_backups(folder)
    if newest:
        try:
            age = time.time() - newest[-1].path.stat().st_mtime
        except OSError:
            age = DAILY_SECONDS
        if 0 <= age < DAILY_SECONDS:
            return None
    return automatic(store, "daily")


# -- database servers -----------------------------------------------------------------------


@dataclass(frozen=True)
class Backup:
    path: Path
    how: str = ""  # for the user: what made it and how to restore it (server backups)

    def __str__(self) -> str:
        return f"{self.path} ({self.how})" if self.how else str(self.path)


def before(store: Store, reason: str) -> Backup | None:
    """The backup made before a destructive operation (`reason`: prune, repair, rm ...):
    SQLite's online backup into the backups folder, or on PostgreSQL pg_dump or a copy.
    None when this collection cannot be backed up by pmcards (the caller warns, with
    `unsupported_message`)."""
    if supported(store):
        path = automatic(store, reason)
        return None if path is None else Backup(path)
    if store.dialect == "postgresql":
        return server_backup(store, backups_dir(store), reason=reason)
    return None


def on_request(store: Store, to: Path | None) -> Backup:
    """`pmcards backup [--to PATH]`: a backup now, into the backups folder (counted toward
    `backups_keep`), into an existing folder, or to a file."""
    if store.dialect == "postgresql":
        return server_backup(store, to or backups_dir(store))
    if not supported(store):
        raise PmcardsError(unsupported_message(store))
    if to is not None and to.is_dir():  # a timestamped file in that folder
        return Backup(backup(store, to))
    if to is not None:
        return Backup(backup_to_file(store, to))
    made = automatic(store, "manual")
    assert made is not None
    return Backup(made)


def server_backup(store: Store, dest: Path, *, reason: str = "manual") -> Backup:
    """Back up a collection on a PostgreSQL server to `dest`: a file, or a folder that gets
    a timestamped file. A file ending in `.dump` asks for pg_dump; `.sqlite3` for a copy."""
    if store.engine.dialect.name != "postgresql":
        raise PmcardsError(unsupported_message(store))
    if dest.suffix == DUMP_SUFFIX and shutil.which("pg_dump") is None:
        raise PmcardsError("a .dump backup needs pg_dump, which is not installed")
    use_pg_dump = dest.suffix == DUMP_SUFFIX or (
        dest.suffix != SUFFIX and shutil.which("pg_dump") is not None
    )
    if use_pg_dump:
        target = _server_target(dest, DUMP_SUFFIX, reason)
        error = _pg_dump(store, target)
        if error is None:
            return Backup(target, "pg_dump custom format; restore with pg_restore")
        if dest.suffix == DUMP_SUFFIX:
            raise PmcardsError(f"pg_dump failed: {error}")
        copy = _server_target(dest, SUFFIX, reason)
        return _copy_to_sqlite(store, copy, f"pg_dump failed ({error}); ")
    return _copy_to_sqlite(
        store, _server_target(dest, SUFFIX, reason), "pg_dump is not installed; "
    )


def _server_target(dest: Path, suffix: str, reason: str) -> Path:
    if dest.suffix not in (SUFFIX, DUMP_SUFFIX):
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        dest = dest / f"{PREFIX}{stamp}-{reason}{suffix}"
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PmcardsError(f"cannot create {dest.parent}: {exc.strerror}") from exc
    return dest


def _pg_dump(store: Store, target: Path) -> str | None:
    """Run pg_dump into `target`; returns None on success, else its first error line."""
    import sqlalchemy as sa

    url = sa.make_url(store.url)
    params: dict[str, str] = {k: v if isinstance(v, str) else v[-1] for k, v in url.query.items()}
    for key, value in (
        ("dbname", url.database),
        ("user", url.username),
        ("host", url.host),
        ("port", str(url.port) if url.port else None),
    ):
        if value:
            params[key] = value
    conninfo = " ".join(f"{k}='{_quote(v)}'" for k, v in params.items())
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)  # not on the command line, where ps shows it
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    try:
        done = subprocess.run(
            [
                "pg_dump",
                "--format=custom",
                "--no-owner",
                f"--file={target}",
                f"--dbname={conninfo}",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode != 0:
        target.unlink(missing_ok=True)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return lines[0].removeprefix("pg_dump: error: ") if lines else f"exit {done.returncode}"
    return None


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _copy_to_sqlite(store: Store, target: Path, why: str) -> Backup:
    from pmcards import transfer
    from pmcards.store import Store

    if target.exists():
        raise PmcardsError(f"{target} already exists")
    copy = Store(paths.sqlite_url(target))
    try:
        transfer.copy(store, copy)
    except BaseException:
        copy.close()
        for leftover in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
            leftover.unlink(missing_ok=True)
        raise
    copy.close()
    return Backup(target, f"{why}a SQLite copy made by pmcards; restore with pmcards db copy")


# -- restoring ------------------------------------------------------------------------------


def verify(file: Path) -> list[str]:
    """Check that `file` is a pmcards collection this version can open; returns its applied
    migrations. Raises PmcardsError saying what is wrong otherwise. Reads a private copy, so
    the file is never changed."""
    where = str(file)
    if not file.is_file():
        raise PmcardsError("no such file", path=where)
    with tempfile.TemporaryDirectory(prefix="pmcards-verify-") as tmp:
        copy = Path(tmp) / "copy.sqlite3"
        try:
            shutil.copyfile(file, copy)
        except OSError as exc:
            raise PmcardsError(f"cannot read file: {exc.strerror}", path=where) from exc
        return _verify_copy(copy, where)


def _verify_copy(copy: Path, where: str) -> list[str]:
    from pmcards import migrations as m

    try:
        conn = sqlite3.connect(copy)
        try:
            result = conn.execute("PRAGMA integrity_check").fetchall()
            if [r[0] for r in result] != ["ok"]:
                raise PmcardsError(
                    f"the file is damaged (integrity check: {result[0][0]})", path=where
                )
            tables = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            missing = [t for t in REQUIRED_TABLES if t not in tables]
            if missing:
                raise PmcardsError(
                    f"not a pmcards collection (no {missing[0]!r} table)", path=where
                )
            done = [
                r[0]
                for r in conn.execute(
                    f"SELECT name FROM {m.MIGRATIONS_TABLE} ORDER BY applied_at, name"
                )
            ]
            objects = set(conn.execute("SELECT type, name FROM sqlite_master").fetchall())
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise PmcardsError(f"not a pmcards collection ({exc})", path=where) from None
    known = [name for name, _ in m.MIGRATIONS]
    unknown = [name for name in done if name not in known]
    if unknown:
        raise PmcardsError(
            f"written by a newer pmcards (unknown migration {unknown[0]}): upgrade pmcards "
            "to restore it",
            path=where,
        )
    if sorted(done) != sorted(known[: len(done)]):
        raise PmcardsError(f"its schema history is not one pmcards wrote: {done}", path=where)
    # A trigger or a view that pmcards did not make could delete or change answers once the
    # file is the collection: such a file is refused.
    foreign = sorted(objects - m.sqlite_objects(len(done)))
    if foreign:
        kind, name = foreign[0]
        raise PmcardsError(
            f"it holds a {kind} {name!r} that pmcards does not make: not restored (it "
            "could change or delete what you study)",
            path=where,
        )
    return done


def restore(store: Store, file: Path) -> Path:
    """Replace the collection's content with `file` (a verified pmcards collection),
    after backing the current collection up; returns that backup's path.

    The copy is made with the online backup API into the open collection: one write
    transaction, so another pmcards process sees either the old collection or the restored
    one, never a mix, and the file is never replaced under a process that has it open.
    A restored file from an older pmcards is migrated afterwards.
    """
    if not supported(store):
        raise PmcardsError(unsupported_message(store))
    verify(file)
    safety = automatic(store, "restore")
    assert safety is not None
    with tempfile.TemporaryDirectory(prefix="pmcards-restore-") as tmp:
        copy = Path(tmp) / "restore.sqlite3"
        try:
            shutil.copyfile(file, copy)
            _verify_copy(copy, str(file))
            source = sqlite3.connect(copy)
            try:
                # The live collection is in WAL mode, where the page size cannot change:
                # give the copy the same page size first.
                page_size = _page_size(store)
                if source.execute("PRAGMA page_size").fetchone()[0] != page_size:
                    source.execute("PRAGMA journal_mode = DELETE")
                    source.execute(f"PRAGMA page_size = {page_size}")
                    source.execute("VACUUM")
                raw = store.engine.raw_connection()
                try:
                    target = raw.driver_connection
                    assert isinstance(target, sqlite3.Connection)
                    source.backup(target)
                finally:
                    raw.close()
            finally:
                source.close()
        except sqlite3.Error as exc:
            raise PmcardsError(
                f"restore from {file} failed, the collection is unchanged: {exc}"
            ) from exc
        except OSError as exc:
            raise PmcardsError(f"cannot read {file}: {exc.strerror}") from exc
    store.engine.dispose()
    store.migrate()
    return safety


def _page_size(store: Store) -> int:
    with store.engine.connect() as conn:
        value = conn.exec_driver_sql("PRAGMA page_size").scalar()
    return int(value or 4096)
