"""The Markdown deck format: a light syntax for decks written in any editor (see docs/formats.md).

    # Deck name
    An optional description.

    ## A section

    Q: What do you agree on first?
    A: The success metric.
    Why: Measurement before mechanism.
    Tags: metrics framing
    <!-- id: mine-001 -->

A note starts at its first label (`Q:`, `Not:`, `Situation:` or `Cloze:`); its other labels
follow on lines of their own; text on the lines after a label belongs to that field. A line
that would read as a label, heading or id is escaped with a leading backslash.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from pmcards.errors import DeckFormatError
from pmcards.formats import GUID, MAX_FIELD_CHARS, MAX_FILE_BYTES, TAG, TAG_RULE
from pmcards.formats.options import ParseOptions
from pmcards.formats.parsed import ParsedDeck, ParsedNote, read_text, text_lines
from pmcards.kinds import KINDS, QA_REVERSED, note_problem
from pmcards.lint import unknown_rules

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from pmcards.formats.options import ExportOptions
    from pmcards.rows import Note

# Every label comes from the kinds: a field is written "Label: text", and a note of a kind
# starts with its first field's label. A variant (qa_reversed) is its base kind plus a flag.
WRITTEN = {field: label for kind in KINDS.values() for field, label in kind.labels.items()}
# label (lower case) -> field name
FIELD_LABELS = {label.lower(): field for field, label in WRITTEN.items()}
STARTS = {
    kind.labels[kind.fields[0]].lower(): kind.name
    for kind in KINDS.values()
    if kind.variant_of is None
}
_starts = [f"{WRITTEN[KINDS[kind].fields[0]]}:" for kind in STARTS.values()]
_STARTERS = ", ".join(_starts[:-1]) + f" or {_starts[-1]}"
# The flag that turns a note into its kind's variant ("Reverse: yes" makes a qa_reversed).
VARIANT_FLAG = "reverse"
# The `pmcards lint` rules a note silences: "Lint-ignore: enumeration".
LINT_IGNORE = "lint-ignore"
META_LABELS = ("tags", VARIANT_FLAG, LINT_IGNORE)
_LABEL = re.compile(r"^([A-Za-z][A-Za-z-]*):(?:[ \t]+(.*)|[ \t]*)$")


# Headings and id comments are read by slicing, not by patterns: a lazy group before
# optional trailing space backtracks, and one long line took time in the square of its
# length (issue 16). Every check here is linear in the line.
def _heading(line: str) -> tuple[int, str] | None:
    """(level, title) of a `#`..`######` heading line, else None."""
    level = len(line) - len(line.lstrip("#"))
    if not 1 <= level <= 6:
        return None
    rest = line[level:]
    if rest and rest[0] not in " \t":
        return None
    return level, rest.strip(" \t")


def _id_comment(line: str) -> str | None:
    """The id of an `<!-- id: ... -->` line, else None."""
    body = line.rstrip()
    if not (body.startswith("<!--") and body.endswith("-->")) or len(body) < 7:
        return None
    inner = body[4:-3].strip()
    if inner[:3].lower() != "id:":
        return None
    return inner[3:].strip()


def is_special(line: str) -> bool:
    """Whether a line would be read as a label, heading or id (the exporter escapes these)."""
    if line.startswith("\\") or _heading(line) or _id_comment(line) is not None:
        return True
    match = _LABEL.match(line)
    return match is not None and match.group(1).lower() in (*FIELD_LABELS, *META_LABELS)


@dataclass
class _Draft:
    kind: str
    line: int
    section: str
    fields: dict[str, list[str]] = field(default_factory=dict)
    field_lines: dict[str, int] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    lint_ignore: list[str] = field(default_factory=list)
    guid: str | None = None
    reverse: bool = False
    last_line: int = 0


def parse(path: Path, options: ParseOptions | None = None) -> list[ParsedDeck]:
    """The registry's entry point: the one deck of a Markdown file."""
    if options is not None and options.stream:
        try:
            big = path.stat().st_size > STREAM_FROM_BYTES
        except OSError:
            big = False  # read_text says what is wrong
        if big:
            return [_streamed(path)]
    return [parse_deck(path)]


