"""Deck file formats, and the one registry of them.

A format is one module under `pmcards.formats` exposing `parse(path, options) ->
list[ParsedDeck]` and, if pmcards writes it, `write(conn, options, out)`; it is
registered by one `Format` entry in `FORMATS` below, which gives its name, its file
extensions and the options it takes. The CLI's choices, the extension map and the help text
all come from this registry (a test checks it), so a new format is its module plus one entry.
What a parser returns is in `parsed.py`; what a parser or an export is asked, `options.py`.

This module stays light (no SQLAlchemy, not even dataclasses): the CLI reads the registry
to build `--help`.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple

from pmcards.errors import DeckFormatError

if TYPE_CHECKING:
    from pmcards.formats.parsed import ParsedDeck

# Limits every format enforces on what it reads.
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_FIELD_CHARS = 20_000
# A note id and a tag: what every format accepts (and an Anki GUID or tag is mapped onto).
GUID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
# Tags are Anki's (any printable character but a space: `C++`, `c#`, `Q&A`, `50%`), less the
# comma, which separates tags in a Markdown deck, and the double quote.
TAG = re.compile(r'^[^\s,"\x00-\x1f\x7f]{1,64}$')
TAG_RULE = "no spaces, commas or double quotes, at most 64 characters"
# The ids a format makes from a note's first field, for a note written without one
# (Markdown `md-…`, CSV `csv-…`): editing that field makes a new id.
GENERATED_ID = re.compile(r"^(md|csv)-[0-9a-f]{12}$")


class Format(NamedTuple):
    """A deck format: its module, the file extensions it is chosen by, what it can do."""

    name: str
    module: str  # in pmcards.formats: parse(path, options), and write(conn, options, out)
    suffixes: tuple[str, ...]
    description: str
    # The module with `write`, when it is not `module` (None: pmcards does not write it).
    writer: str | None = ""
    # Options of `pmcards export` that only this format takes (ExportOptions' field names).
    export_options: frozenset[str] = frozenset()
    binary: bool = False  # written to a file only (-o), never to standard output
    # A file holds exactly one deck: `export -o DIR/` writes one file per deck.
    one_deck: bool = False

    @property
    def writer_module(self) -> str | None:
        if self.writer is None:
            return None
        return f"pmcards.formats.{self.writer or self.module}"


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("toml", "toml_deck", (".toml",), "pmcards' own TOML deck file", one_deck=True),
        Format("md", "markdown", (".md", ".markdown"), "a Markdown deck file", one_deck=True),
        Format("csv", "csv_deck", (".csv",), "CSV with a header row (or Anki's text export)"),
        # Anki's "Notes in Plain Text" export is .txt, tab-separated.
        Format("tsv", "csv_deck", (".tsv", ".tab", ".txt"), "tab-separated, as csv"),
        Format(
            "apkg",
            "apkg",
            (".apkg", ".colpkg"),
            "an Anki package",
            # Reading and writing a package are each long enough for a module.
            writer="apkg_export",
            export_options=frozenset({"with_history"}),
            binary=True,
        ),
    )
}
SUFFIXES: dict[str, str] = {suffix: f.name for f in FORMATS.values() for suffix in f.suffixes}


def detect(path: Path, fmt: str = "auto") -> str:
    """The format of `path`: `fmt` if given, else chosen by the file's extension."""
    if fmt != "auto":
        if fmt not in FORMATS:
            raise DeckFormatError(f"unknown format {fmt!r}", path=str(path))
        return fmt
    found = SUFFIXES.get(path.suffix.lower())
    if found is None:
        known = ", ".join(sorted(SUFFIXES))
        raise DeckFormatError(
            f"unknown deck format {path.suffix!r} (known: {known}; or give --format)",
            path=str(path),
        )
    return found


def check_file(path: Path) -> None:
    """Refuse what is not a regular file (a device such as /dev/zero, a FIFO, a folder)
    before reading a byte: a deck file is read more than once and must end."""
    import os
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise DeckFormatError(f"cannot read file: {exc.strerror}", path=str(path)) from None
    if not stat.S_ISREG(mode):
        what = "a folder" if stat.S_ISDIR(mode) else "a device or a pipe"
        raise DeckFormatError(f"not a deck file: {what}, not a regular file", path=str(path))


def module(name: str) -> ModuleType:
    """The module of the format `name`."""
    import importlib

    return importlib.import_module(f"pmcards.formats.{FORMATS[name].module}")


def parse(path: Path, fmt: str = "auto", *, stream: bool = False) -> list[ParsedDeck]:
    """Parse a deck file into its decks, choosing the format by its extension unless given.

    With `stream`, a format that can (TOML) leaves a big file's notes to be read as they
    are imported: see `ParsedDeck.batches`.
    """
    from pmcards.formats.options import ParseOptions

    name = detect(path, fmt)
    check_file(path)
    decks: list[ParsedDeck] = module(name).parse(path, ParseOptions(name, stream=stream))
    return decks
