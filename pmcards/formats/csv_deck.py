"""CSV and TSV decks: a header row naming the columns, or Anki's header lines.

A header row maps columns to fields (`id`, `deck`, `section`, `kind`, `tags`, then the
fields: `front`, `back`, `why`, `not`, `but`, `situation`, `bad`, `good`, `text`...). Anki's
files start with `#key:value` lines (`#separator:`, `#html:`, `#columns:`, `#notetype column:`,
`#deck column:`, `#tags column:`, `#guid column:` ...); then a row's columns are the note's
fields in its note type's order, or as `#columns:` labels them.

A file with Anki's header lines is read by the rules of an Anki package: a note pmcards
cannot take (an empty required field, no cloze deletion) is skipped and a field over the
limit is cut, each with a warning (one line per kind of problem, with its count), where
pmcards' own files are refused whole; a column label pmcards does not know is a label, its
cells not imported; and a note that Anki moved to another deck follows it.

pmcards writes its CSV and TSV with Anki's header lines, so that Anki's own CSV importer
makes one Anki note per pmcards note (see `export`), and pmcards reads its own columns back.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from pmcards import markup
from pmcards.errors import DeckFormatError, PmcardsError
from pmcards.formats import GUID, MAX_FIELD_CHARS, MAX_FILE_BYTES, TAG
from pmcards.formats._anki import (
    FIELD_ALIASES,
    Mapping,
    Warnings,
    clean_tag,
    cut,
    field_from_anki,
    fields_for_anki,
    guid_from_id,
    id_from_guid,
    map_notetype,
    notetype_mapping,
)
from pmcards.formats.options import ParseOptions
from pmcards.formats.parsed import ParsedDeck, ParsedNote, read_text, text_lines
from pmcards.kinds import CLOZE, KINDS, QA, QA_REVERSED, note_problem
from pmcards.kinds.cloze import cloze_numbers
from pmcards.lint import unknown_rules
from pmcards.media import MediaFile

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from pmcards.formats.options import ExportOptions
    from pmcards.queries import Scope
    from pmcards.rows import Note

SEPARATORS = {
    "comma": ",",
    "semicolon": ";",
    "tab": "\t",
    "space": " ",
    "pipe": "|",
    "colon": ":",
}
HEADER_KEYS = (
    "separator",
    "html",
    "tags",
    "columns",
    "notetype",
    "deck",
    "notetype column",
    "deck column",
    "tags column",
    "guid column",
    "match scope",
    "if matches",
)
META_COLUMNS = {
    "id": "id",
    "guid": "id",
    "note id": "id",
    "deck": "deck",
    "section": "section",
    "kind": "kind",
    "notetype": "notetype",
    "note type": "notetype",
    "type": "notetype",
    "tags": "tags",
    "lint ignore": "lint_ignore",
}
# The columns pmcards writes for Anki's side of a note ("Anki field 1", ...): read by Anki,
# skipped by pmcards, which reads its own columns.
ANKI_FIELD_LABEL = "Anki field"
_SKIPPED = ""
# Field columns in the order the exporter writes them: every kind's required fields, in
# the kinds' order, then the optional ones.
FIELD_ORDER = tuple(
    dict.fromkeys(
        [f for kind in KINDS.values() for f in kind.required]
        + [f for kind in KINDS.values() for f in kind.optional]
    )
)
_HEADER_LINE = re.compile(r"^#([A-Za-z ]+):(.*)$")
# A cell a spreadsheet would run as a formula (or whose guard is itself text): the export
# writes pmcards' own columns after one more apostrophe, as spreadsheets' own "this is text"
# mark, and the import of pmcards' own CSV takes exactly one off again. Anki's field
# columns are HTML, where the first character is written as an entity instead (Anki and
# pmcards read `&#61;` as `=`, so nothing changes for them).
_FORMULA = re.compile(r"^'*[=+\-@\t\r]")
_FORMULA_START = frozenset("=+-@\t\r")
# An Anki GUID as Anki makes them (ten characters of its base-91 alphabet, no quote, space
# or pipe): sent to Anki as it is even when it starts like a formula (4% of Anki's do),
# since Anki matches notes by it; at ten such characters it cannot be a harmful formula.
_ANKI_GUID = re.compile(r"^[A-Za-z0-9!#$%&()*+,\-./:;<=>?@\[\]^_`{}~]{1,10}$")


def neutralise(cell: str) -> str:
    """A cell no spreadsheet runs as a formula (`=1+1` is written `'=1+1`)."""
    return "'" + cell if _FORMULA.match(cell) else cell


def neutralise_html(cell: str) -> str:
    """An HTML cell no spreadsheet runs as a formula, its text unchanged as HTML."""
    return f"&#{ord(cell[0])};{cell[1:]}" if cell[:1] in _FORMULA_START else cell


def restore(cell: str) -> str:
    """A cell of pmcards' own CSV as it was before `neutralise`."""
    return cell[1:] if cell.startswith("'") and _FORMULA.match(cell[1:]) else cell