def parse_deck(path: Path) -> ParsedDeck:
    deck, _ = _parse(path)
    return deck


# A file this big is read as it is imported (when the caller streams: `pmcards import`), a
# thousand notes at a time. Its errors then come in file order (a bad note before a stray
# line further on is the one reported), where the whole-file parse reports the lines' errors
# before the notes'; either way the file is refused, and an import of it adds nothing.
STREAM_FROM_BYTES = 1_000_000
NOTES_PER_BATCH = 1000


class _State:
    """What a pass over a file has read besides its notes: the deck's name, its description."""

    def __init__(self) -> None:
        self.name: str | None = None
        self.description: list[str] = []


def _parse(path: Path) -> tuple[ParsedDeck, list[_Draft]]:
    where = str(path)
    text = read_text(path, MAX_FILE_BYTES)

    def fail(message: str, line: int | None) -> DeckFormatError:
        return DeckFormatError(message, path=where, line=line)

    state = _State()
    drafts = [d for d in _drafts(iter(text.split("\n")), state, fail) if d is not None]
    parsed = _deck(path, state)
    seen: dict[str, int] = {}
    for draft in drafts:
        parsed.notes.append(_finish_once(draft, parsed.name, fail, seen))
    return parsed, drafts


def _deck(path: Path, state: _State) -> ParsedDeck:
    return ParsedDeck(
        path=str(path),
        name=state.name if state.name is not None else path.stem,
        description="\n".join(state.description).strip(),
        named=state.name is not None,
    )


def _finish_once(
    draft: _Draft,
    deck_name: str,
    fail: Callable[[str, int | None], DeckFormatError],
    seen: dict[str, int],
) -> ParsedNote:
    note_out = _finish(draft, deck_name, fail)
    if note_out.guid in seen:
        hint = "" if draft.guid else ": give one of them an id with <!-- id: ... -->"
        raise fail(
            f"duplicate note id {note_out.guid!r} (first at line {seen[note_out.guid]}){hint}",
            draft.line,
        )
    seen[note_out.guid] = draft.line
    return note_out


def _streamed(path: Path) -> ParsedDeck:
    """The deck of a big file: its name and description read now, its notes by `batches()`
    as they are imported."""
    where = str(path)

    def fail(message: str, line: int | None) -> DeckFormatError:
        return DeckFormatError(message, path=where, line=line)

    def lines() -> Iterator[str]:
        return (
            line[:-1] if line.endswith("\n") else line for line in text_lines(path, MAX_FILE_BYTES)
        )

    state = _State()
    for draft in _drafts(lines(), state, fail):
        if draft is None:
            break  # the first note: the deck's name and description are known
    deck = _deck(path, state)
    starts = [
        f"\n{label}:".encode() for label in (WRITTEN[KINDS[k].fields[0]] for k in STARTS.values())
    ]
    with path.open("rb") as handle:
        deck.expected = sum(
            block.count(start)
            for block in iter(lambda: handle.read(1 << 20), b"")
            for start in starts
        )

    def batches() -> Iterator[list[ParsedNote]]:
        seen: dict[str, int] = {}
        batch: list[ParsedNote] = []
        for draft in _drafts(lines(), _State(), fail):
            if draft is None:
                continue
            batch.append(_finish_once(draft, deck.name, fail, seen))
            if len(batch) == NOTES_PER_BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    deck.stream = batches
    return deck


