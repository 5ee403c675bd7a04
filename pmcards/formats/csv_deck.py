"""CSV and TSV decks: a header row naming the columns, or Anki's "Notes in Plain Text" export.

A header row maps columns to fields (`id`, `deck`, `section`, `kind`, `tags`, then the
fields: `front`, `back`, `why`, `not`, `but`, `situation`, `bad`, `good`, `text`). Anki's own
files start with `#key:value` lines (`#separator:`, `#html:`, `#columns:`, `#notetype column:`,
`#deck column:`, `#tags column:`, `#guid column:` ...); then a row's columns are the note's
fields in its note type's order.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pmcards import markup
from pmcards.errors import DeckFormatError
from pmcards.formats import GUID, MAX_FIELD_CHARS, MAX_FILE_BYTES, TAG
from pmcards.formats._anki import FIELD_ALIASES, Mapping, clean_tag, id_from_guid, map_notetype
from pmcards.formats.options import ParseOptions
from pmcards.formats.parsed import ParsedDeck, ParsedNote, read_text
from pmcards.kinds import KINDS, QA, QA_REVERSED, note_problem
from pmcards.lint import unknown_rules

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from pmcards.formats.options import ExportOptions

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
# Field columns in the order the exporter writes them: every kind's required fields, in
# the kinds' order, then the optional ones.
FIELD_ORDER = tuple(
    dict.fromkeys(
        [f for kind in KINDS.values() for f in kind.required]
        + [f for kind in KINDS.values() for f in kind.optional]
    )
)
_HEADER_LINE = re.compile(r"^#([a-z ]+):(.*)$")


@dataclass
class _Header:
    values: dict[str, str] = field(default_factory=dict)
    lines: int = 0


def parse(path: Path, options: ParseOptions | None = None) -> list[ParsedDeck]:
    """The decks of a CSV or TSV file (the format's name says which separator to expect)."""
    dialect = options.name if options else "csv"
    where = str(path)
    text = read_text(path, MAX_FILE_BYTES)

    def fail(message: str, line: int | None = None) -> DeckFormatError:
        return DeckFormatError(message, path=where, line=line)

    header = _read_header(text, fail)
    sep = "\t" if dialect == "tsv" else ","
    if "separator" in header.values:
        value = header.values["separator"]
        sep = SEPARATORS.get(value.lower(), value)
        if len(sep) != 1:
            raise fail(f"unknown #separator: {value!r}", 1)
    body = text.split("\n", header.lines)[-1] if header.lines else text
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=sep, strict=True)
    rows: list[tuple[int, list[str]]] = []
    last = 0
    try:
        for row in reader:
            start = last + 1 + header.lines
            last = reader.line_num
            if any(cell.strip() for cell in row):
                rows.append((start, row))
    except csv.Error as exc:
        raise fail(f"malformed {dialect.upper()}: {exc}", last + 1 + header.lines) from None
    html = header.values.get("html", "false").lower() == "true"
    anki = bool(header.values)
    default_deck = header.values.get("deck") or path.stem
    builder = _Builder(where, default_deck, "deck" in header.values, html, fail)
    extra_tags = header.values.get("tags", "").split()
    if "columns" in header.values or not anki:
        if "columns" in header.values:
            names = header.values["columns"].split(sep)
        elif rows:
            _, names = rows.pop(0)
        else:
            raise fail("empty file: expected a header row naming the columns")
        columns = _named_columns(names, header, fail)
        for line, row in rows:
            builder.named_row(line, row, columns, extra_tags)
    else:
        positions = {
            key: _column_number(header.values[f"{key} column"], key, fail)
            for key in ("guid", "notetype", "deck", "tags")
            if f"{key} column" in header.values
        }
        for line, row in rows:
            builder.anki_row(line, row, positions, header.values.get("notetype"), extra_tags)
    decks = builder.decks()
    if builder.warnings and decks:
        decks[0].warnings.extend(builder.warnings)
    if not decks:
        decks = [ParsedDeck(path=where, name=default_deck, named=False)]
    return decks


def _read_header(text: str, fail: Callable[..., DeckFormatError]) -> _Header:
    header = _Header()
    for number, line in enumerate(text.split("\n"), start=1):
        match = _HEADER_LINE.match(line)
        if not line.startswith("#"):
            break
        if not match or match.group(1) not in HEADER_KEYS:
            key = line.split(":", 1)[0]
            raise fail(f"unknown header line {key!r} (known: #{', #'.join(HEADER_KEYS)})", number)
        key, value = match.group(1), match.group(2)
        # Column names keep their spacing (a tab separator is whitespace too).
        header.values[key] = value.rstrip("\n") if key == "columns" else value.strip()
        header.lines = number
    return header


def _column_number(value: str, key: str, fail: Callable[..., DeckFormatError]) -> int:
    if not value.isdigit() or int(value) < 1:
        raise fail(f"#{key} column: needs a column number from 1, got {value!r}")
    return int(value) - 1


def _named_columns(
    names: list[str], header: _Header, fail: Callable[..., DeckFormatError]
) -> list[str]:
    columns = []
    for name in names:
        key = name.strip().lower().replace("_", " ")
        column = META_COLUMNS.get(key) or FIELD_ALIASES.get(key)
        if column is None:
            known = ", ".join(
                ["id", "deck", "section", "kind", "tags", "lint_ignore", *FIELD_ORDER]
            )
            raise fail(f"unknown column {name.strip()!r} (known: {known})", header.lines + 1)
        if column in columns:
            raise fail(f"two columns mean {column!r}", header.lines + 1)
        columns.append(column)
    for key in ("guid", "deck", "tags", "notetype"):
        if f"{key} column" in header.values:
            number = _column_number(header.values[f"{key} column"], key, fail)
            if number < len(columns):
                columns[number] = {"guid": "id"}.get(key, key)
    return columns