@dataclass
class _Header:
    values: dict[str, str] = field(default_factory=dict)
    lines: int = 0
    after: str | None = None  # the first line after the header lines

    def rest(self, lines: Iterator[str]) -> Iterator[str]:
        """The lines after the header."""
        if self.after is not None:
            yield self.after
        yield from lines


# A file this big is read as it is imported (when the caller streams: `pmcards import`),
# a thousand rows at a time, unless its rows name their decks (a deck column: one file,
# several decks, read whole) or it holds inline images (data: URLs become media files,
# which are written before the import's transaction).
STREAM_FROM_BYTES = 1_000_000
ROWS_PER_BATCH = 1000


def parse(path: Path, options: ParseOptions | None = None) -> list[ParsedDeck]:
    """The decks of a CSV or TSV file (the format's name says which separator to expect)."""
    dialect = options.name if options else "csv"
    if options is not None and options.stream:
        try:
            big = path.stat().st_size > STREAM_FROM_BYTES
        except OSError:
            big = False  # read_text says what is wrong
        streamed = _streamed(path, dialect) if big else None
        if streamed is not None:
            return [streamed]
    text = read_text(path, MAX_FILE_BYTES)
    reading = _Reading(path, dialect, io.StringIO(text, newline=""))
    for _ in reading.run():
        pass
    return reading.finish()


def _streamed(path: Path, dialect: str) -> ParsedDeck | None:
    """The one deck of a big file, its notes read by `batches()` as they are imported; None
    when the file must be read whole (see STREAM_FROM_BYTES)."""
    reading = _Reading(path, dialect, text_lines(path, MAX_FILE_BYTES))
    if not reading.one_deck():
        return None
    if reading.html:
        with path.open("rb") as handle:
            tail = b""
            while block := handle.read(1 << 20):
                if b"data:" in (tail + block).lower():
                    return None
                tail = block[-5:]
    deck = ParsedDeck(path=str(path), name=reading.default_deck, named=reading.default_named)
    deck.from_anki = reading.lenient
    with path.open("rb") as handle:
        deck.expected = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))

    def batches() -> Iterator[list[ParsedNote]]:
        # Read anew each time (a file is read twice when the import validates it first).
        again = _Reading(path, dialect, text_lines(path, MAX_FILE_BYTES))
        yield from again.run(ROWS_PER_BATCH)
        deck.warnings[:] = again.warnings.lines()

    deck.stream = batches
    return deck