def _drafts(
    lines: Iterator[str], state: _State, fail: Callable[[str, int | None], DeckFormatError]
) -> Iterator[_Draft | None]:
    """The notes of a file's lines as drafts, each given out once it is complete (the next
    note or heading starts, or the file ends); None once, when the first note starts."""
    section = ""
    note: _Draft | None = None
    current: str | None = None  # the field that continuation lines go to
    seen_section = False
    started = False

    for number, line in enumerate(lines, start=1):
        heading = _heading(line)
        guid = _id_comment(line)
        label = _LABEL.match(line)
        label_name = label.group(1).lower() if label else ""
        if heading:
            level, title = heading
            if note is not None:
                yield note
            note, current = None, None
            if level == 1:
                if state.name is not None:
                    raise fail(
                        "a second '# ' deck heading: a file holds one deck "
                        "(use '## ' for sections)",
                        number,
                    )
                if started or seen_section:
                    raise fail("the '# ' deck heading must come before the notes", number)
                if not title:
                    raise fail("the '# ' deck heading needs a deck name", number)
                state.name = title
            else:
                section, seen_section = title, True
        elif guid is not None:
            if note is None:
                raise fail("id comment outside a note: put it under the note's lines", number)
            if note.guid is not None:
                raise fail(f"note at line {note.line} has a second id", number)
            if not GUID.match(guid):
                raise fail(
                    f"invalid note id {guid!r}: letters, digits, '.', '_', ':' or '-', "
                    "starting with a letter or digit",
                    number,
                )
            note.guid, note.last_line, current = guid, number, None
        elif label and label_name in STARTS:
            if note is not None:
                yield note  # done: the next note starts
            elif not started:
                yield None  # the deck's name and description are known
            started = True
            note = _Draft(kind=STARTS[label_name], line=number, section=section)
            current = FIELD_LABELS[label_name]
            note.fields[current] = [label.group(2) or ""]
            note.field_lines[current] = number
            note.last_line = number
        elif label and label_name in (*FIELD_LABELS, *META_LABELS):
            written = label.group(1)
            if note is None:
                raise fail(
                    f"'{written}:' outside a note: start a note with {_STARTERS}",
                    number,
                )
            value = (label.group(2) or "").strip()
            note.last_line = number
            if label_name == "tags":
                note.tags.extend(t for t in re.split(r"[\s,]+", value) if t)
                current = None
                continue
            if label_name == LINT_IGNORE:
                rules = [r for r in re.split(r"[\s,]+", value) if r]
                if problem := unknown_rules(rules):
                    raise fail(problem, number)
                note.lint_ignore.extend(rules)
                current = None
                continue
            if label_name == VARIANT_FLAG:
                if note.kind != QA_REVERSED.variant_of or value.lower() not in ("yes", "no"):
                    raise fail("'Reverse:' takes yes or no, in a Q:/A: note", number)
                note.reverse = value.lower() == "yes"
                current = None
                continue
            name_of_field = FIELD_LABELS[label_name]
            kind = KINDS[note.kind]
            if name_of_field not in kind.fields:
                first = WRITTEN[kind.fields[0]]
                raise fail(
                    f"'{written}:' does not belong in a {first}: note (started at line "
                    f"{note.line}); escape a line of text that starts like a label with '\\'",
                    number,
                )
            if name_of_field in note.fields:
                raise fail(
                    f"a second '{written}:' in the note that starts at line {note.line}", number
                )
            note.fields[name_of_field] = [label.group(2) or ""]
            note.field_lines[name_of_field] = number
            current = name_of_field
        else:
            body = line[1:] if line.startswith("\\") else line
            if note is not None and current is not None:
                note.fields[current].append(body)
                if line.strip():
                    note.last_line = number
            elif not line.strip():
                continue
            elif note is None and not seen_section:
                state.description.append(body)
            else:
                raise fail(
                    f"text outside a note: start a note with {_STARTERS} "
                    "(or escape the line with '\\' to continue the field above)",
                    number,
                )

    if note is not None:
        yield note
    elif not started:
        yield None


def _finish(
    draft: _Draft, deck: str, fail: Callable[[str, int | None], DeckFormatError]
) -> ParsedNote:
    kind = KINDS[draft.kind]
    fields: dict[str, str] = {}
    for key in kind.fields:
        value = "\n".join(draft.fields.get(key, [])).strip()
        if key in kind.required and not value:
            needed = ", ".join(f"{WRITTEN[k]}:" for k in kind.required)
            what = "missing" if key not in draft.fields else "empty"
            raise fail(
                f"note at line {draft.line}: {what} '{WRITTEN[key]}:' (this note needs {needed})",
                draft.field_lines.get(key, draft.line),
            )
        if len(value) > MAX_FIELD_CHARS:
            raise fail(
                f"'{WRITTEN[key]}:' is {len(value)} characters; the limit is {MAX_FIELD_CHARS}",
                draft.field_lines.get(key, draft.line),
            )
        if value:
            fields[key] = value
    problem = note_problem(draft.kind, fields)
    if problem:
        raise fail(problem[1], draft.field_lines[problem[0]])
    for tag in draft.tags:
        if not TAG.match(tag):
            raise fail(f"invalid tag {tag!r}: {TAG_RULE}", draft.line)
    kind_name = QA_REVERSED.name if draft.reverse else draft.kind
    guid = draft.guid or generated_id(deck, draft.kind, fields[kind.fields[0]])
    return ParsedNote(
        guid=guid,
        kind=kind_name,
        fields=fields,
        tags=tuple(sorted(set(draft.tags))),
        section=draft.section,
        line=draft.line,
        lint_ignore=tuple(sorted(set(draft.lint_ignore))),
    )


