"""Where the collection lives: resolved in one place.

Kept free of heavy imports: `pmcards --help` and `pmcards db path` load this module only.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_DB = "PMCARDS_DB"
ENV_HOME = "PMCARDS_HOME"
DB_FILENAME = "collection.sqlite3"


def data_dir() -> Path:
    """The user data directory: `PMCARDS_HOME` if set, else the platform's user data dir."""
    home = os.environ.get(ENV_HOME)
    if home:
        return Path(home)
    import platformdirs

    return Path(platformdirs.user_data_dir("pmcards", appauthor=False))


def resolve_db_url(value: str | None) -> str:
    """Turn `--db` / `PMCARDS_DB` (a SQLAlchemy URL or a plain file path) into a URL.

    With neither given, the collection is a SQLite file in the user data directory.
    """
    if not value:
        value = os.environ.get(ENV_DB) or None
    if not value:
        return sqlite_url(data_dir() / DB_FILENAME)
    if "://" in value:
        return value
    return sqlite_url(Path(value).expanduser())


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases and in-memory SQLite."""
    if not url.startswith("sqlite"):
        return None
    rest = url.split("://", 1)[1]
    if rest.startswith("/"):
        rest = rest[1:]
    rest = rest.split("?", 1)[0]
    if rest in ("", ":memory:"):
        return None
    return Path(rest)


def describe(url: str) -> str:
    """The database location for humans: the file path for SQLite, the URL without password."""
    path = sqlite_path(url)
    if path is not None:
        return str(path)
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url