class _Reading:
    """One pass over a CSV file's lines: its header, then its rows into notes."""

    def __init__(self, path: Path, dialect: str, lines: Iterator[str]) -> None:
        self.path = path
        self.where = where = str(path)
        self.dialect = dialect
        self.lines = lines
        self.header = _read_header(lines, self.fail)
        values = self.header.values
        sep = "\t" if dialect == "tsv" else ","
        if "separator" in values:
            value = values["separator"]
            sep = SEPARATORS.get(value.lower(), value)
            if len(sep) != 1:
                raise self.fail(f"unknown #separator: {value!r}", 1)
        self.sep = sep
        self.reader = csv.reader(self.header.rest(lines), delimiter=sep, strict=True)
        self.last = 0
        self.html = values.get("html", "false").lower() == "true"
        self.anki = bool(values)
        self.default_deck = values.get("deck") or path.stem
        self.default_named = "deck" in values
        self.warnings = Warnings(where)
        self.builder = _Builder(
            where, self.default_deck, self.default_named, self.html, self.fail, self.warnings
        )
        self.columns: list[str] | None = None
        self.first_row: tuple[int, list[str]] | None = None
        self.lenient = False
        if "columns" in values or not self.anki:
            if "columns" in values:
                names = next(csv.reader([values["columns"]], delimiter=sep), [])
            else:
                first = next(self._rows(), None)
                if first is None:
                    raise self.fail("empty file: expected a header row naming the columns")
                names = first[1]
            self.columns = _named_columns(
                names, self.header, self.fail, self.warnings if self.anki else None
            )
            # pmcards' own file (it names each note's kind) is read by pmcards' rules, its
            # columns as pmcards text; a file Anki wrote, by an Anki package's.
            self.own = "kind" in self.columns
            self.lenient = self.anki and not self.own
        else:
            self.lenient = True

    def fail(self, message: str, line: int | None = None) -> DeckFormatError:
        return DeckFormatError(message, path=self.where, line=line)

    def one_deck(self) -> bool:
        """No row can name a deck of its own: every note goes to the default deck."""
        if "deck column" in self.header.values:
            return False
        return self.columns is None or "deck" not in self.columns

    def _rows(self) -> Iterator[tuple[int, list[str]]]:
        lines = self.header.lines
        reader = self.reader
        try:
            for row in reader:
                start = self.last + 1 + lines
                self.last = reader.line_num
                if any(cell.strip() for cell in row):
                    yield start, row
        except csv.Error as exc:
            raise self.fail(
                f"malformed {self.dialect.upper()}: {exc}", self.last + 1 + lines
            ) from None

    def run(self, every: int | None = None) -> Iterator[list[ParsedNote]]:
        """Read the rows into notes; with `every`, give out (and drop) the notes read every
        that many rows."""
        values = self.header.values
        builder = self.builder
        builder.lenient = self.lenient
        extra_tags = values.get("tags", "").split()
        count = 0
        if self.columns is not None:
            columns = self.columns
            own = self.own
            builder.html = self.html and not own
            builder.guid_column = "guid column" in values
            for line, row in self._rows():
                if own:
                    row = [restore(cell) for cell in row]
                builder.named_row(line, row, columns, extra_tags)
                count += 1
                if every and count % every == 0:
                    yield builder.take()
        else:
            positions = {
                key: _column_number(values[f"{key} column"], key, self.fail)
                for key in ("guid", "notetype", "deck", "tags")
                if f"{key} column" in values
            }
            notetype = values.get("notetype")
            for line, row in self._rows():
                builder.anki_row(line, row, positions, notetype, extra_tags)
                count += 1
                if every and count % every == 0:
                    yield builder.take()
        if every:
            last = builder.take()
            if last:
                yield last

    def finish(self) -> list[ParsedDeck]:
        decks = self.builder.decks()
        if not decks:
            decks = [ParsedDeck(path=self.where, name=self.default_deck, named=False)]
        for deck in decks:
            deck.from_anki = self.lenient
        decks[0].warnings.extend(self.warnings.lines())
        decks[0].media = list(self.builder.media.values())
        return decks


