"""Export one deck as a Markdown deck file: the format `pmcards import` reads (see README)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from pmcards.exporters import ExportOptions
from pmcards.exporters.toml_deck import one_deck
from pmcards.formats.markdown import WRITTEN, is_special
from pmcards.kinds import KINDS
from pmcards.models import Note


def export(session: Session, options: ExportOptions) -> bytes:
    deck, notes = one_deck(session, options, "a Markdown deck file")
    out = [f"# {_one_line(deck.name)}", ""]
    if deck.description:
        lines = deck.description.split("\n")
        out += ["\n".join("\\" + line if is_special(line) else line for line in lines), ""]
    section = ""
    for note in notes:
        if note.section != section:
            section = note.section
            out += [f"## {_one_line(section)}".rstrip(), ""]
        out += [_note(note), ""]
    return "\n".join(out).encode("utf-8")


def _note(note: Note) -> str:
    kind = KINDS[note.kind]
    fields = note.fields
    lines = []
    for key in kind.fields:
        if key in fields:
            lines.append(f"{WRITTEN[key]}: {_escape_lines(fields[key])}")
    if note.kind == "qa_reversed":
        lines.append("Reverse: yes")
    tags = [t for t in note.tags if t != "leech"]
    if tags:
        lines.append("Tags: " + " ".join(tags))
    lines.append(f"<!-- id: {note.guid} -->")
    return "\n".join(lines)


def _escape_lines(text: str) -> str:
    """The first line follows its label; later lines that would read as syntax get a '\\'."""
    first, *rest = text.split("\n")
    return "\n".join([first, *("\\" + line if is_special(line) else line for line in rest)])


def _one_line(text: str) -> str:
    return " ".join(text.split())
