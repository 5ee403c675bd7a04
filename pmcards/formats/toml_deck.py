"""The TOML deck format: pmcards' own, human-written format (see docs/formats.md).

[deck]
name = "Framing and judgement"

[[note]]
id = "frm-001"
kind = "reframe"
tags = ["framing"]
not = "technical fluency"
but = "product framing"
why = "..."
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

# tomli is the parser that became the standard library's tomllib, with the same syntax and
# errors, but shipped compiled (mypyc): three times faster on a 10,000-note deck.
import tomli

from pmcards.errors import DeckFormatError
from pmcards.formats import GUID, MAX_FIELD_CHARS, MAX_FILE_BYTES, TAG, TAG_RULE
from pmcards.formats.options import ParseOptions
from pmcards.formats.parsed import ParsedDeck, ParsedNote
from pmcards.kinds import KINDS, QA, note_problem
from pmcards.lint import unknown_rules

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from pmcards.formats.options import ExportOptions
    from pmcards.rows import Note
# A [[note]] line. TOML's whitespace is spaces and tabs only, and its lines end at \n (not
# at the other line breaks Python's str knows): both are kept exact so that the streamed
# and the whole-file parse agree on every note's line.
_NOTE_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*note[ \t]*\]\][ \t]*(#.*)?\r?$")
_NOTE_HEADER_BYTES = re.compile(_NOTE_HEADER.pattern.encode())
_TOML_POS = re.compile(r"\(at line (\d+), column \d+\)")


def parse(path: Path, options: ParseOptions | None = None) -> list[ParsedDeck]:
    """The registry's entry point: the one deck of a TOML file."""
    return [parse_deck(path, stream=options.stream if options else False)]


