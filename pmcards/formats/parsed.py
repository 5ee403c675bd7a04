"""What a deck format's parser returns: decks of notes, and what another program's
scheduling, history and media bring with them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pmcards.errors import DeckFormatError
from pmcards.media import MediaFile


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
    lint_ignore: tuple[str, ...] = ()  # the `pmcards lint` rules the note silences
    # Detects edits: the id stays, the checksum changes. (Slots, not a per-note __dict__:
    # a 100,000-note import holds every note at once.)
    checksum: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts: list[object] = [self.kind, self.fields, sorted(self.tags), self.section]
        if self.lint_ignore:
            # Only when set, so the checksums of notes without one stay what they were.
            parts.append(sorted(self.lint_ignore))
        payload = json.dumps(parts, sort_keys=True, ensure_ascii=False)
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
