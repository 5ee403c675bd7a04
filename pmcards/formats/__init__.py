"""Deck file formats. Each format is one module exposing `parse(path) -> ParsedDeck`
(or a list of them, for formats that hold several decks, such as Anki packages).

A new format is a new module plus one line in `FORMATS` (and its extensions in `SUFFIXES`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pmcards.errors import DeckFormatError


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
    state: int  # models.NEW / LEARNING / REVIEW / RELEARNING
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


@dataclass(frozen=True)
class MediaFile:
    """A media file from a package, under the safe name it is stored as."""

    name: str
    data: bytes


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


# format name -> module in pmcards.formats
FORMATS = {
    "toml": "toml_deck",
    "md": "markdown",
    "csv": "csv_deck",
    "tsv": "csv_deck",
    "apkg": "apkg",
}
SUFFIXES = {
    ".toml": "toml",
    ".md": "md",
    ".markdown": "md",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "tsv",  # Anki's "Notes in Plain Text" export
    ".apkg": "apkg",
    ".colpkg": "apkg",
}
FORMAT_NAMES = ("auto", *FORMATS)


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


def parse(path: Path, fmt: str = "auto", *, stream: bool = False) -> list[ParsedDeck]:
    """Parse a deck file into its decks, choosing the format by its extension unless given.

    With `stream`, a format that can (TOML) leaves a big file's notes to be read as they
    are imported: see `ParsedDeck.batches`.
    """
    import importlib

    name = detect(path, fmt)
    module = importlib.import_module(f"pmcards.formats.{FORMATS[name]}")
    options: dict[str, object] = {"dialect": name} if name in ("csv", "tsv") else {}
    if stream and name == "toml":
        options["stream"] = True
    result = module.parse(path, **options)
    if isinstance(result, ParsedDeck):
        return [result]
    decks: list[ParsedDeck] = result
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
