"""Backups of the collection, made with SQLite's online backup API.

The backup is a consistent copy even while another pmcards process is writing (WAL mode):
SQLite copies the pages itself, so it is never a half-written file copy.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from pmcards import paths
from pmcards.errors import PmcardsError
from pmcards.store import Store


def backups_dir() -> Path:
    return paths.data_dir() / "backups"


def backup(store: Store, dest: Path) -> Path:
    """Copy the collection to `dest`: a file, or a folder that gets a timestamped file.

    Returns the backup's path. Only SQLite collections can be backed up this way.
    """
    if store.engine.dialect.name != "sqlite" or paths.sqlite_path(store.url) is None:
        raise PmcardsError(f"backups need a SQLite collection file; {store.location} is not one")
    if dest.suffix != ".sqlite3":
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        dest = dest / f"collection-{stamp}.sqlite3"
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PmcardsError(f"cannot create {dest.parent}: {exc.strerror}") from exc
    raw = store.engine.raw_connection()
    try:
        source = raw.driver_connection
        assert isinstance(source, sqlite3.Connection)
        target = sqlite3.connect(dest)
        try:
            source.backup(target)
        finally:
            target.close()
    except sqlite3.Error as exc:
        raise PmcardsError(f"backup to {dest} failed: {exc}") from exc
    finally:
        raw.close()
    return dest
