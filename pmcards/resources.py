"""The data folders that ship with pmcards: `decks/` and `templates/`.

In a built wheel they live in `pmcards/_data/`; in a source checkout (an editable install)
they are the repository's top-level folders.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data(name: str) -> Path:
    installed = _PACKAGE / "_data" / name
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / name


def decks_dir() -> Path:
    return _data("decks")


def templates_dir() -> Path:
    return _data("templates")
