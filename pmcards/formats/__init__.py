"""Deck file formats, and the one registry of them.

A format is one module under `pmcards.formats` exposing `parse(path, options) ->
list[ParsedDeck]` and, if pmcards writes it, `export(conn, options) -> bytes`; it is
registered by one `Format` entry in `FORMATS` below, which gives its name, its file
extensions and the options it takes. The CLI's choices, the extension map and the help text
all come from this registry (a test checks it), so a new format is its module plus one entry.

This module stays light (no SQLAlchemy): the CLI reads the registry to build `--help`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pmcards.errors import DeckFormatError
from pmcards.media import MediaFile

if TYPE_CHECKING:
    from pmcards.queries import Scope

# Limits every format enforces on what it reads.
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_FIELD_CHARS = 20_000
# A note id and a tag: what every format accepts (and an Anki GUID or tag is mapped onto).
GUID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
TAG = re.compile(r"^\w[\w:./-]{0,63}$")


@dataclass(frozen=True)
class ParsedReview:
    """One answer from another program's review history."""

    reviewed_at: datetime
    rating: int  # 1 Again .. 4 Easy
    duration_ms: int | None = None


@dataclass(frozen=True)
class ParsedCard:
    """Scheduling carried over from another program (an Anki package) for one card."""

    ord: int
    state: int  # a cardstate.State
    due: datetime | None = None
    stability: float | None = None
    difficulty: float | None = None
    interval_days: float | None = None
    reps: int = 0
    lapses: int = 0
    suspended: bool = False
    reviews: tuple[ParsedReview, ...] = ()


@dataclass(frozen=True, slots=True)
class ParsedNote:
    guid: str
    kind: str
    fields: dict[str, str]
    tags: tuple[str, ...]
    section: str
    line: int | None  # where the note starts in its file, for error messages
    cards: tuple[ParsedCard, ...] = ()  # scheduling from the source, when it has any
    # Detects edits: the id stays, the checksum changes. (Slots, not a per-note __dict__:
    # a 100,000-note import holds every note at once.)
    checksum: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        payload = json.dumps(
            [self.kind, self.fields, sorted(self.tags), self.section],
            sort_keys=True,
            ensure_ascii=False,
        )
        object.__setattr__(self, "checksum", hashlib.sha256(payload.encode()).hexdigest())


@dataclass
class ParsedDeck:
    path: str
    name: str
    description: str = ""
    notes: list[ParsedNote] = field(default_factory=list)
    # Things in the file that pmcards could not use: reported, never silently dropped.
    warnings: list[str] = field(default_factory=list)
    media: list[MediaFile] = field(default_factory=list)
    # False when the file did not name its deck (the name is the file's stem).
    named: bool = True
    # A big file parsed as it is imported: its notes come from `stream()`, a batch at a
    # time, and `notes` stays empty; `expected` is about how many there are (for progress).
    stream: Callable[[], Iterator[list[ParsedNote]]] | None = field(
        default=None, repr=False, compare=False
    )
    expected: int | None = field(default=None, repr=False, compare=False)

    def batches(self, size: int = 1000) -> Iterator[list[ParsedNote]]:
        """The notes, `size` at a time (a streamed deck: as its file is read)."""
        if self.stream is not None:
            yield from self.stream()
            return
        for start in range(0, len(self.notes), size):
            yield self.notes[start : start + size]

    def count(self) -> int:
        """How many notes: exact once parsed, an estimate while streamed."""
        if self.stream is not None:
            return self.expected or 0
        return len(self.notes)


@dataclass(frozen=True)
class Format:
    """A deck format: its module, the file extensions it is chosen by, what it can do."""

    name: str
    module: str  # in pmcards.formats: parse(path, options), and export(conn, options)
    suffixes: tuple[str, ...]
    description: str
    # The module with `export`, when it is not `module` (None: pmcards does not write it).
    writer: str | None = ""
    # Options of `pmcards export` that only this format takes (ExportOptions' field names).
    export_options: frozenset[str] = frozenset()
    binary: bool = False  # written to a file only (-o), never to standard output

    @property
    def writer_module(self) -> str | None:
        if self.writer is None:
            return None
        return f"pmcards.formats.{self.writer or self.module}"


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("toml", "toml_deck", (".toml",), "pmcards' own TOML deck file"),
        Format("md", "markdown", (".md", ".markdown"), "a Markdown deck file"),
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


@dataclass(frozen=True)
class ParseOptions:
    """What a parser may be asked besides the path."""

    name: str  # the format's name (csv_deck serves csv and tsv)
    stream: bool = False  # a big file's notes may be read while they are imported


@dataclass(frozen=True)
class ExportOptions:
    """What `pmcards export` asks of an export (deck formats here, pages in `exporters`)."""

    format: str = "toml"
    scope: Scope | None = None  # None: everything
    order: str = "deck"
    on: date | None = None
    mode: str = "full"
    paper: str = "a4"
    template: Path | None = None
    with_history: bool = False
    # The moment the export is made (the CLI passes it; pages print it and predict from it).
    now: Any = field(default=None)


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


def module(name: str) -> Any:
    """The module of the format `name`."""
    import importlib

    return importlib.import_module(f"pmcards.formats.{FORMATS[name].module}")


def parse(path: Path, fmt: str = "auto", *, stream: bool = False) -> list[ParsedDeck]:
    """Parse a deck file into its decks, choosing the format by its extension unless given.

    With `stream`, a format that can (TOML) leaves a big file's notes to be read as they
    are imported: see `ParsedDeck.batches`.
    """
    name = detect(path, fmt)
    decks: list[ParsedDeck] = module(name).parse(path, ParseOptions(name, stream=stream))
    return decks


def read_text(path: Path, max_bytes: int) -> str:
    """A text deck file as a str: size-checked, UTF-8 (a BOM is allowed), newlines as \\n."""
    where = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DeckFormatError(f"cannot read file: {exc.strerror}", path=where) from exc
    if len(data) > max_bytes:
        raise DeckFormatError(
            f"file is {len(data) // 1_048_576} MB; the limit is {max_bytes // 1_048_576} MB",
            path=where,
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DeckFormatError("not valid UTF-8 text", path=where, line=line) from None
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise DeckFormatError("a NUL character: not a text file", path=where, line=line)
    return text.replace("\r\n", "\n")