def _read_header(lines: Iterator[str], fail: Callable[..., DeckFormatError]) -> _Header:
    """Anki's `#key:value` lines at the top; the line after them is kept in the header."""
    header = _Header()
    for number, line in enumerate(lines, start=1):
        if not line.startswith("#"):
            header.after = line
            break
        line = line.rstrip("\n")
        match = _HEADER_LINE.match(line)
        if not match or match.group(1).lower() not in HEADER_KEYS:
            key = line.split(":", 1)[0]
            raise fail(f"unknown header line {key!r} (known: #{', #'.join(HEADER_KEYS)})", number)
        key, value = match.group(1).lower(), match.group(2)
        # Column names keep their spacing (a tab separator is whitespace too).
        header.values[key] = value if key == "columns" else value.strip()
        header.lines = number
    return header


def _column_number(value: str, key: str, fail: Callable[..., DeckFormatError]) -> int:
    if not value.isdigit() or int(value) < 1:
        raise fail(f"#{key} column: needs a column number from 1, got {value!r}")
    return int(value) - 1


def _named_columns(
    names: list[str],
    header: _Header,
    fail: Callable[..., DeckFormatError],
    warnings: Warnings | None,
) -> list[str]:
    """What each column holds. With Anki's header lines (`warnings` given), a label pmcards
    does not know is only a label, as in Anki: its cells are skipped, with a warning."""
    columns = []
    for name in names:
        key = name.strip().lower().replace("_", " ")
        column = META_COLUMNS.get(key) or FIELD_ALIASES.get(key)
        if key.startswith(ANKI_FIELD_LABEL.lower()):
            column = _SKIPPED
        elif column is None or column in columns:
            if warnings is None:
                if column is None:
                    known = ", ".join(
                        ["id", "deck", "section", "kind", "tags", "lint_ignore", *FIELD_ORDER]
                    )
                    raise fail(
                        f"unknown column {name.strip()!r} (known: {known})", header.lines + 1
                    )
                raise fail(f"two columns mean {column!r}", header.lines + 1)
            why = "pmcards has no place for it" if column is None else f"{column!r} came before"
            warnings.say(f"column {name.strip()!r}: {why}: its cells are not imported")
            column = _SKIPPED
        columns.append(column)
    for key in ("guid", "deck", "tags", "notetype"):
        if f"{key} column" in header.values:
            number = _column_number(header.values[f"{key} column"], key, fail)
            if number < len(columns):
                columns[number] = {"guid": "id"}.get(key, key)
    return columns


class _Skip(Exception):
    """A note of an Anki file that pmcards cannot take: skipped, with a warning."""