def parse_deck(path: Path, *, stream: bool = False) -> ParsedDeck:
    """The deck in `path`.

    With `stream`, the notes of a big file are not read yet: `deck.batches()` parses them a
    thousand at a time while the importer writes them, so a 100,000-note file never exists
    in memory whole. Errors then come from `batches()`: a file is rejected exactly when the
    whole-file parse rejects it, but with the first error in file order (a bad note before
    a TOML syntax error is reported first), where the whole-file parse reports syntax first.
    """
    where = str(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DeckFormatError(f"cannot read file: {exc.strerror}", path=where) from exc
    if size > MAX_FILE_BYTES:
        raise DeckFormatError(
            f"file is {size // 1_048_576} MB; the limit is {MAX_FILE_BYTES // 1_048_576} MB",
            path=where,
        )
    if size > CHUNKED_FROM_BYTES:
        deck = _streamed_deck(path, where)
        if deck is not None:
            if not stream:
                deck.notes = [note for batch in deck.batches() for note in batch]
                deck.stream = None
            return deck
    return _parse_whole(path, where)


def _parse_whole(path: Path, where: str) -> ParsedDeck:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DeckFormatError(f"cannot read file: {exc.strerror}", path=where) from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DeckFormatError("not valid UTF-8 text", path=where, line=line) from None
    try:
        doc = tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_POS.search(message)
        at = int(match.group(1)) if match else None
        message = _TOML_POS.sub("", message).strip()
        raise DeckFormatError(f"invalid TOML: {message}", path=where, line=at) from None
    except RecursionError:
        raise DeckFormatError("invalid TOML: nested too deeply", path=where) from None
    return _build(doc, text, where)


# A deck file is a [deck] table and a long run of [[note]] tables. A big one is parsed a
# thousand notes at a time, split at the [[note]] lines, so the parsed document never
# exists whole. A split is exact when both sides parse: a [[note]] line inside a multi-line
# string leaves that string open at the end of a chunk, which TOML rejects. Anything the
# splitting cannot vouch for (a TOML error, such a string, tables in an unusual order)
# falls back to parsing the whole file, which gives the exact error or the exact notes;
# the notes given out before the fallback are the same either way.
CHUNKED_FROM_BYTES = 1_000_000
NOTES_PER_CHUNK = 1000


def _streamed_deck(path: Path, where: str) -> ParsedDeck | None:
    """The [deck] table of a big file, its notes left to `batches()`; None to fall back to
    parsing the whole file."""
    header: list[str] = []
    try:
        with path.open("rb") as f:
            for lineno, raw_line in enumerate(f, start=1):
                line = raw_line.decode("utf-8-sig" if lineno == 1 else "utf-8")
                if _NOTE_HEADER.match(line):
                    break
                header.append(line)
            else:
                return None
            # For a progress bar only (a [[note]] written with spaces is not counted), and
            # a block at a time: the file is never in memory whole.
            expected = 1
            tail = b""
            while block := f.read(1 << 20):
                expected += (tail + block).count(b"\n[[note]]")
                tail = block[-8:]  # a header cut by the block boundary, counted once
    except (OSError, UnicodeDecodeError):
        return None
    text = "".join(header)
    try:
        doc = tomli.loads(text)
    except (tomli.TOMLDecodeError, RecursionError):
        return None
    if set(doc) != {"deck"}:
        return None
    deck = _deck_table(doc, text, where)
    first = len(header) + 1
    deck.stream = lambda: _note_batches(path, where, first)
    deck.expected = expected
    return deck


def _note_batches(path: Path, where: str, first: int) -> Iterator[list[ParsedNote]]:
    """The notes from line `first` on, a chunk at a time."""
    seen: dict[str, int | None] = {}
    chunk: list[bytes] = []
    starts: list[int] = []  # the line of each [[note]] header in the current chunk
    given = 0  # notes yielded so far
    last: str | None = None  # the id of the last of them

    def parsed() -> list[ParsedNote] | None:
        try:
            doc = tomli.loads(b"".join(chunk).decode("utf-8"))
        except (tomli.TOMLDecodeError, RecursionError, UnicodeDecodeError):
            return None
        notes = doc.get("note")
        if set(doc) != {"note"} or not isinstance(notes, list) or len(notes) != len(starts):
            return None
        batch = [
            _checked_note(raw, where, line, given + i, seen)
            for i, (raw, line) in enumerate(zip(notes, starts, strict=True), start=1)
        ]
        chunk.clear()
        starts.clear()
        return batch

    try:
        with path.open("rb") as f:
            for lineno, raw_line in enumerate(f, start=1):
                if lineno < first:
                    continue
                # Bytes, decoded a chunk at a time: most lines cannot be a header.
                if b"[[" in raw_line and _NOTE_HEADER_BYTES.match(raw_line):
                    if len(starts) >= NOTES_PER_CHUNK:
                        batch = parsed()
                        if batch is None:
                            break
                        yield batch
                        given += len(batch)
                        last = batch[-1].guid
                    starts.append(lineno)
                chunk.append(raw_line)
            else:
                batch = parsed() if chunk else []
                if batch is not None:
                    if batch:
                        yield batch
                    return
    except OSError:
        pass
    yield from _rest_of_whole(path, where, given, last)


def _rest_of_whole(
    path: Path, where: str, given: int, last: str | None
) -> Iterator[list[ParsedNote]]:
    """The notes after the first `given`, from parsing the whole file (or its exact error)."""
    notes = _parse_whole(path, where).notes
    if len(notes) < given or (given and notes[given - 1].guid != last):
        raise DeckFormatError("the file changed while it was being imported", path=where)
    for start in range(given, len(notes), NOTES_PER_CHUNK):
        yield notes[start : start + NOTES_PER_CHUNK]


def _build(doc: dict[str, Any], text: str, where: str) -> ParsedDeck:
    unknown = set(doc) - {"deck", "note"}
    if unknown:
        key = sorted(unknown)[0]
        raise DeckFormatError(
            f"unknown top-level key {key!r} (expected [deck] and [[note]] tables)",
            path=where,
            line=_line_of_key(text, key),
        )
    parsed = _deck_table(doc, text, where)
    raw_notes = doc.get("note", [])
    if not isinstance(raw_notes, list):
        raise DeckFormatError("'note' must be an array of tables: [[note]]", path=where)
    lines = _note_lines(text)
    seen: dict[str, int | None] = {}
    for index, raw in enumerate(raw_notes):
        line = lines[index] if index < len(lines) else None
        parsed.notes.append(_checked_note(raw, where, line, index + 1, seen))
    return parsed


def _checked_note(
    raw: Any, where: str, line: int | None, number: int, seen: dict[str, int | None]
) -> ParsedNote:
    note = _note(raw, where, line, number)
    if note.guid in seen:
        first = seen[note.guid]
        at = f" (first at line {first})" if first else ""
        raise DeckFormatError(f"duplicate note id {note.guid!r}{at}", path=where, line=line)
    seen[note.guid] = line
    return note


def _deck_table(doc: dict[str, Any], text: str, where: str) -> ParsedDeck:
    deck = doc.get("deck")
    if not isinstance(deck, dict):
        raise DeckFormatError("missing [deck] table with a name", path=where)
    name = deck.get("name")
    if not isinstance(name, str) or not name.strip():
        raise DeckFormatError(
            "[deck] needs a non-empty name", path=where, line=_line_of_key(text, "deck")
        )
    extra = set(deck) - {"name", "description"}
    if extra:
        raise DeckFormatError(
            f"unknown key {sorted(extra)[0]!r} in [deck]",
            path=where,
            line=_line_of_key(text, "deck"),
        )
    description = deck.get("description", "")
    if not isinstance(description, str):
        raise DeckFormatError("[deck] description must be a string", path=where)
    return ParsedDeck(path=where, name=name.strip(), description=description.strip())


def _note(raw: Any, where: str, line: int | None, number: int) -> ParsedNote:
    def fail(message: str) -> DeckFormatError:
        return DeckFormatError(f"note {number}: {message}", path=where, line=line)

    if not isinstance(raw, dict):
        raise fail("must be a table")
    guid = raw.get("id")
    if not isinstance(guid, str) or not GUID.match(guid):
        raise fail(
            "needs an id: letters, digits, '.', '_', ':' or '-', starting with a letter or digit"
            f" (got {guid!r})"
        )
    kind_name = raw.get("kind", QA.name)
    kind = KINDS.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        raise fail(f"unknown kind {kind_name!r} (known: {', '.join(KINDS)})")
    allowed = {"id", "kind", "tags", "section", "lint_ignore", *kind.fields}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise fail(
            f"unknown field {unknown[0]!r} for kind {kind.name!r} "
            f"(fields: {', '.join(kind.fields)})"
        )
    fields: dict[str, str] = {}
    for key in kind.fields:
        value = raw.get(key)
        if value is None:
            if key in kind.required:
                raise fail(
                    f"missing field {key!r} (kind {kind.name!r} needs {', '.join(kind.required)})"
                )
            continue
        if not isinstance(value, str):
            raise fail(f"field {key!r} must be a string")
        value = value.strip()
        if not value and key in kind.required:
            raise fail(f"field {key!r} is empty")
        if len(value) > MAX_FIELD_CHARS:
            raise fail(f"field {key!r} is {len(value)} characters; the limit is {MAX_FIELD_CHARS}")
        if value:
            fields[key] = value
    problem = note_problem(kind.name, fields)
    if problem:
        raise fail(problem[1])
    tags = raw.get("tags", [])
    if isinstance(tags, str):
        tags = tags.split()
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise fail("tags must be a list of strings")
    for tag in tags:
        if not TAG.match(tag):
            raise fail(f"invalid tag {tag!r}: {TAG_RULE}")
    section = raw.get("section", "")
    if not isinstance(section, str):
        raise fail("section must be a string")
    ignore = raw.get("lint_ignore", [])
    if isinstance(ignore, str):
        ignore = ignore.split()
    if not isinstance(ignore, list) or not all(isinstance(r, str) for r in ignore):
        raise fail('lint_ignore must be a list of rule names, e.g. ["enumeration"]')
    if problem_ := unknown_rules(ignore):
        raise fail(problem_)
    return ParsedNote(
        guid=guid,
        kind=kind.name,
        fields=fields,
        # Tags and sections repeat across thousands of notes: one string object each.
        tags=tuple(sorted({sys.intern(t) for t in tags})),
        section=sys.intern(section.strip()),
        line=line,
        lint_ignore=tuple(sorted(set(ignore))),
    )


# A [[note]] header as TOML allows it: the key bare or quoted ("note", 'note').
_ANY_NOTE_HEADER = re.compile(
    r"""^[ \t]*\[\[[ \t]*(note|"note"|'note')[ \t]*\]\][ \t]*(#.*)?\r?$"""
)


def _note_lines(text: str) -> list[int]:
    """The line of each [[note]] header, in order: headers written with a quoted key count,
    and a line that only looks like one, inside a multi-line string, does not. One pass
    over the text, following TOML's strings and comments just far enough to know where a
    multi-line string starts and ends."""
    lines = []
    open_quotes: str | None = None  # the delimiter of the multi-line string we are in
    for number, line in enumerate(text.split("\n"), start=1):
        if open_quotes is None and _ANY_NOTE_HEADER.match(line):
            lines.append(number)
        open_quotes = _string_state(line, open_quotes)
    return lines


def _string_state(line: str, open_quotes: str | None) -> str | None:
    """Whether a multi-line string is still open after `line` (its delimiter, or None)."""
    i, end = 0, len(line)
    while i < end:
        c = line[i]
        if open_quotes is not None:
            if c == "\\" and open_quotes == '"""':
                i += 2
            elif line.startswith(open_quotes, i):
                # A closing delimiter may carry up to two quotes of content before it.
                i += 3
                for _ in range(2):
                    if i < end and line[i] == open_quotes[0]:
                        i += 1
                open_quotes = None
            else:
                i += 1
        elif c == "#":
            break
        elif line.startswith('"""', i) or line.startswith("'''", i):
            open_quotes, i = line[i : i + 3], i + 3
        elif c == '"':
            i += 1
            while i < end and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
            i += 1
        elif c == "'":
            close = line.find("'", i + 1)
            i = end if close < 0 else close + 1
        else:
            i += 1
    return open_quotes


def _line_of_key(text: str, key: str) -> int | None:
    pattern = re.compile(rf"^\s*(\[\s*{re.escape(key)}\s*\]|{re.escape(key)}\s*=)")
    for i, line in enumerate(text.split("\n"), start=1):
        if pattern.match(line):
            return i
    return None


# -- writing -------------------------------------------------------------------------------


def write(conn: Connection, options: ExportOptions, out: BinaryIO) -> None:
    """One deck as a TOML deck file, written note by note: what `pmcards import` reads back.

    Each note is its own `[[note]]` table, as tomli_w writes an array of tables, so the
    file is the same as dumping the whole deck at once, without holding it."""
    import tomli_w

    from pmcards.formats._export import one_deck

    deck, notes = one_deck(conn, options, "a TOML deck file")
    head: dict[str, Any] = {"name": deck.name}
    if deck.description:
        head["description"] = deck.description
    out.write(tomli_w.dumps({"deck": head}, multiline_strings=True).encode("utf-8"))
    for note in notes:
        table = tomli_w.dumps(note_table(note), multiline_strings=True)
        out.write(f"\n[[note]]\n{table}".encode())


def note_table(note: Note) -> dict[str, Any]:
    """A note as its TOML table in a deck file."""
    entry: dict[str, Any] = {"id": note.guid, "kind": note.kind}
    if note.section:
        entry["section"] = note.section
    entry["tags"] = list(note.user_tags)
    if note.lint_ignore:
        entry["lint_ignore"] = list(note.lint_ignore)
    entry.update(note.fields)
    return entry


def note_from_table(raw: Any, where: str, line: int | None = None) -> ParsedNote:
    """One note from a TOML table, as in a deck file: checked, or a DeckFormatError saying
    what is wrong."""
    return _note(raw, where, line, 1)
