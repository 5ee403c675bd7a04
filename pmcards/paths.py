"""Where the collection lives, and every place derived from it: resolved in one place.

The collection is a SQLite file or a database URL (`--db`, `PMCARDS_DB`, else the data
directory's `collection.sqlite3`). Its media folder and its backups folder belong to it: the
default collection keeps `media/` and `backups/` in the data directory (where they always
were); any other SQLite file keeps `<name>.media/` beside itself (as Anki does) and a
backups subfolder of its own; a server's collection keeps both under the data directory,
named after its host and database, so two collections never share either.

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
        return Path(home).expanduser()
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


def is_default(url: str) -> bool:
    """Whether `url` is the default collection in the data directory."""
    file = sqlite_path(url)
    return file is not None and file.resolve() == (data_dir() / DB_FILENAME).resolve()


def _tag(url: str) -> str:
    """A short, stable name for a non-default collection's folders."""
    import hashlib

    file = sqlite_path(url)
    key = str(file.resolve()) if file is not None else describe(url)
    digest = hashlib.sha1(key.encode()).hexdigest()[:8]
    if file is not None:
        return f"{file.stem}-{digest}"
    rest = describe(url).split("@")[-1].split("?")[0]
    name = "".join(c if c.isalnum() or c in "-_." else "-" for c in rest.split("://")[-1])
    return f"{name.strip('-')[:60]}-{digest}"


def media_dir(url: str) -> Path:
    """The collection's media folder (images and sounds its cards show)."""
    if is_default(url):
        return data_dir() / "media"
    file = sqlite_path(url)
    if file is not None:
        return file.with_name(f"{file.stem}.media")
    return data_dir() / "media" / _tag(url)


def backups_dir(url: str) -> Path:
    """The folder of the collection's automatic backups."""
    base = data_dir() / "backups"
    return base if is_default(url) else base / _tag(url)