def generated_id(deck: str, kind: str, first_field: str) -> str:
    """The id of a note written without one: from its deck and first field (its question).

    Editing the answer keeps it; editing the question makes a new note. `pmcards import
    --write-ids` writes ids into the file so that later edits of any field keep the history.
    """
    digest = hashlib.sha256(f"{deck}\x1f{kind}\x1f{first_field}".encode()).hexdigest()
    return f"md-{digest[:12]}"


def write_ids(path: Path) -> int:
    """Write an `<!-- id: ... -->` line under every note of `path` that has none.

    Returns how many were written. The file is replaced atomically (`files`).
    """
    deck, drafts = _parse(path)
    pairs = zip(drafts, deck.notes, strict=True)
    missing = [(draft, note) for draft, note in pairs if not draft.guid]
    if not missing:
        return 0
    raw = path.read_bytes()
    newline = "\r\n" if b"\r\n" in raw else "\r" if b"\r" in raw and b"\n" not in raw else "\n"
    bom = "\ufeff" if raw.startswith(b"\xef\xbb\xbf") else ""
    lines = read_text(path, MAX_FILE_BYTES).split("\n")
    for draft, note in reversed(missing):
        lines.insert(draft.last_line, f"<!-- id: {note.guid} -->")
    from pmcards.files import write_atomically

    # Through a link to its target, with the file's permissions and byte-order mark kept.
    write_atomically(path, (bom + newline.join(lines)).encode("utf-8"))
    return len(missing)


# -- writing -------------------------------------------------------------------------------


def write(conn: Connection, options: ExportOptions, out: BinaryIO) -> None:
    """One deck as a Markdown deck file, written note by note: what `pmcards import` reads
    back."""
    from pmcards.formats._export import one_deck

    deck, notes = one_deck(conn, options, "a Markdown deck file")
    head = [f"# {_one_line(deck.name)}", ""]
    if deck.description:
        lines = deck.description.split("\n")
        head += ["\n".join("\\" + line if is_special(line) else line for line in lines), ""]
    # Blocks joined by newlines, as one "\n".join of the whole file would join them: each
    # block after the first starts with its separator, and the file ends without one.
    out.write("\n".join(head).encode("utf-8"))
    section = ""
    for note in notes:
        block = []
        if note.section != section:
            section = note.section
            block += [f"## {_one_line(section)}".rstrip(), ""]
        block += [_written(note), ""]
        out.write(("\n" + "\n".join(block)).encode("utf-8"))


def _written(note: Note) -> str:
    kind = KINDS[note.kind]
    lines = [
        f"{WRITTEN[key]}: {_escape_lines(note.fields[key])}"
        for key in kind.fields
        if key in note.fields
    ]
    if KINDS[note.kind].variant_of is not None:
        lines.append(f"{VARIANT_FLAG.capitalize()}: yes")
    if note.user_tags:
        lines.append("Tags: " + " ".join(note.user_tags))
    if note.lint_ignore:
        lines.append("Lint-ignore: " + " ".join(note.lint_ignore))
    lines.append(f"<!-- id: {note.guid} -->")
    return "\n".join(lines)


def _escape_lines(text: str) -> str:
    """The first line follows its label; later lines that would read as syntax get a '\\'."""
    first, *rest = text.split("\n")
    return "\n".join([first, *("\\" + line if is_special(line) else line for line in rest)])


def _one_line(text: str) -> str:
    return " ".join(text.split())