class _Builder:
    def __init__(
        self,
        where: str,
        default_deck: str,
        default_named: bool,
        html: bool,
        fail: Callable[..., DeckFormatError],
        warnings: Warnings,
    ) -> None:
        self.where = where
        self.default_deck = default_deck
        self.default_named = default_named
        self.html = html
        self.fail = fail
        self.warnings = warnings
        self.by_deck: dict[str, ParsedDeck] = {}
        self.seen: dict[str, int] = {}
        self.row = 0
        # Anki's rules: skip and cut with a warning, where pmcards' own files are refused.
        self.lenient = False
        self.guid_column = False  # ids are Anki GUIDs (`#guid column:`)
        self.media: dict[str, MediaFile] = {}

    def decks(self) -> list[ParsedDeck]:
        return list(self.by_deck.values())

    def take(self) -> list[ParsedNote]:
        """The notes read since the last take, handed over (a streamed file's one deck)."""
        taken: list[ParsedNote] = []
        for deck in self.by_deck.values():
            taken.extend(deck.notes)
            deck.notes = []
        return taken

    def named_row(self, line: int, row: list[str], columns: list[str], tags: list[str]) -> None:
        self.row += 1
        if len(row) > len(columns):
            raise self.fail(
                f"row {self.row} has {len(row)} columns; the header has {len(columns)}", line
            )
        values = {k: v for k, v in zip(columns, row, strict=False) if k != _SKIPPED}
        if self.guid_column and values.get("id", "").strip():
            values["id"] = id_from_guid(values["id"].strip())
        fields = {k: v for k, v in values.items() if k in FIELD_ORDER}
        kind = values.get("kind", "").strip()
        notetype = values.get("notetype", "").strip()
        if not kind and notetype:
            mapping = map_notetype(notetype, None, is_cloze=False, templates=1)
            kind = mapping.kind if mapping else ""
        if not kind:
            kind = _infer_kind(fields)
        self._note(line, kind, fields, values, tags, notetype)

    def anki_row(
        self,
        line: int,
        row: list[str],
        positions: dict[str, int],
        notetype: str | None,
        tags: list[str],
    ) -> None:
        self.row += 1
        meta = {key: row[i] if i < len(row) else "" for key, i in positions.items()}
        rest = [cell for i, cell in enumerate(row) if i not in positions.values()]
        type_name = meta.get("notetype") or notetype or "Basic"
        # Only the note type's name is known: one in another language, whose first field
        # has cloze deletions, is a cloze ("Lückentext", "Texte à trous").
        is_cloze = bool(rest) and bool(cloze_numbers(rest[0]))
        mapping = map_notetype(type_name, None, is_cloze=is_cloze, templates=1)
        assert mapping is not None
        if mapping.image_occlusion:
            self.warnings.add(
                f"note type {type_name!r}: an image occlusion: pmcards cannot show masks over "
                "an image: not imported",
                f"line {line}",
                unit="row",
            )
            return
        fields, kind = self._map(line, type_name, mapping, rest)
        values = {"id": id_from_guid(meta["guid"]) if meta.get("guid") else ""}
        values["deck"] = meta.get("deck", "")
        values["tags"] = meta.get("tags", "")
        self._note(line, kind, fields, values, tags, type_name)

    def _map(
        self, line: int, type_name: str, mapping: Mapping, cells: list[str]
    ) -> tuple[dict[str, str], str]:
        fields: dict[str, str] = {}
        kind = mapping.kind
        for i, cell in enumerate(cells):
            target = mapping.fields[i] if i < len(mapping.fields) else None
            if i == mapping.optional_reverse:
                if cell.strip():
                    kind = QA_REVERSED.name
            elif target is None:
                if cell.strip():
                    self.warnings.add(
                        f"note type {type_name!r}: field {i + 1} has no place in a pmcards note: "
                        "not kept",
                        f"line {line}",
                        unit="row",
                    )
            elif target in FIELD_ORDER:
                fields[target] = cell
        return fields, kind

    def _note(
        self,
        line: int,
        kind_name: str,
        raw_fields: dict[str, str],
        values: dict[str, str],
        extra_tags: list[str],
        notetype: str = "",
    ) -> None:
        try:
            parsed = self._parse_note(line, kind_name, raw_fields, values, extra_tags, notetype)
        except _Skip:
            return
        parsed_deck = self.by_deck.get(values.get("deck", "").strip() or self.default_deck)
        if parsed_deck is None:
            deck = values.get("deck", "").strip() or self.default_deck
            named = bool(values.get("deck", "").strip()) or self.default_named
            parsed_deck = self.by_deck[deck] = ParsedDeck(path=self.where, name=deck, named=named)
        parsed_deck.notes.append(parsed)

    def _parse_note(
        self,
        line: int,
        kind_name: str,
        raw_fields: dict[str, str],
        values: dict[str, str],
        extra_tags: list[str],
        notetype: str,
    ) -> ParsedNote:
        def fail(message: str) -> DeckFormatError:
            return self.fail(f"row {self.row}: {message}", line)

        what = f"note type {notetype!r}: " if notetype else ""

        def problem(message: str, strict: str | None = None, why: str = "") -> Exception:
            """Anki's rules: skip the note, with a warning; pmcards': refuse the file."""
            if not self.lenient:
                return fail(strict or message)
            self.warnings.add(f"{what}{message}: not imported{why}", f"line {line}", unit="row")
            return _Skip()

        kind = KINDS.get(kind_name)
        if kind is None:
            raise fail(f"unknown kind {kind_name!r} (known: {', '.join(KINDS)})")
        fields: dict[str, str] = {}
        for key, raw in raw_fields.items():
            if self.html:
                value, files, dropped = field_from_anki(raw)
                self.media.update((f.name, f) for f in files)
                for mime in dropped:
                    self.warnings.add(
                        f"{what}an inline {mime} image (a data: URL) is not kept",
                        f"line {line}",
                        unit="row",
                    )
            else:
                value = raw.strip()
            if not value:
                continue
            if key not in kind.fields:
                raise fail(f"column {key!r} has no place in a {kind.name!r} note")
            if len(value) > MAX_FIELD_CHARS:
                if not self.lenient:
                    raise fail(
                        f"field {key!r} is {len(value)} characters; the limit is {MAX_FIELD_CHARS}"
                    )
                self.warnings.add(
                    f"{what}field {key!r} cut to {MAX_FIELD_CHARS:,} characters",
                    f"line {line}",
                    unit="row",
                )
                value = cut(value)
            fields[key] = value
        missing = [key for key in kind.required if key not in fields]
        if missing:
            raise problem(
                f"empty {', '.join(missing)}",
                f"missing field {missing[0]!r} (kind {kind.name!r} needs "
                f"{', '.join(kind.required)})",
                f" (a pmcards {kind.name!r} note needs {', '.join(kind.required)})",
            )
        found = note_problem(kind.name, fields)
        if found:
            raise problem(found[1])
        deck = values.get("deck", "").strip() or self.default_deck
        tags = []
        for tag in [*values.get("tags", "").split(), *extra_tags]:
            if not TAG.match(tag):
                cleaned = clean_tag(tag)
                self.warnings.add(f"tag {tag!r} imported as {cleaned!r}", f"line {line}", "row")
                tag = cleaned
            tags.append(tag)
        guid = values.get("id", "").strip()
        if guid:
            if not GUID.match(guid):
                raise fail(
                    f"invalid id {guid!r}: letters, digits, '.', '_', ':' or '-', "
                    "starting with a letter or digit"
                )
        else:
            first = fields[kind.required[0]]
            digest = hashlib.sha256(f"{deck}\x1f{kind.name}\x1f{first}".encode()).hexdigest()
            guid = f"csv-{digest[:12]}"
        if guid in self.seen:
            raise fail(f"duplicate note id {guid!r} (first at line {self.seen[guid]})")
        ignore = values.get("lint_ignore", "").replace(",", " ").split()
        if problem_ := unknown_rules(ignore):
            raise fail(problem_)
        self.seen[guid] = line
        return ParsedNote(
            guid=guid,
            kind=kind.name,
            fields=fields,
            tags=tuple(sorted(set(tags))),
            section=values.get("section", "").strip(),
            line=line,
            lint_ignore=tuple(sorted(set(ignore))),
        )


