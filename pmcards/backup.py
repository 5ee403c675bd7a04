"""Backups of the collection, consistent even while another pmcards process is writing.

- SQLite: SQLite's online backup API copies the pages itself (never a half-written file copy).
- PostgreSQL: `pg_dump` (custom format, restore with `pg_restore`) when it is installed;
  otherwise, or when it fails (say, older than the server), pmcards' own copy of the
  collection into a SQLite file, which `pmcards db copy` restores. Either way the caller is
  told which one was made.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pmcards import paths
from pmcards.errors import PmcardsError
from pmcards.store import Store

SQLITE_SUFFIX = ".sqlite3"
DUMP_SUFFIX = ".dump"


@dataclass(frozen=True)
class Backup:
    path: Path
    how: str  # for the user: what made it and how to restore it

    def __str__(self) -> str:
        return f"{self.path} ({self.how})"


def backups_dir() -> Path:
    return paths.data_dir() / "backups"


def backup(store: Store, dest: Path) -> Backup:
    """Back the collection up to `dest`: a file, or a folder that gets a timestamped file.

    A file ending in `.dump` asks for `pg_dump` (PostgreSQL only); one ending in `.sqlite3`
    for a SQLite collection file.
    """
    dialect = store.engine.dialect.name
    if dialect == "postgresql":
        use_pg_dump = dest.suffix == DUMP_SUFFIX or (
            dest.suffix != SQLITE_SUFFIX and shutil.which("pg_dump") is not None
        )
        if dest.suffix == DUMP_SUFFIX and shutil.which("pg_dump") is None:
            raise PmcardsError("a .dump backup needs pg_dump, which is not installed")
        if use_pg_dump:
            target = _target(dest, DUMP_SUFFIX)
            error = _pg_dump(store, target)
            if error is None:
                return Backup(target, "pg_dump custom format; restore with pg_restore")
            if dest.suffix == DUMP_SUFFIX:
                raise PmcardsError(f"pg_dump failed: {error}")
            return _copy_to_sqlite(
                store, _target(dest, SQLITE_SUFFIX), f"pg_dump failed ({error}); "
            )
        return _copy_to_sqlite(store, _target(dest, SQLITE_SUFFIX), "pg_dump is not installed; ")
    if dialect != "sqlite" or paths.sqlite_path(store.url) is None:
        raise PmcardsError(
            f"backups need a SQLite file or a PostgreSQL database; {store.location} is neither"
        )
    target = _target(dest, SQLITE_SUFFIX)
    raw = store.engine.raw_connection()
    try:
        source = raw.driver_connection
        assert isinstance(source, sqlite3.Connection)
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
    except sqlite3.Error as exc:
        raise PmcardsError(f"backup to {target} failed: {exc}") from exc
    finally:
        raw.close()
    return Backup(target, "SQLite online backup")


def _target(dest: Path, suffix: str) -> Path:
    if dest.suffix not in (SQLITE_SUFFIX, DUMP_SUFFIX):
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        dest = dest / f"collection-{stamp}{suffix}"
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
