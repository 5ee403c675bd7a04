"""The project's own exceptions: every expected failure is a message for the user."""

from __future__ import annotations

import re

_ONE_LINE = re.compile(r"\s*[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+\s*")


class PmcardsError(Exception):
    """A failure the user can act on. The CLI prints it on one line and exits 1."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        # One line, always, and nothing a terminal acts on: a message may quote text from a
        # file or from SQLite that holds line breaks or escape sequences (a damaged schema,
        # a hostile field or deck name).
        from pmcards.markup import safe

        message = safe(_ONE_LINE.sub(" ", message))
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line

    def __str__(self) -> str:
        from pmcards.markup import safe

        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        return safe(where) + self.message


class DeckFormatError(PmcardsError):
    """A deck file that cannot be imported."""


class SchemaError(PmcardsError):
    """A database whose schema this version of pmcards cannot use."""


class SettingError(PmcardsError):
    """A configuration key or value that is not valid."""


class BadValueError(PmcardsError):
    """A command-line value that names nothing in the collection (an unknown deck or tag):
    known only once the collection is open, and reported by the CLI as a usage error."""