# The kinds a row without a kind column may be, each with its required fields, in order.
_OWN_FIELDS = tuple(
    (kind.name, frozenset(kind.required))
    for kind in KINDS.values()
    if kind.variant_of is None and kind is not QA
)


def _infer_kind(fields: dict[str, str]) -> str:
    """The kind of a row without a kind column: the one whose own fields it fills (a kind's
    required fields belong to it alone, but for variants), else Q/A."""
    present = {k for k, v in fields.items() if v.strip()}
    for name, required in _OWN_FIELDS:
        if not required.isdisjoint(present):
            return name
    return QA.name


# -- writing -------------------------------------------------------------------------------

# The stock note type that shows a kind in Anki, by its English name (every Anki has them:
# Anki's CSV importer needs a note type the collection has): Cloze for clozes, Basic with
# its reverse card for a two-way Q/A, Basic for the rest, its front and back made from the
# kind's first card.
STOCK_FOR_KIND = {QA_REVERSED.name: "Basic (and reversed card)", CLOZE.name: "Cloze"}


def write(conn: Connection, options: ExportOptions, out: BinaryIO) -> None:
    """Notes as CSV or TSV that both Anki and pmcards import, one row per note, written a
    thousand notes at a time as they are read.

    Anki's header lines come first (separator, HTML, which columns hold the GUID, note type,
    deck and tags, and a label for each column). Then each row: the note's GUID, its Anki
    note type (the one it came from in Anki, else a stock one), deck and tags, its fields for
    that note type (HTML), then pmcards' own columns: kind, section and the fields as
    pmcards has them. Anki's importer reads the note type's fields and ignores the rest;
    pmcards reads its own columns and ignores Anki's. Every cell is quoted, so a row never
    starts with '#', which Anki would read as a comment. Opens in any spreadsheet.
    Cells a spreadsheet would run as a formula are guarded: pmcards' columns with a leading
    apostrophe (taken off again when pmcards imports the file), Anki's HTML fields with an
    entity for their first character.
    """
    from pmcards import queries
    from pmcards.formats._export import batches, deck_names

    delimiter = "\t" if options.format == "tsv" else ","
    scope = options.scope or queries.Scope()
    columns, ignores, width = _shape(conn, scope)
    names = deck_names(conn)
    labels = [
        "guid",
        "notetype",
        "deck",
        "tags",
        *(f"{ANKI_FIELD_LABEL} {i + 1}" for i in range(width)),
        "kind",
        "section",
        *(["lint_ignore"] if ignores else []),
        *columns,
    ]
    text = io.TextIOWrapper(out, encoding="utf-8", newline="")
    separator = "Tab" if delimiter == "\t" else "Comma"
    text.write(
        f"#separator:{separator}\r\n#html:true\r\n#guid column:1\r\n#notetype column:2\r\n"
        f"#deck column:3\r\n#tags column:4\r\n#columns:{delimiter.join(labels)}\r\n"
    )
    writer = csv.writer(text, delimiter=delimiter, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    for batch in batches(queries.iter_scoped_notes(conn, scope)):
        anki = _anki_notetypes(conn, [n.id for n in batch])
        for note in batch:
            notetype, values = _anki_side(note, anki.get(note.id))
            guid = guid_from_id(note.guid)
            writer.writerow(
                [
                    guid if _ANKI_GUID.match(guid) and "|" not in guid else neutralise(guid),
                    neutralise(notetype),
                    neutralise(names[note.deck_id]),
                    neutralise(" ".join(note.user_tags)),
                    *[neutralise_html(value) for value in values],
                    *[""] * (width - len(values)),
                    note.kind,
                    neutralise(note.section),
                    *([" ".join(note.lint_ignore)] if ignores else []),
                    *[neutralise(note.fields.get(c, "")) for c in columns],
                ]
            )
    text.flush()
    text.detach()  # `out` is the caller's to close


def _shape(conn: Connection, scope: Scope) -> tuple[list[str], bool, int]:
    """What the header needs before the first row, found without holding the notes: the
    pmcards columns the notes use, whether any has a lint_ignore (the column only then, so
    files without stay as they were), and the most Anki fields a row has (a note that came
    from Anki has its note type's; any other two)."""
    from sqlalchemy import func, select

    from pmcards import queries, schema
    from pmcards.formats._export import batches

    N = schema.notes.c
    kinds = set(conn.execute(scope.apply_to_notes(select(N.kind).distinct())).scalars())
    if not kinds:
        raise PmcardsError("no notes to export")
    used = {f for kind in kinds for f in KINDS[kind].fields}
    columns = [f for f in FIELD_ORDER if f in used]
    lint = scope.apply_to_notes(select(N.id).where(func.trim(N.lint_ignore) != "").limit(1))
    ignores = conn.scalar(lint) is not None
    plain = scope.apply_to_notes(select(N.id).where(N.anki_notetype_id.is_(None)).limit(1))
    width = 2 if conn.scalar(plain) is not None else 0
    from_anki = queries.iter_scoped_notes(conn, scope, N.anki_notetype_id.is_not(None))
    for batch in batches(from_anki):
        anki = _anki_notetypes(conn, [n.id for n in batch])
        for note in batch:
            width = max(width, len(_anki_side(note, anki.get(note.id))[1]))
    return columns, ignores, width


def _anki_notetypes(conn: Connection, note_ids: list[int]) -> dict[int, tuple[Any, Any]]:
    """The Anki note type (schema-11 JSON) and Anki note of each note that came from Anki."""
    import json

    from sqlalchemy import select

    from pmcards import schema

    N, T = schema.notes.c, schema.anki_notetypes.c
    out: dict[int, tuple[Any, Any]] = {}
    for start in range(0, len(note_ids), 500):
        query = (
            select(N.id, N.anki_note, T.definition)
            .join(schema.anki_notetypes, T.id == N.anki_notetype_id)
            .where(N.id.in_(note_ids[start : start + 500]))
        )
        for note_id, anki_note, definition in conn.execute(query):
            out[note_id] = (json.loads(definition), json.loads(anki_note or "{}"))
    return out


def _anki_side(note: Note, anki: tuple[Any, Any] | None) -> tuple[str, list[str]]:
    """The note's Anki note type (by name) and its fields for it."""
    if anki is not None:
        definition, original = anki
        mapping = notetype_mapping(definition)
        if mapping is not None and note.kind in mapping.kinds():
            values = fields_for_anki(
                mapping, note.kind, note.fields, note.section, original.get("fields")
            )
            return str(definition.get("name", "")), values
    kind = KINDS[note.kind]
    fields = note.fields
    why = fields.get("why", "")
    extra = f"<div class=why>{markup.to_anki_html(why)}</div>" if why else ""
    if kind.name == CLOZE.name:
        return "Cloze", [markup.to_anki_html(fields["text"]), markup.to_anki_html(why)]
    if kind.name in (QA.name, QA_REVERSED.name):
        front, back = (markup.to_anki_html(fields[f]) for f in ("front", "back"))
        return STOCK_FOR_KIND.get(kind.name, "Basic"), [front, back + extra]
    # Another kind: its first card as Anki shows it (pmcards' own note type's templates).
    _, question, answer = kind.anki.templates[0]
    html = {kind.anki_fields[f]: markup.to_anki_html(v) for f, v in fields.items()}
    back = _render(answer, html).split("<hr id=answer>", 1)[-1]
    return "Basic", [_render(question, html), back]


_MUSTACHE = re.compile(r"\{\{([#^/]?)([^{}]+)\}\}")


def _render(template: str, fields: dict[str, str]) -> str:
    """An Anki card template with the note's fields: `{{Field}}`, and `{{#Field}}...
    {{/Field}}` shown only when the field is not empty (all pmcards' templates use)."""
    out: list[str] = []
    hidden: list[str] = []  # the sections being skipped
    for part in re.split(r"(\{\{[#^/]?[^{}]+\}\})", template):
        match = _MUSTACHE.fullmatch(part)
        if match is None:
            if not hidden:
                out.append(part)
            continue
        kind, name = match.group(1), match.group(2).strip()
        if kind in ("#", "^"):
            show = bool(fields.get(name)) == (kind == "#")
            if hidden or not show:
                hidden.append(name)
        elif kind == "/":
            if hidden and hidden[-1] == name:
                hidden.pop()
        elif not hidden:
            out.append(fields.get(name, "") if name != "FrontSide" else "")
    return "".join(out)
