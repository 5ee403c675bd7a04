"""What a deck format's parser returns: decks of notes, and what another program's
scheduling, history and media bring with them."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pmcards import jsontext
from pmcards.errors import DeckFormatError
from pmcards.media import MediaFile


@dataclass(frozen=True, slots=True)
class ParsedReview:
    """One answer from another program's review history."""

    reviewed_at: datetime
    rating: int  # 1 Again .. 4 Easy
    duration_ms: int | None = None


@dataclass(frozen=True, slots=True)
class ParsedCard:
    """Scheduling carried over from another program (an Anki package) for one card."""

    ord: int
    state: int  # a cardstate.State
    due: datetime | None = None
    # Due on this study day (Anki keeps reviews' due dates as days): the importer makes it
    # the start of that day, with the collection's rollover hour. `due` wins when given.
    due_date: date | None = None
    stability: float | None = None
    difficulty: float | None = None
    interval_days: float | None = None
    reps: int = 0
    lapses: int = 0
    suspended: bool = False
    reviews: tuple[ParsedReview, ...] = ()
    # A learning card's steps left, as Anki counts them (`left`): its step, read against the
    # collection's own steps (cardstate.step_from_remaining).
    remaining_steps: int | None = None
    last_review: datetime | None = None  # when the source knows it (Anki's `lrt`)
    buried: bool = False  # until the next study day
    flag: int = 0  # Anki's flag colour, 0 for none
    # When the source last changed the card: a burial from an earlier study day is over.
    modified: datetime | None = None


@dataclass(frozen=True, slots=True)
class AnkiSource:
    """The Anki note a parsed note came from: its note type and its fields as Anki had them,
    kept so that the note goes back into Anki under that note type, field for field."""

    notetype_id: int  # Anki's id of the note type
    notetype_name: str
    notetype: str  # the note type as Anki's schema-11 JSON (shared by its notes)
    fields: tuple[str, ...]  # the fields' HTML, in the note type's order
    mod: int  # Anki's modification time of the note, in seconds


# json.dumps(parts, sort_keys=True, ensure_ascii=False), without making an encoder a note.
_checksum_json = jsontext.encoder(sort_keys=True)


@dataclass(frozen=True, slots=True)
class ParsedNote:
    guid: str
    kind: str
    fields: dict[str, str]
    tags: tuple[str, ...]
    section: str
    line: int | None  # where the note starts in its file, for error messages
    cards: tuple[ParsedCard, ...] = ()  # scheduling from the source, when it has any
    anki: AnkiSource | None = None  # the Anki note it came from (an Anki package)
    lint_ignore: tuple[str, ...] = ()  # the `pmcards lint` rules the note silences
    # Detects edits: the id stays, the checksum changes. (Slots, not a per-note __dict__:
    # a 100,000-note import holds every note at once.)
    checksum: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts: list[object] = [self.kind, self.fields, sorted(self.tags), self.section]
        if self.lint_ignore:
            # Only when set, so the checksums of notes without one stay what they were.
            parts.append(sorted(self.lint_ignore))
        payload = _checksum_json(parts)
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
    # What must live as long as the deck: the temporary folder its media were extracted to
    # (removed when the deck is no longer used).
    keep: Any = field(default=None, repr=False, compare=False)
    # False when the file did not name its deck (the name is the file's stem).
    named: bool = True
    # A big file parsed as it is imported: its notes come from `stream()`, a batch at a
    # time, and `notes` stays empty; `expected` is about how many there are (for progress).
    stream: Callable[[], Iterator[list[ParsedNote]]] | None = field(
        default=None, repr=False, compare=False
    )
    expected: int | None = field(default=None, repr=False, compare=False)
    # Anki's files (a package, a text export): a note that Anki moved to another deck follows
    # it (pmcards' own files must name a note's deck where it is), and the cards' scheduling
    # and history merge into the collection's (see `importer`).
    from_anki: bool = False

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
    """A text deck file as a str: size-checked, UTF-8 (a BOM is allowed), newlines as \\n
    whichever line ends it was written with."""
    where = str(path)
    limit = f"the limit is {max_bytes // 1_048_576} MB"
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                raise DeckFormatError(f"file is {size // 1_048_576} MB; {limit}", path=where)
            # At most one byte past the limit: a file that grows while it is read is
            # refused without being read whole.
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise DeckFormatError(f"cannot read file: {exc.strerror}", path=where) from exc
    if len(data) > max_bytes:
        raise DeckFormatError(f"file is over {max_bytes // 1_048_576} MB; {limit}", path=where)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DeckFormatError("not valid UTF-8 text", path=where, line=line) from None
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise DeckFormatError("a NUL character: not a text file", path=where, line=line)
    # Windows (\r\n) and classic Mac (\r) line ends both read as \n.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def text_lines(path: Path, max_bytes: int, block: int = 1 << 20) -> Iterator[str]:
    """A text deck file's lines as `read_text` would give them (each ending in \\n but maybe
    the last), read a block at a time, so a big file is never in memory whole. The same
    refusals as `read_text`, raised when the reader gets there: a file that is too big (or
    grows past the limit), one that is not UTF-8, one with a NUL character."""
    import codecs

    where = str(path)
    limit = f"the limit is {max_bytes // 1_048_576} MB"
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise DeckFormatError(f"cannot read file: {exc.strerror}", path=where) from exc
    with handle:
        size = os.fstat(handle.fileno()).st_size
        if size > max_bytes:
            raise DeckFormatError(f"file is {size // 1_048_576} MB; {limit}", path=where)
        decoder = codecs.getincrementaldecoder("utf-8-sig")()
        read = 0
        newlines = 0  # \n bytes before this block: the line of an error, as read_text says
        pending = ""
        while True:
            try:
                data = handle.read(block)
            except OSError as exc:
                raise DeckFormatError(f"cannot read file: {exc.strerror}", path=where) from exc
            read += len(data)
            if read > max_bytes:
                raise DeckFormatError(
                    f"file is over {max_bytes // 1_048_576} MB; {limit}", path=where
                )
            try:
                text = decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                line = newlines + exc.object[: exc.start].count(b"\n") + 1
                raise DeckFormatError("not valid UTF-8 text", path=where, line=line) from None
            nul = text.find("\x00")
            if nul >= 0:
                line = newlines + text.count("\n", 0, nul) + 1
                raise DeckFormatError("a NUL character: not a text file", path=where, line=line)
            newlines += data.count(b"\n")
            text = pending + text
            if data and text.endswith("\r"):
                text, pending = text[:-1], "\r"  # a \r\n cut by the block boundary
            else:
                pending = ""
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            if not data:
                if text:
                    yield text
                return
            lines = text.split("\n")
            pending = lines.pop() + pending
            for line_text in lines:
                yield line_text + "\n"
