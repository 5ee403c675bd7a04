"""Opening the collection for a command: the policy around the engine.

`Store` is the engine and its transactions. What happens when a command opens the
collection is decided here: a collection with content is backed up before its schema is
migrated, the day's backup is made if none is under a day old, and the built-in decks are
imported on first use, unless the collection's very first command is an import (the user
brings their own cards; `pmcards import --builtin` adds the built-in decks any time).
Messages for the user are returned, never printed: the CLI prints.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pmcards import backup, paths
from pmcards.errors import PmcardsError
from pmcards.store import Store

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# Said when a collection began with an import of the user's own cards.
NO_BUILTINS = (
    "The built-in decks were not added: this collection began with an import. "
    "Add them any time with: pmcards import --builtin"
)


@dataclass
class Opened:
    """An open collection and what opening it did that the user should hear about."""

    store: Store
    welcome: str | None = None  # the built-in decks were imported just now
    warnings: list[str] = field(default_factory=list)


@contextmanager
def opened(
    url: str,
    now: datetime,
    *,
    builtins: bool = True,
    daily_backup: bool = True,
    checkpoint_when_idle: bool = False,
) -> Iterator[Opened]:
    """Open the collection at `url` for one command, closed when the block ends."""
    file = paths.sqlite_path(url)
    try:
        existed = file is not None and file.exists()
    except OSError as exc:  # a name too long for the file system, a loop of links ...
        from pmcards.markup import cut

        where = cut(paths.describe(url), 80)
        raise PmcardsError(f"cannot use the collection at {where}: {exc.strerror}") from None
    store = Store(url, migrate=False, checkpoint_when_idle=checkpoint_when_idle)
    try:
        result = Opened(store)
        clean_leftovers(store)
        migrate(store)
        if existed and daily_backup:
            try:
                backup.daily(store)
            except PmcardsError as exc:
                # Not fatal: the command itself may only read.
                result.warnings.append(f"the daily backup failed: {exc}")
        if builtins:
            result.welcome = first_use(store, now)
        yield result
    finally:
        store.close()


# What a killed process leaves behind and nothing else would remove: a backup half written
# (`.NAME.partial` in the backups folder), a media file half written (`.NAME.tmp`), the
# temporary folders of package imports and exports, restores and backups. Removed once they
# are old enough that no running pmcards can still be writing them.
LEFTOVER_AGE = timedelta(hours=1)
TEMP_PREFIXES = ("pmcards-apkg-", "pmcards-verify-", "pmcards-restore-", "pmcards-backup-")


def clean_leftovers(store: Store) -> list[Path]:
    """Remove leftovers of killed processes (see LEFTOVER_AGE); never fails. Returns what
    was removed. Ages are the file system's, so they are measured by its clock, not by the
    pinned time of PMCARDS_NOW."""
    import shutil
    import tempfile
    import time

    cutoff = time.time() - LEFTOVER_AGE.total_seconds()
    candidates: list[Path] = []
    with contextlib.suppress(OSError):
        candidates += paths.backups_dir(store.url).glob(".*.partial")
    with contextlib.suppress(OSError):
        candidates += paths.media_dir(store.url).glob(".*.tmp")
    with contextlib.suppress(OSError):
        candidates += [
            p
            for p in Path(tempfile.gettempdir()).iterdir()
            if p.name.startswith(TEMP_PREFIXES) and p.is_dir() and p.stat().st_uid == os.getuid()
        ]
    removed = []
    for path in candidates:
        with contextlib.suppress(OSError):
            if path.lstat().st_mtime >= cutoff:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
    return removed


def migrate(store: Store) -> list[str]:
    """Migrate the schema, backing a collection with content up first."""
    if not store.pending_migrations():
        return []  # every command's case: one read, not the two of checking twice
    if not store.is_new():
        backup.automatic(store, "migration")
    return store.migrate()


def first_use(store: Store, now: datetime) -> str | None:
    """Import the built-in decks into a collection that has never had them; returns the
    welcome message when it did."""
    from pmcards import settings

    with store.read() as conn:
        if settings.get_raw(conn, settings.BUILTIN_FLAG):
            return None
    # The importer (and its formats) load only when there is something to import.
    from pmcards import importer

    with store.write() as conn:
        report = importer.ensure_builtin_decks(conn, now)
    if report is None or not report.total("added"):
        return None
    return (
        f"Welcome to pmcards: imported {report.total('added')} built-in notes "
        f"in {len(report.decks)} decks into {store.location}"
    )


def skip_builtins(conn: Connection) -> bool:
    """In an import's transaction: if the collection has never had its first use (the
    built-in decks), this import is its first command, so mark first use done without the
    built-in decks. Returns True when it was (the CLI then says how to add them)."""
    from pmcards import settings

    if settings.get_raw(conn, settings.BUILTIN_FLAG):
        return False
    # The flag means "first use is done": later commands add no built-in decks either.
    settings.save(conn, settings.BUILTIN_FLAG, True)
    return True