class _Builder:
    def __init__(
        self,
        where: str,
        default_deck: str,
        default_named: bool,
        html: bool,
        fail: Callable[..., DeckFormatError],
    ) -> None:
        self.where = where
        self.default_deck = default_deck
        self.default_named = default_named
        self.html = html
        self.fail = fail
        self.by_deck: dict[str, ParsedDeck] = {}
        self.seen: dict[str, int] = {}
        self.warnings: list[str] = []
        self.row = 0

    def decks(self) -> list[ParsedDeck]:
        return list(self.by_deck.values())

    def named_row(self, line: int, row: list[str], columns: list[str], tags: list[str]) -> None:
        self.row += 1
        if len(row) > len(columns):
            raise self.fail(
                f"row {self.row} has {len(row)} columns; the header has {len(columns)}", line
            )
        values = dict(zip(columns, row, strict=False))
        fields = {k: v for k, v in values.items() if k in FIELD_ORDER}
        kind = values.get("kind", "").strip()
        notetype = values.get("notetype", "").strip()
        if not kind and notetype:
            mapping = map_notetype(notetype, None, is_cloze=False, templates=1)
            kind = mapping.kind if mapping else ""
        if not kind:
            kind = _infer_kind(fields)
        self._note(line, kind, fields, values, tags)

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
        mapping = map_notetype(type_name, None, is_cloze=False, templates=1)
        assert mapping is not None
        fields, kind = self._map(line, type_name, mapping, rest)
        values = {"id": id_from_guid(meta["guid"]) if meta.get("guid") else ""}
        values["deck"] = meta.get("deck", "")
        values["tags"] = meta.get("tags", "")
        self._note(line, kind, fields, values, tags)

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
                    self.warnings.append(
                        f"{self.where}:{line}: row {self.row}: field {i + 1} of note type "
                        f"{type_name!r} has no place in a pmcards {kind!r} note: not kept"
                    )
            else:
                fields[target] = cell
        return fields, kind

    def _note(
        self,
        line: int,
        kind_name: str,
        raw_fields: dict[str, str],
        values: dict[str, str],
        extra_tags: list[str],
    ) -> None:
        def fail(message: str) -> DeckFormatError:
            return self.fail(f"row {self.row}: {message}", line)

        kind = KINDS.get(kind_name)
        if kind is None:
            raise fail(f"unknown kind {kind_name!r} (known: {', '.join(KINDS)})")
        fields: dict[str, str] = {}
        for key, raw in raw_fields.items():
            value = markup.from_anki_html(raw) if self.html else raw.strip()
            if not value:
                continue
            if key not in kind.fields:
                raise fail(f"column {key!r} has no place in a {kind.name!r} note")
            if len(value) > MAX_FIELD_CHARS:
                raise fail(
                    f"field {key!r} is {len(value)} characters; the limit is {MAX_FIELD_CHARS}"
                )
            fields[key] = value
        for key in kind.required:
            if key not in fields:
                raise fail(
                    f"missing field {key!r} (kind {kind.name!r} needs {', '.join(kind.required)})"
                )
        problem = note_problem(kind.name, fields)
        if problem:
            raise fail(problem[1])
        named = bool(values.get("deck", "").strip()) or self.default_named
        deck = values.get("deck", "").strip() or self.default_deck
        tags = []
        for tag in [*values.get("tags", "").split(), *extra_tags]:
            if not TAG.match(tag):
                cleaned = clean_tag(tag)
                self.warnings.append(
                    f"{self.where}:{line}: row {self.row}: tag {tag!r} imported as {cleaned!r}"
                )
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
        parsed = self.by_deck.get(deck)
        if parsed is None:
            parsed = self.by_deck[deck] = ParsedDeck(path=self.where, name=deck, named=named)
        parsed.notes.append(
            ParsedNote(
                guid=guid,
                kind=kind.name,
                fields=fields,
                tags=tuple(sorted(set(tags))),
                section=values.get("section", "").strip(),
                line=line,
                lint_ignore=tuple(sorted(set(ignore))),
            )
        )


def _infer_kind(fields: dict[str, str]) -> str:
    """The kind of a row without a kind column: the one whose own fields it fills (a kind's
    required fields belong to it alone, but for variants), else Q/A."""
    present = {k for k, v in fields.items() if v.strip()}
    for kind in KINDS.values():
        if kind.variant_of is None and kind is not QA and present & set(kind.required):
            return kind.name
    return QA.name


# -- writing -------------------------------------------------------------------------------


def export(conn: Connection, options: ExportOptions) -> bytes:
    """Notes as CSV or TSV with a header row: the columns `pmcards import` reads back.

    One row per note: id, deck, section, kind, tags, then the fields the exported kinds
    use. Opens in any spreadsheet; fields keep their line breaks (quoted).
    """
    from pmcards.formats._export import deck_names, notes_in_scope

    delimiter = "\t" if options.format == "tsv" else ","
    notes = notes_in_scope(conn, options)
    names = deck_names(conn)
    used = {f for note in notes for f in KINDS[note.kind].fields}
    columns = [f for f in FIELD_ORDER if f in used]
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    # The lint_ignore column only when a note has one: files without stay as they were.
    ignores = any(note.lint_ignore for note in notes)
    meta = ["id", "deck", "section", "kind", "tags", *(["lint_ignore"] if ignores else [])]
    writer.writerow([*meta, *columns])
    for note in notes:
        row = [note.guid, names[note.deck_id], note.section, note.kind, " ".join(note.user_tags)]
        if ignores:
            row.append(" ".join(note.lint_ignore))
        writer.writerow(row + [note.fields.get(c, "") for c in columns])
    return out.getvalue().encode("utf-8")
